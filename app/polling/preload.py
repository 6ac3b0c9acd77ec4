"""Imported once by the parse workers' fork server, so every worker starts warm.

Importing this module loads the tagger's compiled rules and the lemma and language
models (several seconds and a few hundred MB), then tags a short text in each
supported language so lazily loaded dictionaries are in memory before the fork, then
settles the heap (``settle``) so the workers share it instead of copying it.
This import-time work is the module's purpose; nothing else imports it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

# Before numpy loads (the tagger's language classifier imports it): OpenBLAS otherwise
# starts a thread per core at load and sets up their buffers, ~0.1 s of this server's CPU
# (importing this module: 0.45-0.50 -> 0.35-0.38 s). The classifier's products are far
# too small to share out; ``language._identifier`` keeps BLAS on one thread anyway.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import app.feeds.fastparse
import app.polling.ingest  # noqa: F401  (the jobs' module: parse, plan, tag)
from app.polling import batch_gc
from app.tagging import load_tagger
from app.tagging.language import detect_language
from app.tagging.tokens import is_known

_SAMPLES = (
    ("en", "Amazon and TikTok extend their shopping partnership, lawmakers say."),
    ("de", "Amazon und TikTok erweitern ihre Zusammenarbeit, sagen Abgeordnete."),
    ("fr", "Amazon et TikTok élargissent leur partenariat, disent les députés."),
    ("es", "Amazon y TikTok amplían su acuerdo de compras, dicen los legisladores."),
    ("it", "Amazon e TikTok ampliano la loro collaborazione, dicono i legislatori."),
)


def warm() -> None:
    # The language model first: loading it briefly holds ~40 MB of arrays it converts,
    # and on top of the tagger's dictionaries that transient was this process's peak.
    detect_language(_SAMPLES[0][1])
    tagger = load_tagger()
    for language, text in _SAMPLES:
        tagger.tag(title=text, summary="", text=text, language=language)
        is_known("partnership", language)  # the compound splitter's dictionary too


def settle() -> None:
    """Make the loaded state cheap to share with the forked workers: collect the
    load-time garbage, give freed heap back to the OS (glibc keeps it otherwise, and
    every worker would map it), and freeze the survivors so the workers' garbage
    collector never writes to (and so copies) the pages holding them; the workers
    inherit the batch collection thresholds (``batch_gc``)."""
    batch_gc()  # collects, freezes, sets the thresholds
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to give back
        ctypes.CDLL("libc.so.6").malloc_trim(0)


warm()
settle()
