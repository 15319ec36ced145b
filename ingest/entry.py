"""The `ingest` console script's entry point, kept free of imports.

multiprocessing's spawn start method runs the parent's main module again in every
worker (as `__mp_main__`). For the console script that module is the script pip
writes, which imports whatever the entry point names: naming `ingest.cli` made each
parser worker import the whole command line, SQLAlchemy and the digest stack with it
(~1 s of CPU per worker, competing with the daemon for the same cores).
"""

from __future__ import annotations


def main() -> None:
    from ingest.cli import main as cli_main

    cli_main()
