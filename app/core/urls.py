"""URL canonicalisation for article identity (standard library only).

``canonical_url`` maps the many spellings of one article address (tracking
parameters, fragments, case, default ports, dot segments, escapes) to one
string; ``url_hash`` turns it into the fixed-size unique key the store indexes
(long URLs overflow PostgreSQL btree rows). This does not check reachability
or SSRF rules: ``feeds.http`` does that when fetching.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import SplitResult, unquote_plus, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Parameters that only identify the click, never the document.
_TRACKING_NAMES = (
    "fbclid gclid dclid gbraid wbraid msclkid mc_cid mc_eid igshid ref_src yclid "
    "_hsenc _hsmi mkt_tok _ga _gl twclid ttclid li_fat_id oly_anon_id oly_enc_id "
    "vero_id wickedid s_cid"
)
_TRACKING = frozenset(_TRACKING_NAMES.split())
_TRACKING_PREFIXES = ("utm_",)
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/")
_QUERY_PART_SAFE = _UNRESERVED | frozenset("!$'()*+,;:@/?")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def canonical_url(url: str) -> str:
    """One spelling per article address; idempotent.

    Raises ``ValueError`` unless ``url`` is an absolute http(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url[:100]!r}")
    netloc = _netloc(parts, scheme)
    path = _remove_dot_segments(_normalise_escapes(parts.path, _PATH_SAFE)) or "/"
    if not path.startswith("/"):
        path = "/" + path
    query = _canonical_query(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def url_hash(canonical: str) -> str:
    """SHA-256 hex of a canonical URL: the article's unique key."""
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING or lowered.startswith(_TRACKING_PREFIXES)


def _netloc(parts: SplitResult, scheme: str) -> str:
    host = (parts.hostname or "").rstrip(".")
    if not host.isascii():
        # encode("idna") raises UnicodeError (a ValueError) on labels it cannot map.
        host = ".".join(label.encode("idna").decode("ascii") for label in host.split("."))
    host = host.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username
        if parts.password is not None:
            userinfo += ":" + parts.password
        host = f"{userinfo}@{host}"
    return host


def _normalise_escapes(text: str, safe: frozenset[str]) -> str:
    """Decode escaped unreserved characters, upper-case other escapes, escape the rest."""
    if safe.issuperset(text):  # nothing escaped, nothing to escape: most paths
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "%" and _ESCAPE.match(text, i):
            decoded = chr(int(text[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else text[i : i + 3].upper())
            i += 3
            continue
        if char in safe:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on already-split segments."""
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/".join(output)


def _canonical_query(query: str) -> str:
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if is_tracking_param(unquote_plus(name)):
            continue
        name = _normalise_escapes(name, _QUERY_PART_SAFE)
        pairs.append((name, sep + _normalise_escapes(value, _QUERY_PART_SAFE | {"="})))
    # A stable sort on the name keeps repeated parameters in their original order.
    pairs.sort(key=lambda pair: pair[0])
    return "&".join(name + value for name, value in pairs)
