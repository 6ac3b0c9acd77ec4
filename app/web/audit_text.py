"""Audit entries written for people: one English sentence per action (translated by
the template like every other string) and a link to what it touched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.store.audit import AuditEntry

SENTENCES = {
    "login": "logged in",
    "logout": "logged out",
    "login.failed": "failed to log in as {name} from {from}",
    "user.add": "added the user {name} as {role}",
    "user.role": "changed the role of {name} to {role}",
    "user.disable": "disabled the account of {name}",
    "user.enable": "enabled the account of {name}",
    "user.password": "changed a password",
    "user.change": "changed the account {target}",
    "token.create": "created an API token",
    "token.revoke": "revoked an API token",
    "flag.create": "flagged the article as {kind}",
    "flag.resolve": "closed a flag as done",
    "flag.dismiss": "dismissed a flag (not irrelevant after all)",
    "flag.assign": "assigned a flag to {assignee}",
    "flag.delete": "deleted a flag",
    "article.override": "changed the article: {changes}",
    "feed.add": "subscribed to {url}",
    "feed.enable": "enabled a feed again",
    "feed.remove": "removed a feed",
    "feed.import": "imported an OPML file",
    "view.create": "saved the view {name}",
    "view.delete": "deleted the view {name}",
}
GROUPS = ("login", "user", "token", "flag", "article", "feed", "view")
LINKS = {"article": "/articles/{id}", "user": "/users", "feed": "/feeds", "view": "/views"}


@dataclass(frozen=True, slots=True)
class AuditLine:
    entry: AuditEntry
    sentence: str  # English, with {placeholders}
    values: dict[str, str]
    href: str | None


def plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) or "—"
    return str(value)


def describe(entry: AuditEntry) -> AuditLine:
    values = {k: plain(v) for k, v in entry.detail.items()}
    values.setdefault("target", f"{entry.target_type} {entry.target_id}".strip())
    if entry.action == "article.override":
        values["changes"] = _override(entry.detail)
    sentence = SENTENCES.get(entry.action)
    if sentence is None:  # an action without a sentence yet: its name and its details
        sentence = entry.action + (": {details}" if entry.detail else "")
        values["details"] = "; ".join(f"{k} {plain(v)}" for k, v in sorted(entry.detail.items()))
    try:
        sentence.format(**values)
    except (KeyError, IndexError):
        sentence = entry.action
    link = LINKS.get(entry.target_type)
    href = link.format(id=entry.target_id) if link and entry.target_id else None
    return AuditLine(entry, sentence, values, href)


def _override(detail: dict[str, Any]) -> str:
    parts = []
    if detail.get("add"):
        parts.append("themes added " + plain(detail["add"]))
    if detail.get("remove"):
        parts.append("themes removed " + plain(detail["remove"]))
    if detail.get("relevant") is not None:
        parts.append("marked relevant" if detail["relevant"] else "marked not relevant")
    return "; ".join(parts) or "nothing changed"
