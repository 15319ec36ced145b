"""Profile one `ingest run --once --all` against the feed farm (cold, then steady).

    .venv/bin/python -m bench.profile_ingest --feeds 1000 [--steady] [--profiler ...]

--profiler: pyinstrument (default), py-spy (every process), cprofile, split (CPU of the
daemon's process, its parser workers, its database thread and its event loop), perf
(Linux `perf record` of every process: native code and the kernel's share, read with
`perf report -i bench/out/profile-cold.perf --sort pid,dso`), none.

Writes the profile to bench/out/profile-{cold,steady}.*; the timings are printed.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.contenders import CPU_REPORTING_CLI, ROOT, Ingest, TreeMemory
from bench.feedfarm import Farm

OUT = ROOT / "bench" / "out"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--steady", action="store_true", help="profile the cycle after a round")
    parser.add_argument(
        "--profiler",
        default="pyinstrument",
        choices=["pyinstrument", "py-spy", "cprofile", "split", "perf", "none"],
    )
    parser.add_argument("--parser", default="auto")
    parser.add_argument(
        "--idle", action="store_true", help="py-spy: sample waiting threads too, not only CPU"
    )
    args = parser.parse_args()
    if args.profiler == "perf" and shutil.which("perf") is None:
        # Before the farm and the setup, which take longer than the answer.
        raise SystemExit("--profiler perf needs Linux perf (Debian: apt install linux-perf)")
    phase = "steady" if args.steady else "cold"
    home = OUT / "profile"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    with Farm(args.feeds) as farm:
        ingest = Ingest(home, farm.urls(), home / "log.txt", parser=args.parser)
        ingest.setup()
        argv = ingest.argv()
        if args.steady:
            subprocess.run(argv, check=True)
            farm.set_round(1)
        if args.profiler == "pyinstrument":
            report = OUT / f"profile-{phase}.txt"
            argv = [
                sys.executable,
                "-m",
                "pyinstrument",
                "-o",
                str(report),
                "-m",
                "ingest",
                *argv[1:],
            ]
        if args.profiler == "split":
            # The daemon's own process against its parser workers: which one is the limit.
            argv = [sys.executable, "-c", CPU_REPORTING_CLI, *argv[1:]]
        if args.profiler == "cprofile":
            report = OUT / f"profile-{phase}.prof"
            argv = [sys.executable, "-m", "cProfile", "-o", str(report), "-m", "ingest", *argv[1:]]
        if args.profiler == "perf":
            # Native frames and the kernel's share: where the system time goes.
            report = OUT / f"profile-{phase}.perf"
            argv = [
                "perf",
                "record",
                "-e",
                "cpu-clock",
                "-F",
                "499",
                "-g",
                "-o",
                str(report),
                "--",
                *argv,
            ]
        if args.profiler == "py-spy":
            report = OUT / f"profile-{phase}.raw"
            spy = str(Path(sys.executable).parent / "py-spy")
            argv = [
                spy,
                "record",
                *(["--idle"] if args.idle else []),
                "-r",
                "200",
                "-s",
                "-t",
                "-f",
                "raw",
                "-o",
                str(report),
                "--",
                *argv,
            ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.Popen(argv)
        # Not ru_maxrss: it keeps this harness's size at fork time (the whole farm).
        sampler = TreeMemory(process.pid)
        sampler.start()
        if process.wait() != 0:
            raise SystemExit(f"{argv[0]} exited with {process.returncode}")
        wall = time.perf_counter() - started
        sampler.stop()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rss = sampler.peak_kib / 1024  # the largest process of the tree, in MiB
        print(
            f"wall {wall:.2f} s; cpu {cpu:.2f} s; peak RSS {rss:.0f} MiB; "
            f"articles {ingest.articles()}"
        )


if __name__ == "__main__":
    main()
