"""The matcher: a watchlist compiled once, applied to an article's text fields.

    matcher = compile_matcher(watchlist)       # matcher.version == watchlist.version
    result = matcher.match({"title": "…", "summary": "…", "content": "…"})
    result.mentions                            # every alias/term found, offsets into the field
    result.flags                               # rules satisfied, entities/groups mentioned

Pure: no I/O. See normalize.py (spelling tolerance), variants.py (word-level
alternations and inflections), automaton.py (the one pass), sentences.py and
rules.py (scopes, evidence).
"""

from __future__ import annotations

from ingest.match.matcher import (
    Matcher,
    MatcherSource,
    article_fields,
    compile_matcher,
    matcher_source,
)
from ingest.match.normalize import normalize
from ingest.match.results import Hit, MatchResult, Mention

__all__ = [
    "Hit",
    "MatchResult",
    "Matcher",
    "MatcherSource",
    "Mention",
    "article_fields",
    "compile_matcher",
    "matcher_source",
    "normalize",
]
