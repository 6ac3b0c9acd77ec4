"""Webhook deliveries: a signed JSON POST through the guarded transport.

The body (``build_payload``)::

    {"event": "new" | "spike" | "test",
     "rule": {"id", "kind", "batch"},
     "view": {"id", "name", "query", "url"},
     "articles": [{"id", "url", "title", "themes", "relevant", "newsmon_url",
                   "outlet", "published_at"}],
     "spike": null | {"window_start", "window_end", "count", "baseline", "factor",
                      "min_count"},
     "text": "…",            # Slack and Teams show this as is
     "idempotency_key": "…", "sent_at": "<RFC 3339>"}

Headers: ``Content-Type: application/json``, ``Idempotency-Key: <key>`` (the same on
every retry of this delivery), and with a secret ``X-Newsmon-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>``.
Addresses are vetted at connect time like every fetch (``app.feeds.guard``): private
and loopback targets only through ``NEWSMON_WEBHOOK_ALLOWLIST`` (or the fetch allowlist).
Redirects are not followed; any 2xx is success.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
from dataclasses import dataclass, replace
from typing import Any

import anyio
import certifi
import httpcore
import httpx

from app.alerts.content import AlertContent
from app.config import Settings
from app.core.errors import BlockedURL
from app.feeds.guard import (
    FetchPolicy,
    GuardedBackend,
    GuardedTransport,
    Resolver,
    fetch_policy,
    system_resolver,
    validate_url,
)

TIMEOUT = 10.0  # seconds for one POST, all included
MAX_ERROR_BODY = 300


def webhook_policy(settings: Settings) -> FetchPolicy:
    """Public addresses, plus the webhook (and fetch) allowlists; never the feeds'
    blanket ``allow_private_networks``: an intranet target must be named."""
    base = fetch_policy(settings)
    return replace(
        base,
        allow_private_networks=False,
        allowlist=(*settings.webhook_allowlist, *settings.fetch_allowlist),
        deadline=TIMEOUT,
        connect_timeout=5.0,
        read_timeout=TIMEOUT,
    )


def sign(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(header: str, body: bytes, secret: str, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (and the tests): parse, check the age, compare in constant time."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - stamp) > tolerance:
        return False
    expected = sign(body, secret, stamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def text_of(content: AlertContent) -> str:
    """The Slack/Teams line(s): what happened, then one line per article."""
    view = content.rule.view_name
    if content.kind == "test":
        head = f"newsmon: test alert for the view “{view}”"
    elif content.kind == "spike" and content.spike:
        s = content.spike
        head = (
            f"newsmon: spike in “{view}”: {s.count} articles in the last "
            f"{content.rule.spike_hours} h (usually {s.baseline:.1f}) <{content.view_url}>"
        )
    else:
        n = len(content.articles)
        head = f"newsmon: {n} new article{'s' if n != 1 else ''} in “{view}”"
    lines = [head]
    for a in content.articles[:20]:
        themes = f" [{', '.join(a.themes)}]" if a.themes else ""
        outlet = f" ({a.outlet})" if a.outlet else ""
        lines.append(f"• <{a.url}|{a.title}>{outlet}{themes}")
    if len(content.articles) > 20:
        lines.append(f"… and {len(content.articles) - 20} more: {content.view_url}")
    return "\n".join(lines)


def build_payload(content: AlertContent) -> dict[str, Any]:
    rule = content.rule
    spike = content.spike
    return {
        "event": content.kind,
        "rule": {"id": rule.id, "kind": rule.kind, "batch": rule.batch},
        "view": {
            "id": rule.view_id,
            "name": rule.view_name,
            "query": rule.view_query,
            "url": content.view_url,
        },
        "articles": [
            {
                "id": a.id,
                "url": a.url,
                "title": a.title,
                "themes": list(a.themes),
                "relevant": a.relevant,
                "newsmon_url": a.newsmon_url,
                "outlet": a.outlet,
                "published_at": a.published_at.isoformat(),
            }
            for a in content.articles
        ],
        "spike": None
        if spike is None
        else {
            "window_start": spike.window_start.isoformat(),
            "window_end": spike.window_end.isoformat(),
            "count": spike.count,
            "baseline": round(spike.baseline, 3),
            "factor": spike.factor,
            "min_count": spike.min_count,
        },
        "text": text_of(content),
        "idempotency_key": content.message_id,
        "sent_at": content.now.isoformat(),
    }


@dataclass(frozen=True, slots=True)
class WebhookResult:
    ok: bool
    status: int | None
    error: str | None = None


class WebhookSender:
    """One pooled client for every webhook of a runner; ``aclose`` when done."""

    def __init__(self, policy: FetchPolicy, *, resolver: Resolver = system_resolver) -> None:
        self.policy = policy
        ssl_context = ssl.create_default_context(cafile=policy.ca_file or certifi.where())
        backend = GuardedBackend(policy, resolver=resolver)

        def origin_pool() -> httpcore.AsyncConnectionPool:
            return httpcore.AsyncConnectionPool(
                ssl_context=ssl_context,
                max_connections=4,
                max_keepalive_connections=4,
                keepalive_expiry=30.0,
                network_backend=backend,
            )

        self._client = httpx.AsyncClient(
            transport=GuardedTransport(origin_pool, max_pools=64),
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(TIMEOUT, connect=policy.connect_timeout),
            headers={"user-agent": policy.user_agent},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self, url: str, body: bytes, *, key: str, secret: str | None, timestamp: int
    ) -> WebhookResult:
        """POST once; every failure is returned, never raised."""
        headers = {"content-type": "application/json", "idempotency-key": key}
        if secret:
            headers["x-newsmon-signature"] = sign(body, secret, timestamp)
        try:
            validate_url(url)
            with anyio.fail_after(TIMEOUT + 1):
                response = await self._client.post(url, content=body, headers=headers)
        except TimeoutError:
            return WebhookResult(False, None, f"no answer within {TIMEOUT:g} s")
        except BlockedURL as exc:
            return WebhookResult(False, None, f"refused: {exc}")
        except (httpx.HTTPError, OSError) as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, BlockedURL):
                return WebhookResult(False, None, f"refused: {cause}")
            return WebhookResult(False, None, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= response.status_code < 300:
            return WebhookResult(True, response.status_code)
        snippet = response.text[:MAX_ERROR_BODY].strip()
        return WebhookResult(
            False,
            response.status_code,
            f"HTTP {response.status_code}" + (f": {snippet}" if snippet else ""),
        )


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
