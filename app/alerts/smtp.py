"""Sending an ``EmailMessage`` over SMTP (smtplib, in a worker thread).

``before_data`` is called once the server has accepted the sender and recipient, right
before the message is handed over (DATA): the runner commits status ``sending`` there,
so a process killed after that point is known to have maybe sent, and is not repeated;
killed before it, the delivery is simply tried again.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage

import anyio.to_thread

from app.config import Settings


class MailError(Exception):
    """Sending failed; ``permanent`` for a 5xx answer (retrying will not help)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def send_sync(
    settings: Settings,
    msg: EmailMessage,
    recipients: list[str],
    *,
    before_data: Callable[[], None] | None = None,
) -> None:
    if not settings.smtp_host:
        raise MailError("e-mail is not set up (NEWSMON_SMTP_HOST is empty)", permanent=False)
    context = ssl.create_default_context()
    timeout = settings.smtp_timeout_seconds
    try:
        smtp: smtplib.SMTP
        if settings.smtp_tls:
            smtp = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if settings.smtp_starttls and not settings.smtp_tls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            sender = settings.smtp_from
            code, answer = smtp.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, answer, sender)
            for rcpt in recipients:
                code, answer = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, answer)})
            if before_data is not None:
                before_data()
            flat = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
            code, answer = smtp.data(flat)
            if code != 250:
                raise smtplib.SMTPDataError(code, answer)
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        raise MailError(
            f"SMTP {exc.smtp_code}: {text}"[:500], permanent=exc.smtp_code >= 500
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"recipient refused: {exc.recipients}"[:500], permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{type(exc).__name__}: {exc}"[:500]) from exc


async def send(
    settings: Settings,
    msg: EmailMessage,
    recipients: list[str],
    *,
    before_data: Callable[[], None] | None = None,
) -> None:
    await anyio.to_thread.run_sync(
        lambda: send_sync(settings, msg, recipients, before_data=before_data)
    )
