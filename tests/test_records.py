"""Records cross the process boundary (parser workers to the daemon) by pickle."""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError, dataclass, field, fields, make_dataclass, replace
from pathlib import Path

import pytest

from ingest.dedupe import ArticleDraft, EntryKeys, with_keys
from ingest.flagstore import FlagRow, MentionRow
from ingest.match import Hit, MatchResult, Mention
from ingest.parse import parse_feed
from ingest.prepare import ShippedWatchlist, with_matches
from ingest.records import ParsedEntry, shallow_dict, slot_init
from ingest.store import StoredArticle
from ingest.watchlist import parse_watchlist_text

ROOT = Path(__file__).resolve().parent.parent


def test_a_matched_feed_comes_back_from_pickle_equal_field_for_field() -> None:
    body = (ROOT / "tests/data/feeds/atom10.xml").read_bytes()
    text = (ROOT / "config/watchlist.toml").read_text(encoding="utf-8")
    watchlist = ShippedWatchlist(parse_watchlist_text(text))
    feed = with_matches(with_keys(parse_feed(body, url="https://example.org/feed")), watchlist)
    assert feed.matches and any(match.flags for match in feed.matches)  # the records in use

    back = pickle.loads(pickle.dumps(feed))

    assert back == feed
    assert back.entries[0].published == feed.entries[0].published
    assert back.matches is not None and back.matches[0].mentions == feed.matches[0].mentions


def test_slot_init_records_are_built_as_the_dataclass_would_and_stay_frozen() -> None:
    @dataclass(frozen=True, slots=True)
    class Reference:
        a: int
        b: str
        c: tuple[int, ...] = ()
        d: str | None = None

    specs = [(f.name, f.type, f) for f in fields(Reference)]
    Fast = slot_init(make_dataclass("Fast", specs, frozen=True, slots=True))

    for args, kwargs in [((1, "x"), {}), ((1, "x", (2,)), {"d": "y"}), ((), {"b": "x", "a": 3})]:
        fast, reference = Fast(*args, **kwargs), Reference(*args, **kwargs)
        assert shallow_dict(fast) == shallow_dict(reference)
        assert repr(fast).partition("(")[2] == repr(reference).partition("(")[2]
        assert hash(fast) == hash(Fast(*args, **kwargs))
    with pytest.raises(TypeError):
        Fast(1)  # b is required, as in the dataclass
    with pytest.raises(TypeError):
        Fast(1, "x", e=2)
    with pytest.raises(FrozenInstanceError):
        Fast(1, "x").a = 2  # type: ignore[misc]
    assert replace(Fast(1, "x"), d="z") == Fast(1, "x", (), "z")


def test_slot_init_refuses_what_its_init_cannot_build() -> None:
    @dataclass(frozen=True, slots=True)
    class Factory:
        items: list[int] = field(default_factory=list)

    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    for cls in (Factory, Mutable, Checked):
        with pytest.raises(TypeError):
            slot_init(cls)


def test_records_on_the_hot_path_use_slot_init() -> None:
    # Every record made per entry: a dataclass __init__ here costs 2-3 µs a record.
    hot = (ParsedEntry, EntryKeys, ArticleDraft, Mention, Hit, MatchResult)
    for cls in (*hot, FlagRow, MentionRow, StoredArticle):
        names = cls.__init__.__code__.co_names  # a dataclass's: object.__setattr__
        assert names and all(name.startswith("_set_") for name in names)
