"""Write a large watchlist: the starter one plus N generated aliases (two per entity).

    .venv/bin/python -m bench.big_watchlist 10000 bench/out/watchlist-10k.toml

The aliases are bench_match's (transliterated Latin-script and Arabic-script names with
the real variant expansion), so the daemon's cycle can be measured with a watchlist the
size a newsroom's entity list reaches: `python -m bench.compare BASE --watchlist FILE`.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from bench.bench_match import make_aliases
from bench.feedfarm import WATCHLIST


def big_watchlist(aliases: int, seed: int = 1) -> str:
    # A generated one-word name as short as "Waas" matches "was" (doubled letters are
    # tolerated) in every English article: real entity lists hold no such names.
    names = [name for name in make_aliases(aliases * 2, random.Random(seed)) if len(name) > 6]
    names = random.Random(seed).sample(names, aliases)
    parts = [WATCHLIST.read_text(encoding="utf-8")]
    for number, start in enumerate(range(0, len(names), 2)):
        pair = names[start : start + 2]
        parts.append(
            f'\n[[entities]]\nid = "bench-{number}"\nname = {json.dumps(pair[0])}\n'
            f'aliases = {json.dumps(pair, ensure_ascii=False)}\npriority = "off"\n'
        )
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("aliases", type=int)
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    text = big_watchlist(args.aliases)
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(text, encoding="utf-8")
    print(f"{args.path}: {len(text.encode()):,} bytes, {args.aliases:,} generated aliases")


if __name__ == "__main__":
    main()
