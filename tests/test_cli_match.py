"""`ingest match` and `ingest watch`, run as commands: exit codes, JSON, edits on disk."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from ingest.cli_match import match_command
from ingest.cli_watch import watch_app

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "watchlists"
DEFAULT = ROOT / "config" / "watchlist.toml"
EXEMPLARY = (
    "US trucks that carried construction materials have arrived in Syria from Ein al-Assad base, "
    "local sources said."
)

# The two commands as the lead registers them in ingest/cli.py.
app = typer.Typer()
app.command("match")(match_command)
app.add_typer(watch_app, name="watch")


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_json_for_a_text() -> None:
    result = run("match", "--watchlist", str(DEFAULT), "--text", EXEMPLARY, "--json")
    [record] = lines(result.stdout)
    assert record["id"] is None
    mentions = record["mentions"]
    assert isinstance(mentions, list)
    assert {
        "id": "ain-al-asad",
        "kind": "entity",
        "field": "text",
        "start": 73,
        "end": 85,
        "text": "Ein al-Assad",
    } in mentions
    for mention in mentions:
        assert EXEMPLARY[mention["start"] : mention["end"]] == mention["text"]
        assert set(mention) == {"id", "kind", "field", "start", "end", "text"}
    flags = record["flags"]
    assert isinstance(flags, list)
    assert {"rule": "base-logistics", "priority": "high", "evidence": EXEMPLARY} in flags
    assert all(set(flag) == {"rule", "priority", "evidence"} for flag in flags)


def test_jsonl_in_one_line_out_per_line_same_id(tmp_path: Path) -> None:
    source = tmp_path / "articles.jsonl"
    source.write_text(
        json.dumps({"id": "a1", "title": "Convoy leaves Ain al-Asad", "text": "Nothing else."})
        + "\n\n"
        + json.dumps({"id": 2, "text": "Bashar al-Assad met a delegation."})
        + "\n"
        + json.dumps({"text": "غادر رتل قاعدة عين الأسد."}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    records = lines(
        run("match", "--watchlist", str(DEFAULT), "--file", str(source), "--json").stdout
    )
    assert [r["id"] for r in records] == ["a1", 2, None]
    first, second, third = records
    assert {(m["field"], m["text"]) for m in first["mentions"]} == {
        ("title", "Convoy"),
        ("title", "Ain al-Asad"),
    }
    assert first["flags"][0]["rule"] == "base-logistics"
    assert second["mentions"] == [] and second["flags"] == []
    assert "base-logistics" in [f["rule"] for f in third["flags"]]


def test_a_plain_text_file(tmp_path: Path) -> None:
    source = tmp_path / "article.txt"
    source.write_text(f"Headline\n\n{EXEMPLARY}\n", encoding="utf-8")
    [record] = lines(
        run("match", "--watchlist", str(DEFAULT), "--file", str(source), "--json").stdout
    )
    assert record["id"] == str(source)
    assert "base-logistics" in [f["rule"] for f in record["flags"]]


def test_readable_output_says_what_and_why() -> None:
    output = run("match", "--watchlist", str(DEFAULT), "--text", EXEMPLARY).stdout
    assert (
        "HIGH" in output and "base-logistics" in output and "Logistics at a tracked base" in output
    )
    assert "Ein al-Assad" in output
    quiet = run("match", "--watchlist", str(DEFAULT), "--text", "Sunny in Baghdad.").stdout
    assert "nothing would be flagged" in quiet


def test_a_bad_watchlist_exits_2_with_file_line_and_field() -> None:
    path = DATA / "unknown_key.toml"
    result = run("match", "--watchlist", str(path), "--text", "x", code=2)
    assert result.stdout == ""
    assert (
        result.stderr.strip()
        == f"error: {path}:9: [entities[1].alias] unknown key (and 1 more error)"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["match", "--watchlist", str(DEFAULT)],
        ["match", "--watchlist", str(DEFAULT), "--text", "x", "--file", "y.txt"],
    ],
)
def test_text_or_file_exactly_one(args: list[str]) -> None:
    assert "exactly one of --text" in run(*args, code=2).stderr


def test_a_broken_jsonl_line_is_named(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "ok"}\n{"title": "no text"}\n', encoding="utf-8")
    result = run("match", "--watchlist", str(DEFAULT), "--file", str(source), "--json", code=2)
    assert f"{source}:2:" in result.stderr


def test_the_watchlist_comes_from_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    shutil.copy(DATA / "tolerance.toml", tmp_path / "lists" / "mine.toml")
    config = tmp_path / "ingest.toml"
    config.write_text('watchlist_file = "lists/mine.toml"\n', encoding="utf-8")
    records = lines(
        run("match", "--config", str(config), "--text", "A convoy at Ain al-Asad.", "--json").stdout
    )
    assert [m["id"] for m in records[0]["mentions"]] == ["logistics", "ain-al-asad"]


def test_watch_add_list_remove_keep_the_file(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    shutil.copy(DATA / "editable.toml", path)
    w = ["--watchlist", str(path)]
    assert (
        "added entity harir-air-base"
        in run(
            "watch",
            "add",
            "entity",
            "Harir air base",
            "--alias",
            "قاعدة حرير",
            "--alias",
            "Bashur airfield",
            *w,
        ).stdout
    )
    run(
        "watch",
        "add",
        "keywords",
        "Attacks",
        "--term",
        "drone",
        "--term",
        "rocket",
        "--priority",
        "low",
        *w,
    )
    run("watch", "add", "alias", "erbil", "Hawler airport", *w)
    listing = run("watch", "list", "--json", *w).stdout
    entries = {entry["id"]: entry for entry in lines(listing)}
    assert entries["harir-air-base"]["aliases"] == [
        "Harir air base",
        "قاعدة حرير",
        "Bashur airfield",
    ]
    assert entries["attacks"]["priority"] == "low"
    assert "Hawler airport" in entries["erbil"]["aliases"]
    text = path.read_text(encoding="utf-8")
    assert "# Team watchlist: keep this header." in text and '"مطار أربيل",       # Arabic' in text

    refused = run("watch", "remove", "erbil", *w, code=2)
    assert "used by rule erbil-logistics" in refused.stderr
    run("watch", "remove", "tanf", *w)
    assert "tanf" not in {entry["id"] for entry in lines(run("watch", "list", "--json", *w).stdout)}
    assert "# Al-Tanf garrison." not in path.read_text(encoding="utf-8")

    after_add = run(
        "match", "--watchlist", str(path), "--text", "Drones over قاعدة حرير", "--json"
    ).stdout
    assert [m["id"] for m in lines(after_add)[0]["mentions"]] == ["attacks", "harir-air-base"]


def test_watch_rejects_a_bad_priority_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    shutil.copy(DATA / "editable.toml", path)
    before = path.read_text(encoding="utf-8")
    result = run(
        "watch", "add", "entity", "Qasrak", "--priority", "urgent", "--watchlist", str(path), code=2
    )
    assert "--priority must be one of" in result.stderr
    assert path.read_text(encoding="utf-8") == before


def _real_cli_available() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "import ingest.cli"], capture_output=True, cwd=ROOT
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _real_cli_available(), reason="ingest.cli does not import yet (other stages missing)"
)
def test_the_installed_command(tmp_path: Path) -> None:
    ingest = Path(sys.executable).parent / "ingest"
    done = subprocess.run(
        [str(ingest), "match", "--watchlist", str(DEFAULT), "--text", EXEMPLARY, "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "base-logistics" in [f["rule"] for f in json.loads(done.stdout)["flags"]]
    bad = subprocess.run(
        [str(ingest), "match", "--watchlist", str(DATA / "bad_within.toml"), "--text", "x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert bad.returncode == 2
    assert f"{DATA / 'bad_within.toml'}:15:" in bad.stderr and "rules[0].within" in bad.stderr
