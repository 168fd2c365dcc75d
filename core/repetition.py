"""Repetition loops: the failure a weak language shows most ("Mae'n fwy'n fwy'n fwy'n …").

A hypothesis is flagged when its text compresses too well (gzip ratio over 2.4, the threshold Whisper's own
decoder uses to call a decode a failure and retry it) or when one 3-gram occurs 3 times or more. The evaluate
report counts flagged hypotheses before and after training.
"""

from __future__ import annotations

import zlib
from collections import Counter

COMPRESSION_RATIO = 2.4  # Whisper's compression_ratio_threshold
NGRAM = 3
REPEATS = 3


def compression_ratio(text: str) -> float:
    """Bytes of the text over bytes of it zlib-compressed (Whisper's measure)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def most_repeated(text: str, n: int = NGRAM) -> int:
    """How often the most frequent run of `n` words occurs (case and punctuation ignored)."""
    words = ["".join(ch for ch in w.casefold() if ch.isalnum() or ch == "'") for w in text.split()]
    words = [w for w in words if w]
    counts = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return max(counts.values(), default=0)


def is_loop(text: str) -> bool:
    return compression_ratio(text) > COMPRESSION_RATIO or most_repeated(text) >= REPEATS
