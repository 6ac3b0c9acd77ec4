"""Alert e-mails: multipart text + HTML in the recipient's language.

``build_alert_message(content, settings)`` makes the message for one delivery of a
rule: new matches (one, or a batch), a spike, or a test. Each article shows its
headline, outlet, time in the recipient's zone (``content.extra["time_zone"]``,
else the rule's, else UTC), themes, why it matched (the tagger's reason with the
article's own words, in the recipient's language) and two links: the article and
its newsmon page. Every message carries a signed one-click unsubscribe link (the
runner's ``content.unsubscribe_url``, else ``app.alerts.unsubscribe``'s, bound to
the rule and the address it went to), also in ``List-Unsubscribe`` and
``List-Unsubscribe-Post`` (RFC 2369, RFC 8058).

The HTML is rendered by Jinja2 with autoescaping: feed text (titles, outlet names,
matched words) is never markup, and a link is only made from an http(s) URL. The
text part says the same, plain. From, To, Message-ID and Date are set here; the
runner may overwrite them (it records the Message-ID before sending).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime as rfc2822_date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from app.alerts import text
from app.alerts.content import AlertArticle, AlertContent
from app.alerts.unsubscribe import unsubscribe_url
from app.config import Settings
from app.core.types import Article

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_ARTICLES = 50  # per message; a larger batch links to the view for the rest


@cache
def environment() -> jinja2.Environment:
    import jinja2  # (here: a poll with nothing to send never loads it)

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # *.html escaped, *.txt (the plain part) not: its text is never read as markup.
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def safe_link(url: str | None) -> str | None:
    """An http(s) URL to link to, else None (no ``javascript:``, ``data:`` …)."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    return url


@dataclass(frozen=True, slots=True)
class ArticleLine:
    """One article as the templates show it (strings already in the recipient's words)."""

    title: str
    url: str | None
    newsmon_url: str
    outlets: str
    when: str
    themes: tuple[str, ...]
    reason: str
    relevant: bool


def article_line(article: AlertArticle, locale: str, tz: ZoneInfo) -> ArticleLine:
    t = text.translate
    return ArticleLine(
        title=" ".join(article.title.split()) or t(locale, "(no headline)"),
        url=safe_link(article.url),
        newsmon_url=article.newsmon_url,
        outlets=" ".join((article.outlet or "").split()) or "—",
        when=text.format_datetime(article.published_at, locale, tz),
        themes=tuple(t(locale, key) for key in article.themes),
        reason=text.localize_reason(article.relevance_reason, locale),
        relevant=article.relevant,
    )


def alert_article(article: Article, base: str) -> AlertArticle:
    """A stored article as the messages show it (the digest uses this too)."""
    return AlertArticle(
        id=article.id,
        url=article.url,
        title=article.title,
        outlet=", ".join(s.name for s in article.sources) or None,
        published_at=article.published_at,
        themes=tuple(th.key for th in article.themes),
        relevant=article.relevant,
        relevance_reason=article.relevance_reason,
        newsmon_url=f"{base.rstrip('/')}/articles/{article.id}",
    )


def subject_of(content: AlertContent, locale: str) -> str:
    t = text.translate
    name = content.rule.view_name
    if content.kind == "test":
        return t(locale, "[newsmon] Test of your alert on “{view}”", view=name)
    if content.kind == "spike" and content.spike is not None:
        return t(
            locale,
            "[newsmon] {view}: {n} articles in {hours} h",
            view=name,
            n=text.format_number(content.spike.count, locale),
            hours=content.rule.spike_hours,
        )
    if len(content.articles) == 1:
        title = " ".join(content.articles[0].title.split())
        return f"[newsmon] {name}: {title}"[:250]
    return t(locale, "[newsmon] {view}: {n} new articles", view=name, n=len(content.articles))


def recipient_zone(content: AlertContent) -> ZoneInfo:
    return text.zone(content.extra.get("time_zone") or content.rule.time_zone)


def build_alert_message(content: AlertContent, settings: Settings) -> EmailMessage:
    """The e-mail for one delivery (see the module's docstring)."""
    locale = text.pick_locale(content.language or content.rule.language)
    tz = recipient_zone(content)
    base = settings.public_base
    rule = content.rule
    # The runner's link when it gives one (the same signed form), else made here.
    unsubscribe = content.unsubscribe_url or unsubscribe_url(
        base, settings.secret_key, "rule", rule.id, rule.target
    )
    lines = [article_line(a, locale, tz) for a in content.articles[:MAX_ARTICLES]]
    spike: dict[str, Any] | None = None
    if content.spike is not None:
        s = content.spike
        spike = {
            "count": text.format_number(s.count, locale),
            "baseline": text.format_number(s.baseline, locale, 1),
            "hours": rule.spike_hours,
            "since": text.format_datetime(s.window_start, locale, tz),
            "until": text.format_datetime(s.window_end, locale, tz),
        }
    subject = subject_of(content, locale)
    context = {
        "_": lambda message, **values: text.translate(locale, message, **values),
        "locale": locale,
        "subject": subject,
        "kind": content.kind,
        "view_name": rule.view_name,
        "view_url": content.view_url or f"{base}/views/{rule.view_id}",
        "settings_url": f"{base}/views/{rule.view_id}#alerts",
        "articles": lines,
        "more": max(0, len(content.articles) - MAX_ARTICLES),
        "spike": spike,
        "unsubscribe_url": unsubscribe,
    }
    env = environment()
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender_of(settings)
    message["To"] = rule.target
    message["Date"] = rfc2822_date(content.now)
    if content.message_id:
        message["Message-ID"] = content.message_id
    message.set_content(env.get_template("alert.txt").render(context))
    message.add_alternative(env.get_template("alert.html").render(context), subtype="html")
    add_common_headers(message, locale, unsubscribe)  # after the body: set_content drops Content-*
    return message


def add_common_headers(
    message: EmailMessage, locale: str, unsubscribe: str, *, auto_submitted: bool = False
) -> None:
    message["Content-Language"] = locale
    if auto_submitted:  # RFC 3834: no auto-replies (the alert runner adds it itself)
        message["Auto-Submitted"] = "auto-generated"
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"


def sender_of(settings: Settings) -> str:
    return str(getattr(settings, "smtp_from", "") or "newsmon <newsmon@localhost>")


__all__ = ["alert_article", "article_line", "build_alert_message", "safe_link"]
