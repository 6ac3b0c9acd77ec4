"""The alert e-mail's content (first version; the alerts-ui part owns and extends it).

``build_alert_message(content, settings) -> EmailMessage``: multipart text + HTML, in
English or German, with each article's headline, outlet, time, themes, why it matched
and links to the article and to newsmon; a one-click unsubscribe link and the
``List-Unsubscribe`` headers when ``content.unsubscribe_url`` is set. The runner sets
From, To and Message-ID itself after calling this (the Message-ID is recorded before
sending), so this function need not; it may set them, they are overwritten.
"""

from __future__ import annotations

from email.message import EmailMessage
from html import escape

from app.alerts.content import AlertArticle, AlertContent
from app.config import Settings

TEXTS = {
    "en": {
        "new_one": "New in “{view}”: {title}",
        "new_many": "{n} new articles in “{view}”",
        "spike": "Spike in “{view}”: {count} articles in {hours} h (usual {baseline:.1f})",
        "test": "Test alert for “{view}”",
        "themes": "Themes",
        "why": "Why",
        "open_view": "Open the view on newsmon",
        "on_newsmon": "on newsmon",
        "unsubscribe": "Stop these alerts",
        "none": "none",
        "test_body": "This is a test of the alert on the view “{view}”. It works.",
    },
    "de": {
        "new_one": "Neu in „{view}“: {title}",
        "new_many": "{n} neue Artikel in „{view}“",
        "spike": "Anstieg in „{view}“: {count} Artikel in {hours} h (üblich {baseline:.1f})",
        "test": "Testalarm für „{view}“",
        "themes": "Themen",
        "why": "Grund",
        "open_view": "Ansicht in newsmon öffnen",
        "on_newsmon": "in newsmon",
        "unsubscribe": "Diese Alarme abbestellen",
        "none": "keine",
        "test_body": "Dies ist ein Test des Alarms zur Ansicht „{view}“. Er funktioniert.",
    },
}


def subject(content: AlertContent) -> str:
    t = TEXTS.get(content.language, TEXTS["en"])
    view = content.rule.view_name
    if content.kind == "test":
        return t["test"].format(view=view)
    if content.kind == "spike" and content.spike:
        s = content.spike
        return t["spike"].format(
            view=view, count=s.count, hours=content.rule.spike_hours, baseline=s.baseline
        )
    if len(content.articles) == 1:
        return t["new_one"].format(view=view, title=content.articles[0].title)
    return t["new_many"].format(view=view, n=len(content.articles))


def _when(article: AlertArticle) -> str:
    return article.published_at.strftime("%Y-%m-%d %H:%M UTC")


def build_alert_message(content: AlertContent, settings: Settings) -> EmailMessage:
    t = TEXTS.get(content.language, TEXTS["en"])
    msg = EmailMessage()
    msg["Subject"] = subject(content)
    text_lines = [subject(content), ""]
    html_parts = [f"<h1>{escape(subject(content))}</h1>"]
    if content.kind == "test":
        text_lines.append(t["test_body"].format(view=content.rule.view_name))
        html_parts.append(f"<p>{escape(t['test_body'].format(view=content.rule.view_name))}</p>")
    for a in content.articles:
        themes = ", ".join(a.themes) or t["none"]
        meta = " · ".join(x for x in (a.outlet, _when(a)) if x)
        text_lines += [
            f"* {a.title}",
            f"  {meta}",
            f"  {t['themes']}: {themes}",
            f"  {t['why']}: {a.relevance_reason or content.reason}",
            f"  {a.url}",
            f"  {t['on_newsmon']}: {a.newsmon_url}",
            "",
        ]
        html_parts.append(
            "<div>"
            f'<h2><a href="{escape(a.url)}">{escape(a.title)}</a></h2>'
            f"<p>{escape(meta)}</p>"
            f"<p>{escape(t['themes'])}: {escape(themes)}</p>"
            f"<p>{escape(t['why'])}: {escape(a.relevance_reason or content.reason)}</p>"
            f'<p><a href="{escape(a.newsmon_url)}">{escape(t["on_newsmon"])}</a></p>'
            "</div>"
        )
    text_lines.append(f"{t['open_view']}: {content.view_url}")
    html_parts.append(f'<p><a href="{escape(content.view_url)}">{escape(t["open_view"])}</a></p>')
    if content.unsubscribe_url:
        text_lines.append(f"{t['unsubscribe']}: {content.unsubscribe_url}")
        html_parts.append(
            f'<p><a href="{escape(content.unsubscribe_url)}">{escape(t["unsubscribe"])}</a></p>'
        )
        msg["List-Unsubscribe"] = f"<{content.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content("\n".join(text_lines) + "\n")
    html = (
        f'<!doctype html><html lang="{content.language}"><body>'
        + "".join(html_parts)
        + "</body></html>"
    )
    msg.add_alternative(html, subtype="html")
    return msg
