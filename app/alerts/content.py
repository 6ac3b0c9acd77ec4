"""What an alert message is made of: the runner fills these, ``mail`` and ``webhook``
render them. Plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.store.alerts import AlertRuleInfo


@dataclass(frozen=True, slots=True)
class AlertArticle:
    id: int
    url: str
    title: str
    outlet: str | None
    published_at: datetime
    themes: tuple[str, ...]
    relevant: bool
    relevance_reason: str  # why the tagger (or an editor) kept it
    newsmon_url: str  # the article's page on newsmon


@dataclass(frozen=True, slots=True)
class SpikeInfo:
    window_start: datetime
    window_end: datetime
    count: int  # articles of the view in the window
    baseline: float  # mean count of the same hours over the trailing 28 days
    factor: float  # the rule's factor
    min_count: int


@dataclass(frozen=True, slots=True)
class AlertContent:
    """One delivery: a rule's new matches (one or a batch), a spike, or a test."""

    kind: str  # new | spike | test
    rule: AlertRuleInfo
    articles: tuple[AlertArticle, ...]
    view_url: str  # the saved view's timeline on newsmon
    message_id: str  # Message-ID (e-mail) / Idempotency-Key (webhook), recorded first
    now: datetime
    language: str = "en"  # en | de
    spike: SpikeInfo | None = None
    unsubscribe_url: str | None = None  # signed, one click (e-mail)
    reason: str = ""  # why it matched, in words ("matches the view 'Security DE'")
    extra: dict[str, str] = field(default_factory=dict)
