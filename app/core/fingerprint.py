"""Near-duplicate fingerprints (standard library only).

Two measures, because copies come in two kinds:

* ``simhash`` over word 3-shingles catches copies of one text (syndication with a
  changed headline, boilerplate, a fixed typo): Hamming distance <= 3. ``bands``
  splits the 64 bits into four 16-bit keys; with at most 3 differing bits one band
  is always equal (pigeonhole), so an indexed equality lookup finds candidates.
* ``story_terms`` / ``is_same_story`` catch rewrites of one story (a wire report
  retold by another outlet): the Jaccard overlap of stemmed content words. On the
  labelled set the rewritten pairs score >= 0.34 and other same-topic pairs
  <= 0.27; simhash cannot separate those (the pairs sit at distance 17-37).
  ``minhash_bands`` gives lookup keys for it.

* ``same_story`` decides story clusters: syndicated and republished copies of
  one report (a changed or suffixed headline, a shortened lead, an added byline
  line). Headlines must agree (Jaccard of their stemmed words >= 0.5) and the
  shorter body must be (nearly) contained in the longer one as word 3-shingles:
  >= 95 %, or >= 60 % when at least 100 shingles (a long passage) are shared
  (so a short item only groups with a near-exact copy: templates are short).
  Wire-style templates give different stories the same words, so word overlap
  alone over-merges them; a copy shares whole passages. ``story_keys`` are the
  look-up keys for it: three min-hashes of the headline's words other than the
  story's names (``KEY_STOP``) and a hash of the whole normalised headline.

This module decides nothing about clusters; the store and poller do.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from itertools import repeat
from operator import xor

MASK64 = (1 << 64) - 1
SIGN_BIT = 1 << 63
SHINGLE = 3
STORY_THRESHOLD = 0.3
TITLE_AGREEMENT = 0.5
COPY_CONTAINMENT = 0.95
PASSAGE_SHINGLES, PASSAGE_CONTAINMENT = 100, 0.6
# "UPDATE: …", "Exclusive: …" before a headline, " – Outlet Name" after it.
_TITLE_PREFIX = re.compile(r"^\s*\w+\s*:\s+")
# A byline paragraph a republisher adds ("By Dana Roe, Capitol Wire"); not the story.
_BYLINE = re.compile(r"^(?:by|von|par|por|di)\s[^\n]{0,80}$", re.IGNORECASE | re.MULTILINE)
_TITLE_SUFFIX = re.compile(r"\s+[-|–—]\s+((?:\S+\s+){0,3}\S+)\s*$")
_WORD = re.compile(r"\w+")
_STEM = 6  # a crude, language-agnostic stemmer: the first six characters
_MIN_TERM = 3
# Function words of the languages we monitor; they carry no story.
_STOP_WORDS = """the and for that with from this have has had was were will would could should said
    says about into over after before their there they them than then what when which while
    where been being also more most some such only other just like very your you our its
    are not but can may might must shall upon these those under between during without
    within against among because through since until across around amid
    uber und der die das den dem des ein eine einer eines einem einen mit von fur auf aus
    bei nach seit zum zur sich nicht auch noch wie als dass oder aber wird werden wurde
    wurden hat haben sind ist war waren sein seine ihre ihren ihr sie wir man mehr nur
    schon sehr kann konnen soll sollen will wollen durch gegen ohne unter zwischen bis vor
    beim vom les des une pour dans par sur avec est sont qui que pas"""
_STOP = frozenset(_STOP_WORDS.split())


def words(text: str) -> list[str]:
    """Lower-cased, accent-folded word tokens."""
    if not text.isascii():  # ASCII has nothing to decompose or fold away
        text = _strip_combining(unicodedata.normalize("NFKD", text))
    return _WORD.findall(text.casefold())


def _strip_combining(text: str) -> str:
    # A text has a handful of distinct marks: one C-level replace per distinct
    # mark beats a Python-level test per character (and a regex class of all
    # of Unicode's marks, which ``re`` matches slowly).
    for char in set(text):
        if char > "\x7f" and unicodedata.combining(char):
            text = text.replace(char, "")
    return text


def simhash(text: str) -> int:
    """64-bit simhash of ``text`` as a signed int64 (fits a BIGINT column)."""
    tokens = words(text)
    if len(tokens) < SHINGLE:
        shingles = [" ".join(tokens)]
    else:
        shingles = [" ".join(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)]
    # Column counts over binary strings keep the 64-step loop out of the per-shingle path.
    rows = [format(_hash64(shingle), "064b") for shingle in shingles]
    half = len(rows) / 2
    value = 0
    for column in zip(*rows, strict=True):
        value = (value << 1) | (column.count("1") > half)
    return to_signed(value)


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two fingerprints (signed or unsigned)."""
    return ((a ^ b) & MASK64).bit_count()


def is_near_duplicate(a: int, b: int, max_distance: int = 3) -> bool:
    return hamming(a, b) <= max_distance


def bands(fingerprint: int) -> tuple[int, int, int, int]:
    """Four 16-bit slices, most significant first: lookup keys for distance <= 3."""
    value = fingerprint & MASK64
    return (value >> 48, (value >> 32) & 0xFFFF, (value >> 16) & 0xFFFF, value & 0xFFFF)


def to_signed(value: int) -> int:
    value &= MASK64
    return value - (1 << 64) if value & SIGN_BIT else value


def story_terms(text: str) -> frozenset[str]:
    """Stemmed content words of ``text``: the features of ``is_same_story``."""
    return frozenset(
        token[:_STEM] for token in words(text) if len(token) >= _MIN_TERM and token not in _STOP
    )


def story_title(title: str) -> str:
    """The headline without a one-word label before a colon or a short outlet suffix."""
    title = _TITLE_PREFIX.sub("", title, count=1)
    suffix = _TITLE_SUFFIX.search(title)
    if suffix and len(title[: suffix.start()].split()) >= 3:
        title = title[: suffix.start()]
    return title


def title_terms(title: str) -> frozenset[str]:
    return story_terms(story_title(title))


Shingles = frozenset[tuple[str, ...]]


def shingles(text: str) -> Shingles:
    """Word 3-shingles of ``text`` without its byline lines (the words themselves
    if fewer than three), as tuples: built by ``zip`` in C, not joined one by one."""
    tokens = words(_BYLINE.sub("", text))
    if len(tokens) < SHINGLE:
        return frozenset([tuple(tokens)]) if tokens else frozenset()
    return frozenset(zip(tokens, tokens[1:], tokens[2:], strict=False))


# The names nearly every headline of the monitored story carries (stemmed as
# ``story_terms`` stems). A min-hash key that falls on one of them is shared by the whole
# day's coverage, so on a busy day its capped look-up returns only the newest articles
# and a copy of an older one is not found (docs/decisions.md, "Ingest, stop 41"). The
# min-hash keys are drawn from a headline's other words; the whole-headline key keeps
# them all.
KEY_STOP = frozenset(name[:_STEM] for name in ("amazon", "tiktok", "tik", "tok", "bytedance"))


def story_keys(title: str) -> tuple[int, ...]:
    """Four signed 32-bit look-up keys for ``same_story`` candidates (``()`` for an
    empty headline): three min-hashes of its words but the story's names (``KEY_STOP``;
    all of them when nothing else is left), one hash of all of them."""
    terms = title_terms(title)
    if not terms:
        return ()
    digest = hashlib.blake2b(" ".join(sorted(terms)).encode(), digest_size=4).digest()
    keyed = terms - KEY_STOP or terms
    return (*minhash_bands(keyed, count=3, rows=1), int.from_bytes(digest, "big", signed=True))


def same_story(
    title_a: frozenset[str],
    body_a: Shingles,
    title_b: frozenset[str],
    body_b: Shingles,
) -> bool:
    """Headline terms and body shingles (``title_terms``, ``shingles``) of one story?"""
    if jaccard(title_a, title_b) < TITLE_AGREEMENT or not body_a or not body_b:
        return False
    shared = len(body_a & body_b)
    contained = shared / min(len(body_a), len(body_b))
    return contained >= COPY_CONTAINMENT or (
        shared >= PASSAGE_SHINGLES and contained >= PASSAGE_CONTAINMENT
    )


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def is_same_story(a: frozenset[str], b: frozenset[str], threshold: float = STORY_THRESHOLD) -> bool:
    return jaccard(a, b) >= threshold


def minhash_bands(terms: frozenset[str], count: int = 32, rows: int = 2) -> tuple[int, ...]:
    """``count`` LSH keys (signed 32-bit) of ``rows`` min-hashes each.

    With 32 bands of 2 rows a pair at Jaccard 0.35 shares a key with probability
    about 0.98, one at 0.05 about 0.08: a cheap candidate filter, verified with
    ``is_same_story`` on the stored text.
    """
    if not terms:
        return ()
    known = _TERM_HASHES.get
    hashed = [known(term) or _term_hash(term) for term in terms]
    keys = []
    for band in range(count):
        # map(xor, ...) keeps the per-term loop in C.
        mins = [min(map(xor, hashed, repeat(_SEEDS[band * rows + row]))) for row in range(rows)]
        digest = hashlib.blake2b(repr(mins).encode(), digest_size=4).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return tuple(keys)


# Stemmed terms repeat across articles (a 6-letter prefix vocabulary), so the
# blake2b per term is paid once per distinct term; bounded to keep workers small.
_TERM_HASHES: dict[str, int] = {}
_TERM_HASH_LIMIT = 200_000


def _term_hash(term: str) -> int:
    value = _hash64(term)
    if len(_TERM_HASHES) < _TERM_HASH_LIMIT:
        _TERM_HASHES[term] = value
    return value


def _hash64(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# Fixed XOR masks turn one hash into independent-enough permutations for min-hashing.
_SEEDS = tuple(_hash64(f"newsmon-minhash-{i}") for i in range(256))
