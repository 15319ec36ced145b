"""How each contender is set up and run, and how one run is measured.

A run is a subprocess tree; its figures come from `os.wait4` on it: wall time, CPU
time (user + sys of the process and every descendant it reaped, so parser workers
count) and peak RSS (ru_maxrss: the largest single process of the tree).
"""

from __future__ import annotations

import compileall
import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from bench.feedfarm import WATCHLIST

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INGEST = str(BIN / "ingest")
PYTHON = sys.executable


# ingest's CLI in the daemon's process (`bench.compare`, `bench.profile_ingest --profiler
# split`), with a thread that keeps each thread's CPU clock (threads end before atexit)
# and a report at exit: the daemon's process, its parser workers (reaped children), its
# database thread and its event loop. The guard matters: spawn runs this again in every
# parser worker.
CPU_REPORTING_CLI = """
import atexit, resource, sys, threading, time
seen = {}
def sample():
    while True:
        for thread in threading.enumerate():
            try:
                clock = time.pthread_getcpuclockid(thread.ident)
                seen[(thread.name, thread.ident)] = time.clock_gettime(clock)
            except (OSError, TypeError):
                pass
        time.sleep(0.05)
def report():
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    by_name = {}
    for (name, _ident), cpu in seen.items():
        by_name[name] = by_name.get(name, 0.0) + cpu
    print(f"daemon={own.ru_utime + own.ru_stime:.3f} "
          f"workers={workers.ru_utime + workers.ru_stime:.3f} "
          f"db={sum(v for k, v in by_name.items() if k.startswith('ingest-db')):.3f} "
          f"loop={by_name.get('MainThread', 0.0):.3f} "
          f"sys={own.ru_stime:.3f} workers_sys={workers.ru_stime:.3f}", file=sys.stderr)
    print("threads: " + " ".join(f"{k}={v:.3f}" for k, v in sorted(by_name.items())),
          file=sys.stderr)
if __name__ == "__main__":
    threading.Thread(target=sample, daemon=True, name="bench-sampler").start()
    atexit.register(report)
    sys.argv = ["ingest", *sys.argv[1:]]
    from ingest.entry import main
    main()
"""
CPU_REPORT = re.compile(r"daemon=([\d.]+) workers=([\d.]+) db=([\d.]+) loop=([\d.]+)")


@dataclass(frozen=True, slots=True)
class Measurement:
    wall: float
    cpu: float
    rss_mb: float
    returncode: int


def measure(argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None) -> Measurement:
    """Run `argv` to completion (output to `log`) and measure its whole process tree.

    Peak RSS is the largest VmHWM of the process and its descendants, sampled while they
    run. Not wait4's ru_maxrss: Linux keeps in it the size of the process before exec,
    i.e. of this harness at fork time, which holds the whole farm (670 MB at 10,000 feeds).
    """
    # Setting up (a restored snapshot: the database's 150 MB at 1,000 feeds) leaves dirty
    # pages behind; written back during the run, they slowed whoever ran next, by up to
    # a quarter of a steady cycle.
    os.sync()
    with log.open("ab") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        sampler = TreeMemory(process.pid)
        sampler.start()
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop()
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Measurement(wall, cpu, sampler.peak_kib / 1024, process.returncode)


class TreeMemory(threading.Thread):
    """Samples the high-water RSS (VmHWM) of a process and of its descendants."""

    def __init__(self, root: int, every: float = 0.05, rescan: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.every = every
        self.rescan = rescan
        self.peak_kib = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        # VmHWM is the kernel's own high-water mark: sampling only has to catch each
        # process before it ends. Finding the tree reads every /proc/N/stat (3 ms with the
        # machine's services), so it runs every `rescan` s, the cheap reads every `every`.
        tree: list[int] = []
        found_at = 0.0
        while not self._stop_event.is_set():
            if time.monotonic() - found_at >= self.rescan:
                tree, found_at = self._tree(), time.monotonic()
            for pid in tree:
                self.peak_kib = max(self.peak_kib, _hwm_kib(pid))
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def _tree(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        tree, frontier = [self.root], [self.root]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            tree.extend(frontier)
        return tree


def _hwm_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run_checked(argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("ab") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, check=True, env=env)


class Contender:
    """One tool under test, in its own directory `home`."""

    name = ""
    command = ""  # shown in RESULTS.md

    def __init__(self, home: Path, urls: list[str], log: Path) -> None:
        self.home = home
        self.urls = urls
        self.log = log

    def setup(self) -> None:
        """Make an empty instance (not timed)."""

    def argv(self) -> list[str]:
        raise NotImplementedError

    def articles(self) -> int:
        raise NotImplementedError

    def run(self) -> Measurement:
        result = measure(self.argv(), log=self.log)
        if result.returncode != 0:
            raise RuntimeError(f"{self.name} failed (exit {result.returncode}); see {self.log}")
        return result

    def snapshot(self, to: Path) -> None:
        """Move the instance to `to`, for `restore`: the home is gone afterwards.

        A move, not a copy: at 10,000 feeds a contender's database is over a gigabyte,
        which a copy wrote again and the next measured run's sync then flushed.
        """
        for shm in self.home.rglob("*-shm"):  # SQLite's shared memory: the next open remakes it
            shm.unlink()
        self.home.rename(to)

    def restore(self, snapshot: Path) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.copytree(snapshot, self.home)


def count_rows(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def write_opml(path: Path, urls: list[str]) -> None:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "<head><title>feed farm</title></head>",
        "<body>",
    ]
    lines += [
        f'<outline type="rss" text="farm" xmlUrl={quoteattr(u)} allowPrivate="true"/>' for u in urls
    ]
    lines += ["</body>", "</opml>", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def compile_bytecode() -> None:
    """Write ingest's .pyc files, as the first run of an installed copy does.

    This sandbox sets PYTHONDONTWRITEBYTECODE, and ingest is an editable install, so every
    process (the daemon and each parser worker) compiled ingest's modules from source at
    start: 190 ms of imports instead of 100 ms. The peers' code is in site-packages,
    compiled when pip installed it; without this, only ingest paid for compiling.
    """
    compileall.compile_dir(ROOT / "ingest", quiet=1)


class Ingest(Contender):
    name = "ingest"
    command = "ingest run --once --all --config DIR/config/ingest.toml"

    def __init__(
        self,
        home: Path,
        urls: list[str],
        log: Path,
        *,
        parser: str = "auto",
        database_url: str | None = None,
        watchlist: Path = WATCHLIST,
        code: Path = ROOT,
    ) -> None:
        super().__init__(home, urls, log)
        self.parser = parser
        # The checkout whose migrations make the schema (bench.compare runs another).
        self.code = code
        self.database_url = database_url
        self.watchlist = watchlist
        if parser != "auto":
            self.name = f"ingest --parser {parser}"
            self.command = (
                f"ingest run --once --all --parser {parser} --config DIR/config/ingest.toml"
            )

    @property
    def config(self) -> Path:
        return self.home / "config" / "ingest.toml"

    def setup(self) -> None:
        config = self.home / "config"
        config.mkdir(parents=True)
        shutil.copy(self.watchlist, config / "watchlist.toml")
        write_opml(config / "feeds.opml", self.urls)
        database = f'database_url = "{self.database_url}"\n' if self.database_url else ""
        self.config.write_text(
            'data_dir = "../data"\nfeeds_file = "feeds.opml"\nwatchlist_file = "watchlist.toml"\n'
            f'log_level = "warning"\n{database}\n[http]\nallow_private_networks = true\n'
            # The farm is one host standing for thousands: the per-host politeness limit
            # would cap every contender's requests in flight at 4 (the peers have none).
            "\n[polling]\nper_host = 64\n"
            # Full-text page fetching is a feature the peers lack: off, so like is
            # compared with like (and no article page is ever requested).
            "\n[fulltext]\nenabled = false\n",
            encoding="utf-8",
        )
        compile_bytecode()
        upgrade = ["db", "upgrade", "--config", str(self.config)]
        if self.code == ROOT:
            run_checked([INGEST, *upgrade], log=self.log)
        else:
            # -P: no current directory ahead of PYTHONPATH (see bench.compare).
            env = dict(os.environ, PYTHONPATH=str(self.code))
            run_checked([sys.executable, "-P", "-m", "ingest", *upgrade], log=self.log, env=env)

    def argv(self) -> list[str]:
        argv = [INGEST, "run", "--once", "--all", "--config", str(self.config)]
        if self.parser != "auto":
            argv[3:3] = ["--parser", self.parser]
        return argv

    @property
    def sqlite_path(self) -> Path:
        return self.home / "data" / "ingest.db"

    def articles(self) -> int:
        return count_rows(self.sqlite_path, "articles")


class Reader(Contender):
    name = "reader"
    command = "reader: make_reader(db).update_feeds(workers=8, scheduled=False)"

    @property
    def db(self) -> Path:
        return self.home / "reader.sqlite"

    def setup(self) -> None:
        self.home.mkdir(parents=True)
        urls = self.home / "urls.txt"
        urls.write_text("\n".join(self.urls))
        run_checked(
            [
                PYTHON,
                "-m",
                "bench.peers",
                "reader-setup",
                "--db",
                str(self.db),
                "--urls",
                str(urls),
            ],
            log=self.log,
        )

    def argv(self) -> list[str]:
        return [PYTHON, "-m", "bench.peers", "reader", "--db", str(self.db), "--workers", "8"]

    def articles(self) -> int:
        return count_rows(self.db, "entries")


class Naive(Contender):
    name = "naive loop"
    command = "python -m bench.peers naive (httpx.Client, conditional GET, feedparser, INSERT)"

    @property
    def db(self) -> Path:
        return self.home / "naive.sqlite"

    def setup(self) -> None:
        self.home.mkdir(parents=True)
        (self.home / "urls.txt").write_text("\n".join(self.urls))

    def argv(self) -> list[str]:
        return [
            PYTHON,
            "-m",
            "bench.peers",
            "naive",
            "--db",
            str(self.db),
            "--urls",
            str(self.home / "urls.txt"),
        ]

    def articles(self) -> int:
        return count_rows(self.db, "entries")
