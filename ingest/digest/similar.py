"""Near-duplicate stories: which flagged articles are copies of one another (pure).

Wire copy is republished with another headline, a dateline, a credit line, a paragraph
cut or added: exact titles or hashes miss it. Each text becomes a set of word 3-gram
shingles; a one-permutation MinHash signature (one hash per shingle, binned, densified)
goes through LSH banding to find candidate pairs without comparing all pairs; each
candidate is confirmed on its real shingle sets. Copies are joined transitively.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from itertools import combinations, pairwise

WORD = re.compile(r"\w+")
SHINGLE_WORDS = 3
# The lead identifies a story; copies diverge further down, and hashing less is faster.
MAX_WORDS = 300
BINS = 64
ROWS_PER_BAND = 2  # 32 bands: a pair with Jaccard 0.3 is a candidate 95% of the time
VALUE_BITS = 26  # a 32-bit shingle hash: 6 bits choose the bin, 26 are its value
VALUE_MASK = (1 << VALUE_BITS) - 1
# Confirmed when this share of the smaller text's shingles is in the other one: a short
# rewrite of a long wire story counts as a copy.
MIN_CONTAINMENT = 0.6
MIN_SHINGLES = 4  # below this a text is too short to call anything a copy of it
# A band bucket this crowded is boilerplate shared by many: chain its members instead
# of confirming every pair (keeps the worst case linear).
CROWDED_BUCKET = 32


def shingles(text: str) -> frozenset[int]:
    """The text's word 3-grams, hashed: each word once with crc32 (stable across runs,
    unlike hash()), then three word hashes mixed into one 32-bit shingle hash."""
    words = [zlib.crc32(word.encode()) for word in WORD.findall(text.casefold())[:MAX_WORDS]]
    return frozenset(
        (a * 0x9E3779B1 ^ b * 0x85EBCA6B ^ c * 0xC2B2AE35) & 0xFFFFFFFF
        for a, b, c in zip(words, words[1:], words[2:], strict=False)
    )


def signature(hashes: frozenset[int]) -> tuple[int, ...]:
    """One-permutation MinHash: a hash's top bits choose its bin, a bin keeps its minimum."""
    if not hashes:
        return ()
    # Sorted descending, the last hash written to each bin is its smallest.
    bins = {h >> VALUE_BITS: h & VALUE_MASK for h in sorted(hashes, reverse=True)}
    return tuple(_densified(bins))


def _densified(bins: dict[int, int]) -> list[int]:
    """Empty bins borrow the next filled bin to the right, tagged with the distance, so a
    borrowed value only matches a value borrowed the same way (Shrivastava & Li, 2014)."""
    out = [0] * BINS
    for index in range(BINS):
        for distance in range(BINS):
            value = bins.get((index + distance) % BINS)
            if value is not None:
                out[index] = value + (distance << VALUE_BITS)
                break
    return out


def candidate_pairs(signatures: Sequence[tuple[int, ...]]) -> set[tuple[int, int]]:
    """Index pairs sharing at least one LSH band.

    A band's key is one int (the band's number, then its values, 32 bits each) and a
    bucket is its first member until a second one comes: a day's flags make over a
    hundred thousand band keys, almost all of them alone, and as tuples and lists they
    kept the garbage collector scanning them over and over: ints are not tracked, and
    the build of bench/bench_digest.py's day took a sixth less time.
    """
    first: dict[int, int] = {}
    shared: dict[int, list[int]] = {}
    for index, sig in enumerate(signatures):
        for band in range(0, len(sig), ROWS_PER_BAND):
            key = band
            for value in sig[band : band + ROWS_PER_BAND]:
                key = key << 32 | value
            member = first.setdefault(key, index)
            if member != index:
                shared.setdefault(key, [member]).append(index)
    pairs: set[tuple[int, int]] = set()
    for members in shared.values():
        if len(members) > CROWDED_BUCKET:
            pairs.update(pairwise(members))
        else:
            pairs.update(combinations(members, 2))
    return pairs


def is_copy(a: frozenset[int], b: frozenset[int]) -> bool:
    smaller = min(len(a), len(b))
    if smaller < MIN_SHINGLES:
        return False
    return len(a & b) >= MIN_CONTAINMENT * smaller


def copy_clusters(texts: Sequence[str]) -> list[list[int]]:
    """Groups of indices into `texts` that are copies of one story; singletons included,
    each group in index order, groups in order of their first index."""
    sets = [shingles(text) for text in texts]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in sorted(candidate_pairs([signature(s) for s in sets])):
        if root(i) != root(j) and is_copy(sets[i], sets[j]):
            parent[max(root(i), root(j))] = min(root(i), root(j))
    clusters: dict[int, list[int]] = {}
    for index in range(len(texts)):
        clusters.setdefault(root(index), []).append(index)
    return list(clusters.values())
