"""Compare two checkouts of ingest on one feed farm, their runs interleaved.

    .venv/bin/python -m bench.compare BASELINE [--feeds 1000] [--runs 4] [--steady]
        [--parser feedparser] [--watchlist FILE]

BASELINE is another checkout (`git worktree add /tmp/base HEAD~1`); it runs with this
venv and its own `ingest/` first on PYTHONPATH, against this checkout. Runs alternate
(A B B A A B …) so that a machine whose speed drifts within minutes (this one's did, by
a third in half an hour) puts the drift into both sides alike. Prints, per run and as
medians: wall seconds, the CPU seconds of the daemon's process and of its parser
workers, and the CPU of the daemon's database thread and of its event loop's thread.
The per-thread sampler keeps a thread alive at exit, so both sides free their heap at
exit (`ingest.entry.exit_without_teardown` skips that otherwise): walls here run about
0.3 s above `bench.run`'s.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.contenders import CPU_REPORT, CPU_REPORTING_CLI, ROOT, Ingest, compile_bytecode
from bench.feedfarm import WATCHLIST, Farm

COLUMNS = ("wall", "daemon", "workers", "db", "loop")


def one_cycle(
    farm: Farm,
    tree: Path,
    home: Path,
    steady: bool,
    parser: str = "auto",
    watchlist: Path = WATCHLIST,
) -> tuple[float, ...]:
    """One cold (or steady) `ingest run --once --all` of `tree`'s code, measured."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    ingest = Ingest(
        home, farm.urls(), home / "log.txt", parser=parser, watchlist=watchlist, code=tree
    )
    ingest.setup()  # the schema of `tree`'s migrations: a baseline refuses a newer one
    argv = ingest.argv()
    env = dict(os.environ, PYTHONPATH=str(tree))
    if steady:
        farm.set_round(0)
        subprocess.run(argv, check=True, env=env, capture_output=True)
        farm.set_round(1)
    started = time.perf_counter()
    done = subprocess.run(
        # -P: no current directory first on sys.path. Run from this checkout (as the
        # docstring says to), `-c` put it ahead of PYTHONPATH, and the baseline ran this
        # checkout's code too.
        [sys.executable, "-P", "-c", CPU_REPORTING_CLI, *argv[1:]],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    report = CPU_REPORT.search(done.stderr)
    if done.returncode != 0 or report is None:
        raise SystemExit(f"{tree}: ingest failed\n{done.stderr[-2000:]}")
    return (wall, *(float(value) for value in report.groups()))


def _row(name: str, figures: Sequence[float]) -> str:
    return f"{name:8} " + " ".join(f"{c}={v:.2f}" for c, v in zip(COLUMNS, figures, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("baseline", type=Path, help="the other checkout")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=4, help="runs of each side")
    parser.add_argument("--steady", action="store_true", help="the cycle after a round")
    parser.add_argument("--parser", default="auto", help="ingest's --parser, both sides")
    parser.add_argument(
        "--watchlist",
        type=Path,
        default=WATCHLIST,
        help="the watchlist both sides use (bench.big_watchlist writes large ones)",
    )
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this": ROOT}
    if not (trees["baseline"] / "ingest" / "daemon.py").is_file():
        raise SystemExit(f"{args.baseline}: not a checkout of ingest")
    compile_bytecode()
    compileall.compile_dir(trees["baseline"] / "ingest", quiet=1)  # as for this side
    results: dict[str, list[tuple[float, ...]]] = {name: [] for name in trees}
    work = ROOT / "bench" / "out" / "compare"
    with Farm(args.feeds) as farm:
        for run in range(args.runs):
            order = list(trees) if run % 2 == 0 else list(reversed(trees))
            for name in order:
                figures = one_cycle(
                    farm, trees[name], work / name, args.steady, args.parser, args.watchlist
                )
                results[name].append(figures)
                print(_row(name, figures))
    print(f"medians of {args.runs} ({'steady' if args.steady else 'cold'}, {args.feeds} feeds):")
    for name, runs in results.items():
        medians = [statistics.median(column) for column in zip(*runs, strict=True)]
        print(_row(name, medians))


if __name__ == "__main__":
    main()
