"""Flags raised by the daemon's pipeline, `ingest flags`, `ingest rematch`, and watchlist reload:
a real feed server, real SQLite files, the real CLI."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ingest.flagging import WatchlistFlaggers
from ingest.settings import load_settings
from tests.conftest import Instance
from tests.helpers import query, rss

BASE_TRUCKS = (
    "Baghdad was calm on Monday. US trucks that carried construction materials have arrived in "
    "Syria from Ein al-Assad base, local sources said. Officials gave no details."
)
ASSAD = "Bashar al-Assad met a delegation in Damascus on Monday to discuss reconstruction."
WEATHER = "Sunny skies over Baghdad; temperatures will reach 21 degrees."


def flags_json(instance: Instance, *args: str) -> list[dict[str, object]]:
    out = instance.cli("flags", "--json", *args).output
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def publish(instance: Instance, *items: dict[str, object]) -> None:
    instance.server.add("/a.xml", rss(list(items)))


@pytest.fixture
def flagging(instance: Instance) -> Instance:
    publish(
        instance,
        {"guid": "trucks", "title": "Convoy reported", "description": BASE_TRUCKS, "minutes": 5},
        {"guid": "assad", "title": "Reconstruction talks", "description": ASSAD, "minutes": 10},
        {"guid": "weather", "title": "Weather", "description": WEATHER, "minutes": 15},
    )
    instance.write_feeds("/a.xml")
    instance.run_once()
    return instance


def test_the_daemon_flags_a_stored_article_with_its_sentence(flagging: Instance) -> None:
    flags = flags_json(flagging)
    rules = {f["rule"] for f in flags}
    assert "base-logistics" in rules
    flag = next(f for f in flags if f["rule"] == "base-logistics")
    assert flag["priority"] == "high" and flag["title"] == "Convoy reported"
    assert flag["evidence"] == (
        "US trucks that carried construction materials have arrived in Syria from Ein al-Assad "
        "base, local sources said."
    )
    texts = {m["text"] for m in flag["mentions"]}  # type: ignore[attr-defined]
    assert "Ein al-Assad" in texts and "trucks" in texts
    # Nothing was flagged for the article about the president, nor for the weather.
    assert {f["title"] for f in flags} == {"Convoy reported"}
    rows = query(
        flagging.settings.database,
        "SELECT watchlist_version, source FROM flags WHERE rule = :r",
        r="base-logistics",
    )
    assert rows[0][0] and rows[0][1] == "feed"


def test_offsets_in_a_flag_slice_the_stored_field(flagging: Instance) -> None:
    flag = next(f for f in flags_json(flagging) if f["rule"] == "base-logistics")
    (summary,) = query(
        flagging.settings.database, "SELECT summary FROM articles WHERE guid = 'trucks'"
    )[0]
    for mention in flag["mentions"]:  # type: ignore[attr-defined]
        if mention["field"] == "summary":
            assert summary[mention["start"] : mention["end"]] == mention["text"]


def test_polling_again_and_editing_never_duplicate_a_flag(flagging: Instance) -> None:
    before = flags_json(flagging)
    flagging.run_once("--all")
    publish(
        flagging,
        {
            "guid": "trucks",
            "title": "Convoy reported (updated)",
            "description": BASE_TRUCKS + " A second convoy followed.",
            "minutes": 5,
        },
    )
    flagging.run_once("--all")
    after = flags_json(flagging)
    assert sorted(f["rule"] for f in after) == sorted(f["rule"] for f in before)
    assert [f["id"] for f in after if f["rule"] == "base-logistics"] == [
        f["id"] for f in before if f["rule"] == "base-logistics"
    ]


def test_flags_filter_by_priority_and_since(flagging: Instance) -> None:
    everything = flags_json(flagging)
    high = flags_json(flagging, "--priority", "high")
    assert high and all(f["priority"] == "high" for f in high)
    assert len(high) <= len(everything)
    assert flags_json(flagging, "--since", "2099-01-01") == []
    table = flagging.cli("flags").output
    assert "2 flags" in table or "1 flags" in table
    assert "Convoy" in table and "high" in table
    bad = flagging.cli("flags", "--priority", "urgent", expect=2)
    assert "--priority must be one of high, medium, low" in bad.output


def _add_weather_keywords(instance: Instance) -> None:
    instance.cli(
        "watch",
        "add",
        "keywords",
        "Weather words",
        "--term",
        "temperature",
        "--term",
        "sunny",
        "--priority",
        "low",
    )


def test_rematch_dry_run_shows_then_applies_once(flagging: Instance) -> None:
    _add_weather_keywords(flagging)
    dry = flagging.cli("rematch", "--dry-run").output
    assert "would add" in dry and "weather-words" in dry and "Weather" in dry
    assert not [f for f in flags_json(flagging) if f["rule"] == "weather-words"]

    applied = flagging.cli("rematch").output
    assert "added 1" in applied
    weather = [f for f in flags_json(flagging) if f["rule"] == "weather-words"]
    assert [f["title"] for f in weather] == ["Weather"]

    again = flagging.cli("rematch").output
    assert "added 0" in again and "removed 0" in again
    assert len(flags_json(flagging)) == len(
        set((f["article_id"], f["rule"]) for f in flags_json(flagging))
    )


def test_rematch_removes_flags_the_watchlist_no_longer_raises(flagging: Instance) -> None:
    _add_weather_keywords(flagging)
    flagging.cli("rematch")
    flagging.cli("watch", "remove", "weather-words")
    out = flagging.cli("rematch").output
    assert "removed 1" in out
    assert not [f for f in flags_json(flagging) if f["rule"] == "weather-words"]
    assert [f for f in flags_json(flagging) if f["rule"] == "base-logistics"]


def test_rematch_flags_are_not_alerted_as_news(flagging: Instance) -> None:
    _add_weather_keywords(flagging)
    flagging.cli("rematch")
    rows = query(
        flagging.settings.database, "SELECT alerted_at FROM flags WHERE rule = 'weather-words'"
    )
    assert rows and rows[0][0] is not None


def test_an_invalid_watchlist_on_reload_keeps_the_last_good_one(
    instance: Instance, caplog: pytest.LogCaptureFixture
) -> None:
    root = logging.getLogger()  # the CLI runs above left a handler on a stream now closed
    root.handlers[:] = [h for h in root.handlers if type(h) is not logging.StreamHandler]
    settings = load_settings(instance.config, env={})
    holder = WatchlistFlaggers.load(settings)
    good = holder.current()
    assert good is not None
    path: Path = settings.watchlist_file
    path.write_text(
        path.read_text(encoding="utf-8")
        + '\n[[rules]]\nid = "broken"\nname = "Broken"\nall = ["nowhere"]\n',
        encoding="utf-8",
    )
    assert holder.changed()
    with caplog.at_level(logging.ERROR, logger="ingest.flagging"):
        holder.reload()
    assert holder.current() is good
    message = caplog.text
    assert "watchlist.toml:" in message and "nowhere" in message
    assert not holder.changed()  # the same broken file is not reported every tick


def test_a_valid_edit_is_picked_up_by_the_next_poll(instance: Instance) -> None:
    publish(instance, {"guid": "w", "title": "Weather", "description": WEATHER, "minutes": 1})
    instance.write_feeds("/a.xml")
    settings = load_settings(instance.config, env={})
    holder = WatchlistFlaggers.load(settings)
    before = holder.current()
    _add_weather_keywords(instance)
    assert holder.changed()
    holder.reload()
    after = holder.current()
    assert after is not None and after is not before
    assert after.matcher.version != (before.matcher.version if before else None)
    assert any(h.rule == "weather-words" for h in after.matcher.match({"text": WEATHER}).flags)


def test_a_broken_watchlist_stops_the_daemon_at_start_with_file_and_line(
    instance: Instance,
) -> None:
    path = instance.config_dir / "watchlist.toml"
    path.write_text(
        path.read_text(encoding="utf-8") + '\n[[entities]]\nid = "x"\nname = 3\n', encoding="utf-8"
    )
    result = instance.cli("run", "--once", expect=2)
    assert "watchlist.toml:" in result.output and "name" in result.output
