"""Real receivers on 127.0.0.1 for the alerts tests: an SMTP server (aiosmtpd) that
parses what it gets, and a webhook server that checks the signature like a customer's
receiver would. Both keep what arrived, in order."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from app.alerts.webhook import verify


def free_port() -> int:
    """A free loopback port (aiosmtpd's controller cannot start on port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage
    at: float


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.owner.lock:
            self.owner.attempts += 1
            if self.owner.refuse:
                return self.owner.refuse.pop(0)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.owner.lock:
            self.owner.messages.append(Received(list(envelope.rcpt_tos), msg, time.time()))
        if self.owner.on_data is not None:
            self.owner.on_data(msg)
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a free loopback port; ``messages`` is what arrived."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.refuse: list[str] = []  # answers to DATA before accepting ("451 ...")
        self.attempts = 0
        self.lock = threading.Lock()
        self.on_data: Callable[[EmailMessage], None] | None = None
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=free_port())

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def settings(self) -> dict[str, Any]:
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_from": "alerts@newsmon.test",
        }

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.02)
        return list(self.messages)


@dataclass
class Hook:
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]
    signed_ok: bool
    at: float


@dataclass
class WebhookReceiver:
    """Answers POSTs with ``statuses`` in turn (then 200); checks the signature with
    ``secret``. ``kill_pid``: SIGKILL this process while handling the first POST, after
    having kept it (a sender dying between sending and recording)."""

    secret: str | None = None
    statuses: list[int] = field(default_factory=list)
    kill_pid: int | None = None
    hooks: list[Hook] = field(default_factory=list)
    attempts: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with owner.lock:
                    owner.attempts += 1
                    status = owner.statuses.pop(0) if owner.statuses else 200
                    signed = owner.secret is None or verify(
                        headers.get("x-newsmon-signature", ""),
                        raw,
                        owner.secret,
                        now=int(time.time()),
                    )
                    if status < 300:
                        owner.hooks.append(Hook(json.loads(raw), raw, headers, signed, time.time()))
                    pid, owner.kill_pid = owner.kill_pid, None
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    time.sleep(0.2)
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                payload = b"ok" if status < 300 else b"receiver is down"
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def unique(self) -> dict[str, list[Hook]]:
        """Deliveries by Idempotency-Key, as a receiver that honours it would keep them."""
        out: dict[str, list[Hook]] = {}
        for h in self.hooks:
            out.setdefault(h.headers["idempotency-key"], []).append(h)
        return out

    def article_ids(self) -> list[int]:
        """Article ids of the deliveries kept once per Idempotency-Key, with repeats."""
        return [a["id"] for hs in self.unique().values() for a in hs[0].body["articles"]]

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Hook]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.hooks) >= n:
                    return list(self.hooks)
            time.sleep(0.02)
        return list(self.hooks)
