"""`make bench`: the whole benchmark suite; writes bench/RESULTS.md.

    .venv/bin/python -m bench.run                          # 1,000 and 10,000 feeds, 3 runs
    .venv/bin/python -m bench.run --feeds 1000 --runs 1    # a quick look
    make bench BENCH_ARGS="--feeds 1000 --runs 1"

For each farm size: the feed farm (bench/feedfarm.py) is measured, then every
contender runs cold (empty database, farm at round 0) and steady (the cold state
restored from a snapshot, farm after one round of 10% churn). Runs are interleaved
(run 1 of every contender, then run 2...). Each figure is the median of the runs. At
10,000 feeds and more the peers and `ingest --parser feedparser` run `--peer-large-runs`
times (default 1: reader alone takes minutes there).
Then matching alone (bench/bench_match.py), the digest build (bench/bench_digest.py, if
present), database bytes per stored article on SQLite and PostgreSQL, and a table of
issue 7's speed, memory, matching, digest and suite-time targets, each met or not
by this run's figures.
Everything runs on 127.0.0.1 and stops by itself; scratch files go to bench/out/.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.contenders import (
    PYTHON,
    ROOT,
    Contender,
    Ingest,
    Measurement,
    Naive,
    Reader,
)
from bench.feedfarm import Farm, measure_rate

OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BENCH = "postgresql://postgres@127.0.0.1:5432/ingest_bench"


def median(results: list[Measurement]) -> Measurement:
    return Measurement(
        statistics.median(r.wall for r in results),
        statistics.median(r.cpu for r in results),
        statistics.median(r.rss_mb for r in results),
        0,
    )


Factory = Callable[[Path, list[str], Path], Contender]


_STARTED = time.perf_counter()
# Wall seconds of every measured run, by contender: what the suite's time is spent on.
MEASURED: dict[str, float] = {}


def measured(name: str, m: Measurement) -> Measurement:
    MEASURED[name] = MEASURED.get(name, 0.0) + m.wall
    return m


def progress(step: str) -> None:
    """A step, after the seconds the suite has run: where its time goes, from the log."""
    print(f"{time.perf_counter() - _STARTED:6.0f} s  {step}", flush=True)


def contenders(names: list[str]) -> dict[str, Factory]:
    available: dict[str, Factory] = {
        "ingest": lambda home, urls, log: Ingest(home, urls, log),
        "ingest-feedparser": lambda home, urls, log: Ingest(home, urls, log, parser="feedparser"),
        "reader": lambda home, urls, log: Reader(home, urls, log),
        "naive": lambda home, urls, log: Naive(home, urls, log),
    }
    return {name: available[name] for name in names}


def bench_size(
    feeds: int, runs: int, peer_runs: int, names: list[str], lines: list[str]
) -> dict[str, dict[str, Measurement]]:
    work = OUT / f"{feeds}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = work / "commands.log"
    results: dict[str, dict[str, Measurement]] = {}
    progress(f"[{feeds}] rendering the farm")
    with Farm(feeds, seed=7, churn=0.1, workers=2, stop_after=3000) as farm:
        sizes = farm.sizes()
        full = measure_rate(farm, 2.0, conditional=False)
        not_modified = measure_rate(farm, 2.0, conditional=True)
        lines += [
            f"### {feeds:,} feeds",
            "",
            f"Farm: {feeds:,} feeds, {farm.entries():,} items at most (20-60 a feed), "
            f"{statistics.median(sizes) / 1000:.0f} KB median body ({min(sizes) / 1000:.0f}-"
            f"{max(sizes) / 1000:.0f} KB), rendered in {farm.render_seconds:.1f} s. "
            f"It sustains **{full:,.0f} req/s** of full 200 responses and **{not_modified:,.0f} "
            "req/s** of 304s (2 server processes, 2 load processes on the same 2 cores).",
            "",
        ]
        urls = farm.urls()
        makers = contenders(names)
        # At 10,000 feeds and more, one run of a peer (or of ingest with feedparser
        # forced) takes minutes: those run `peer_runs` times, ingest itself `runs`.
        counts = {
            name: runs if name == "ingest" or feeds < 10_000 else peer_runs for name in makers
        }
        cold: dict[str, list[Measurement]] = {name: [] for name in makers}
        steady: dict[str, list[Measurement]] = {name: [] for name in makers}
        articles = {name: [0, 0] for name in makers}
        # Run k of every contender, then run k+1: this machine's speed drifts by a third
        # over minutes, and contenders measured in separate stretches would carry that
        # drift into their ratios. Cold first, each contender's first cold state kept.
        farm.set_round(0)
        for run in range(max(counts.values())):
            for name, make in makers.items():
                if run >= counts[name]:
                    continue
                progress(f"[{feeds}] {name} cold {run + 1}/{counts[name]}")
                home = work / f"{name}-{run}"
                contender = make(home, urls, log)
                contender.setup()
                cold[name].append(measured(name, contender.run()))
                articles[name][0] = contender.articles()
                print(f"  {cold[name][-1]}", flush=True)
                if run == 0:
                    contender.snapshot(work / f"{name}.snapshot")  # moves the home
                shutil.rmtree(home, ignore_errors=True)
        farm.set_round(1)
        for run in range(max(counts.values())):
            for name, make in makers.items():
                if run >= counts[name] or name == "ingest-feedparser":
                    continue
                progress(f"[{feeds}] {name} steady {run + 1}/{counts[name]}")
                contender = make(work / f"{name}-steady", urls, log)
                contender.restore(work / f"{name}.snapshot")
                steady[name].append(measured(name, contender.run()))
                articles[name][1] = contender.articles()
                print(f"  {steady[name][-1]}", flush=True)
                shutil.rmtree(work / f"{name}-steady", ignore_errors=True)
        for name in makers:
            shutil.rmtree(work / f"{name}.snapshot", ignore_errors=True)
            results[name] = {"cold": median(cold[name])}
            results[name]["cold_runs"] = Measurement(len(cold[name]), 0, 0, articles[name][0])
            if steady[name]:
                results[name]["steady"] = median(steady[name])
                results[name]["steady_runs"] = Measurement(
                    len(steady[name]), 0, 0, articles[name][1]
                )
        farm.set_round(0)
    lines += table(results)
    return results


def table(results: dict[str, dict[str, Measurement]]) -> list[str]:
    lines = [
        "| contender | phase | runs | articles stored | wall s | CPU s | peak RSS MB "
        "| wall vs reader | wall vs naive |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, phases in results.items():
        for phase in ("cold", "steady"):
            if phase not in phases:
                continue
            m = phases[phase]
            meta = phases[f"{phase}_runs"]
            ratios = []
            for peer in ("reader", "naive"):
                other = results.get(peer, {}).get(phase)
                ratios.append(f"{other.wall / m.wall:.2f}x" if other else "-")
            lines.append(
                f"| {name} | {phase} | {int(meta.wall)} | {meta.returncode:,} | {m.wall:.2f} "
                f"| {m.cpu:.2f} | {m.rss_mb:.0f} | {ratios[0]} | {ratios[1]} |"
            )
    return [*lines, ""]


def bench_rss(feeds: int, runs: int, lines: list[str]) -> Measurement:
    """The daemon's peak memory (largest process) on a cold cycle at `feeds` feeds."""
    work = OUT / f"rss-{feeds}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    found = []
    progress(f"[{feeds}] peak memory")
    with Farm(feeds, seed=8, workers=2, stop_after=1200) as farm:
        for run in range(runs):
            contender = Ingest(work / f"ingest-{run}", farm.urls(), work / "commands.log")
            contender.setup()
            found.append(measured(f"ingest at {feeds:,} feeds (memory)", contender.run()))
            shutil.rmtree(contender.home, ignore_errors=True)
    return rss_line(feeds, median(found), runs, lines)


def rss_line(feeds: int, m: Measurement, runs: int, lines: list[str]) -> Measurement:
    lines += [
        f"Peak RSS of `ingest run --once --all`, cold, {feeds:,} feeds: **{m.rss_mb:.0f} MB** "
        f"(largest process; wall {m.wall:.1f} s, median of {runs}).",
        "",
    ]
    return m


# Issue 7's targets: (contender, phase, peer, at least this many times the peer's speed).
SPEED_TARGETS = (
    ("ingest", "cold", "reader", 8.0),
    ("ingest", "cold", "naive", 5.0),
    ("ingest-feedparser", "cold", "reader", 2.5),
    ("ingest", "steady", "reader", 3.0),
    ("ingest", "steady", "naive", 1.6),
)
RSS_LIMITS_MB = {5000: 150, 10000: 300}
SUITE_LIMIT_S = 15 * 60
MATCH_TARGET = 50_000  # articles/s at 10,000 aliases, one core
DIGEST_LIMIT_S = 2.0  # 5,000 flags, 100,000 articles


def target_lines(
    sized: dict[int, dict[str, dict[str, Measurement]]],
    rss: dict[int, Measurement],
    suite_seconds: float,
    extras: tuple[int | None, float | None] = (None, None),
) -> list[str]:
    """Which targets this run met, from its own figures; `extras`: the matching rate and
    the digest build's seconds, when they ran."""
    rows = ["| target | measured | met |", "| --- | --- | --- |"]
    for name, phase, peer, factor in SPEED_TARGETS:
        for feeds, results in sized.items():
            ours, theirs = results.get(name, {}).get(phase), results.get(peer, {}).get(phase)
            if ours and theirs:
                ratio = theirs.wall / ours.wall
                rows.append(
                    f"| {name} {phase}, {feeds:,} feeds: >= {factor}x {peer} | {ratio:.2f}x "
                    f"| {'yes' if ratio >= factor else '**no**'} |"
                )
    for feeds, m in rss.items():
        if feeds in RSS_LIMITS_MB:
            limit = RSS_LIMITS_MB[feeds]
            rows.append(
                f"| peak RSS, {feeds:,} feeds: <= {limit} MB | {m.rss_mb:.0f} MB "
                f"| {'yes' if m.rss_mb <= limit else '**no**'} |"
            )
    rate, digest = extras
    if rate is not None:
        rows.append(
            f"| matching, 10,000 aliases: >= {MATCH_TARGET:,} articles/s | {rate:,}/s "
            f"| {'yes' if rate >= MATCH_TARGET else '**no**'} |"
        )
    if digest is not None:
        rows.append(
            f"| digest build, 5,000 flags: < {DIGEST_LIMIT_S:g} s | {digest:.3f} s "
            f"| {'yes' if digest < DIGEST_LIMIT_S else '**no**'} |"
        )
    rows.append(
        f"| suite time <= {SUITE_LIMIT_S // 60} min | {suite_seconds / 60:.1f} min "
        f"| {'yes' if suite_seconds <= SUITE_LIMIT_S else '**no**'} |"
    )
    return ["### Targets (issue 7)", "", *rows, ""]


def bench_script(argv: list[str], title: str, lines: list[str]) -> str:
    """Run a benchmark script, quote its output under `title`; the output back."""
    progress(title)
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines += [
        f"### {title}",
        "",
        f"`{' '.join(argv[1:])}` ({time.perf_counter() - started:.0f} s)",
        "",
        "```",
        (result.stdout + result.stderr).strip(),
        "```",
        "",
    ]
    return result.stdout


def match_rate(output: str, aliases: str = "10,000") -> int | None:
    """English articles/s with no mention, at `aliases` aliases, from bench_match's table."""
    for line in output.splitlines():
        cells = line.split()
        if len(cells) >= 4 and cells[0] == aliases and cells[3].endswith("/s"):
            return int(cells[3].removesuffix("/s").replace(",", ""))
    return None


def digest_seconds(output: str) -> float | None:
    """The median build time bench_digest prints."""
    found = re.search(r"median ([0-9.]+) s", output)
    return float(found.group(1)) if found else None


def bench_bytes(feeds: int, lines: list[str]) -> None:
    """Database bytes per stored article, SQLite and PostgreSQL, after one cold cycle."""
    progress("database bytes per article")
    work = OUT / "bytes"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = [
        "| engine | articles | database bytes | bytes per article |",
        "| --- | --- | --- | --- |",
    ]
    with Farm(feeds, seed=9, workers=2, stop_after=1200) as farm:
        sqlite_ingest = Ingest(work / "sqlite", farm.urls(), work / "commands.log")
        sqlite_ingest.setup()
        with sqlite3.connect(sqlite_ingest.sqlite_path) as conn:
            empty = _sqlite_bytes(conn)
        sqlite_ingest.run()
        with sqlite3.connect(sqlite_ingest.sqlite_path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = _sqlite_bytes(conn) - empty
            count = int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
        rows.append(f"| SQLite | {count:,} | {size:,} | {size / max(count, 1):,.0f} |")
        try:
            rows.append(_postgres_bytes(farm, work))
        except Exception as exc:  # no server: say so, keep the rest of the results
            rows.append(f"| PostgreSQL | - | - | not measured: {type(exc).__name__}: {exc} |")
    lines += [
        "### Database bytes per stored article",
        "",
        f"One cold cycle of {feeds:,} farm feeds; growth over the empty schema, all tables "
        "and indexes (articles, flags, mentions, feeds, fetch log).",
        "",
        *rows,
        "",
    ]


def _sqlite_bytes(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def _postgres_bytes(farm: Farm, work: Path) -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS ingest_bench")
        admin.execute("CREATE DATABASE ingest_bench")
    try:
        pg = Ingest(work / "pg", farm.urls(), work / "commands.log", database_url=PG_BENCH)
        pg.setup()
        with psycopg.connect(PG_BENCH, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            empty = _pg_bytes(conn)
        pg.run()
        with psycopg.connect(PG_BENCH, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            size = _pg_bytes(conn) - empty
            row = conn.execute("SELECT count(*) FROM articles").fetchone()
            count = int(row[0]) if row else 0
        return f"| PostgreSQL | {count:,} | {size:,} | {size / max(count, 1):,.0f} |"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS ingest_bench")


def _pg_bytes(conn: object) -> int:
    import psycopg

    assert isinstance(conn, psycopg.Connection)
    row = conn.execute(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm')"
    ).fetchone()
    return int(row[0]) if row else 0


def suite_line(suite_seconds: float) -> str:
    runs = sorted(MEASURED.items(), key=lambda item: -item[1])
    spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in runs)
    rest = suite_seconds - sum(MEASURED.values())
    return (
        f"Suite time: {suite_seconds:.0f} s. Measured runs, by contender: {spent}; the rest "
        f"({rest:.0f} s) renders the farms, sets up and copies databases, and measures "
        "matching, the digest and database growth."
    )


def core_seconds(steps: int = 5_000_000) -> float:
    """One core's speed: a pure-Python loop, best of 3 (the peers scale with it, ingest less:
    on a core 2.5 times slower the ratios to `reader` were 40% higher)."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for step in range(steps):
            total += step
        best = min(best, time.perf_counter() - began)
    return best


def core_line(before: float, after: float) -> str:
    return (
        f"Core speed: a 5,000,000-step Python loop took {before:.3f} s before the suite and "
        f"{after:.3f} s after it (best of 3; a shared machine's speed drifts, and figures "
        "from machines whose loops differ are not comparable)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--peer-large-runs",
        type=int,
        default=1,
        help="runs of the peers and of ingest-feedparser at >= 10,000 feeds",
    )
    parser.add_argument(
        "--contenders", nargs="+", default=["ingest", "ingest-feedparser", "reader", "naive"]
    )
    parser.add_argument(
        "--rss-feeds", type=int, nargs="*", default=[5000, 10000], help="none: skip"
    )
    parser.add_argument(
        "--skip-extras", action="store_true", help="no matching, digest or database-size benchmarks"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    core_before = core_seconds()
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{' '.join(['python -m bench.run', *sys.argv[1:]])}` (`make bench`). Machine: "
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; the feed farm shares the cores with the "
        "contenders. Every figure is the median of the runs shown; CPU is user+sys of the "
        "whole process tree (parser workers included), peak RSS the largest process.",
        "",
        "Commands (each contender a subprocess in a fresh directory under bench/out/):",
        "",
    ]
    for name, make in contenders(args.contenders).items():
        lines.append(f"- {name}: `{make(Path('DIR'), [], Path('log')).command}`")
    lines += [
        "",
        "Cold: empty database, every farm feed once. Steady: the next cycle (the cold state "
        "restored from a snapshot) after a round in which 10% of the feeds got 1-3 new items; "
        "every contender sends conditional GETs. ingest runs with its default settings except "
        "`allow_private_networks = true` (the farm is on 127.0.0.1) and `[fulltext] enabled = "
        "false` (page fetching is a feature the peers lack). Each measured run starts after a "
        "sync, with no dirty pages left by the setup or by the contender before.",
        "",
    ]
    sized: dict[int, dict[str, dict[str, Measurement]]] = {}
    for feeds in args.feeds:
        sized[feeds] = bench_size(feeds, args.runs, args.peer_large_runs, args.contenders, lines)
    rss: dict[int, Measurement] = {}
    for feeds in args.rss_feeds:
        cold = sized.get(feeds, {}).get("ingest", {})
        if "cold" in cold:  # the cold runs above measured it already: minutes saved at 10,000
            rss[feeds] = rss_line(feeds, cold["cold"], int(cold["cold_runs"].wall), lines)
        else:
            rss[feeds] = bench_rss(feeds, args.runs, lines)
    rate: int | None = None
    digest: float | None = None
    if not args.skip_extras:
        matching = bench_script(
            [PYTHON, "bench/bench_match.py", "--articles", "5000", "--runs", "3"],
            "Matching alone (articles/s, one core, normalization included)",
            lines,
        )
        rate = match_rate(matching)
        if (ROOT / "bench" / "bench_digest.py").exists():
            built = bench_script(
                [PYTHON, "bench/bench_digest.py", "--runs", "3"], "Digest build", lines
            )
            digest = digest_seconds(built)
        bench_bytes(min(args.feeds), lines)
    suite_seconds = time.perf_counter() - started
    lines += target_lines(sized, rss, suite_seconds, (rate, digest))
    lines += [suite_line(suite_seconds), "", core_line(core_before, core_seconds()), ""]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.output} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
