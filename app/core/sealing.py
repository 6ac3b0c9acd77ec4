"""Sealing small secrets (webhook signing secrets) with the app's secret key.

A webhook receiver checks our HMAC with the raw secret, so we must be able to recover
it: a hash would not do. ``seal`` encrypts with a keystream of HMAC-SHA256 blocks
(key derived from the app secret, a random 16-byte nonce, a counter) and authenticates
nonce and ciphertext with a second derived key (encrypt-then-MAC); ``unseal`` refuses a
changed value or another key. Only the standard library. Pure: the caller passes keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from app.core.errors import InvalidInput

PREFIX = "v1:"


def _key(secret_key: str, purpose: bytes) -> bytes:
    return hmac.new(secret_key.encode(), b"newsmon-seal-" + purpose, hashlib.sha256).digest()


def _stream(key: bytes, nonce: bytes, length: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:length])


def seal(value: str, secret_key: str) -> str:
    if not secret_key:
        raise InvalidInput("no secret key to seal with")
    data = value.encode()
    nonce = os.urandom(16)
    stream = _stream(_key(secret_key, b"enc"), nonce, len(data))
    body = bytes(a ^ b for a, b in zip(data, stream, strict=True))
    tag = hmac.new(_key(secret_key, b"mac"), nonce + body, hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(nonce + tag + body).decode()


def unseal(sealed: str, secret_key: str) -> str:
    if not sealed.startswith(PREFIX):
        raise InvalidInput("not a sealed value")
    raw = base64.urlsafe_b64decode(sealed[len(PREFIX) :])
    nonce, tag, body = raw[:16], raw[16:48], raw[48:]
    expected = hmac.new(_key(secret_key, b"mac"), nonce + body, hashlib.sha256).digest()
    if not hmac.compare_digest(tag, expected):
        raise InvalidInput("sealed value changed or sealed with another key")
    stream = _stream(_key(secret_key, b"enc"), nonce, len(body))
    return bytes(a ^ b for a, b in zip(body, stream, strict=True)).decode()
