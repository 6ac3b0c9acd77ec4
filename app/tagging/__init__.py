"""The tagger: language, relevance to the Amazon–TikTok topic, and themes.

``load_tagger()`` compiles the rules in ``topic.toml`` and ``themes.toml`` once;
``Tagger.tag`` is then a deterministic function of its arguments (its only
state is memoised token look-ups). It does not fetch, store or know about
editors: editor overrides are the store's business.
"""

from __future__ import annotations

# First: puts the compiled modules in place when they were built for these sources (accel.py).
from app.tagging.accel import IMPLEMENTATION
from app.tagging.result import Analysis, TagResult
from app.tagging.tagger import Tagger, load_tagger

__all__ = ["IMPLEMENTATION", "Analysis", "TagResult", "Tagger", "load_tagger"]
