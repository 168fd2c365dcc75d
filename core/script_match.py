"""Where each line of a script was read: the script's words matched, in order, to a draft of the recording.

difflib blocks of two or more words anchor the match, and equal-length gaps between blocks are paired one to one (a
misheard keyword sits in such a gap). Per line this shows whether it was read (a line with almost nothing matched
was skipped), read twice (its words matched in two readings, or a run of draft words the script has no room for
that sounds like it), or read differently (few of its plain words heard as written). The draft spells and splits
words its own way ("8 -5 -7B" for "8x7B"), so word counts are compared with slack, never exactly.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.captions import Word
from core.vocabulary import find_keywords

SKIP_SHARE = 0.3  # a line with less than this share of its words found in the draft was not read
CHANGED_SHARE = 0.4  # below this share of its (non-keyword) words heard as written, a line is flagged as changed
# (tiny.en's drafts of the sample's jargon lines hear 0.5 to 1.0 of the plain words right)
MIN_INSERTION_WORDS = 3  # fewer unmatched draft words are a mis-hearing, never a line said again
MAX_JUMP = 4  # a draft jump this much longer than twice the line's skipped words starts another reading
MIN_ADDED_WORDS = 8  # unmatched draft words that are no line: shorter runs are the neighbours' misheard words
REPEAT_SIMILARITY = 0.6  # an inserted run this similar to a nearby line is that line said again


@dataclass
class Stretch:
    """One stretch of speech to place: a script line, a line said again, or added speech (draft words only)."""

    kind: str  # line | repeat | added
    line: int | None
    text: str
    words: list[str]  # the words to force (the script's, for line and repeat)
    first: int  # draft word span [first, last] (indices), the anchor in the recording
    last: int
    changed: bool = False
    unsure: bool = False  # not force-aligned (longer than a window): times spread over the draft's span
    start_ms: int = 0  # the stretch of audio the item owns, set by core.align
    end_ms: int = 0
    timed: list[Word] = field(default_factory=list)


def normalized(word: str) -> str:
    """A word as compared with the draft: case, accents' forms and punctuation do not count."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", word).casefold() if ch.isalnum())


# ---------------------------------------------------------------------------- matching the draft


def pair_words(script: Sequence[str], draft: Sequence[str]) -> dict[int, tuple[int, bool]]:
    """Script word index → (draft word index, exact) for words read where the draft heard them, in order."""
    a, b = [normalized(w) for w in script], [normalized(w) for w in draft]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    blocks = [m for m in matcher.get_matching_blocks() if m.size >= 2 or (m.size == 1 and len(a[m.a]) >= 4)]
    pairs: dict[int, tuple[int, bool]] = {}
    previous_a = previous_b = 0
    for block in [*blocks, difflib.Match(len(a), len(b), 0)]:
        gap_a, gap_b = block.a - previous_a, block.b - previous_b
        if 0 < gap_a == gap_b <= 4:  # the same number of words between two blocks: read, but heard otherwise
            pairs.update({previous_a + k: (previous_b + k, False) for k in range(gap_a)})
        pairs.update({block.a + k: (block.b + k, True) for k in range(block.size)})
        previous_a, previous_b = block.a + block.size, block.b + block.size
    return pairs


def _keyword_words(line: str, keywords: Sequence[str]) -> set[int]:
    """Indices of the line's words that belong to a keyword occurrence (core.vocabulary's matcher)."""
    spans = [(m.start, m.end) for m in find_keywords(line, keywords)]
    return {index for index, word in enumerate(re.finditer(r"\S+", line))
            if any(word.start() < end and start < word.end() for start, end in spans)}


def plan_items(lines: Sequence[str], draft_words: Sequence[Word], keywords: Sequence[str] = ()
               ) -> tuple[list[Stretch], list[int]]:
    """The stretches of speech in the recording's order, and the lines that were skipped."""
    script = [(index, word) for index, line in enumerate(lines) for word in line.split()]
    pairs = pair_words([w for _, w in script], [w.text for w in draft_words])
    per_line: dict[int, list[tuple[int, int, bool]]] = {}  # line → [(word in line, draft index, exact)]
    offsets = np.cumsum([0] + [len(line.split()) for line in lines])
    for position, (draft_index, exact) in pairs.items():
        line = script[position][0]
        per_line.setdefault(line, []).append((position - int(offsets[line]), draft_index, exact))
    items: list[Stretch] = []
    skipped: list[int] = []
    for index, line in enumerate(lines):
        count = len(line.split())
        readings = _readings(per_line.get(index, []))
        found = max(readings, key=len) if readings else []
        if len(found) < max(1, SKIP_SHARE * count):
            skipped.append(index)
            continue
        keyword_words = _keyword_words(line, keywords)
        plain = count - len(keyword_words)
        exact = sum(1 for pair in found if pair[2] and pair[0] not in keyword_words)
        changed = plain >= 3 and exact < CHANGED_SHARE * plain
        # script words before the line's first anchor (after its last) are taken to be as many draft words there
        head, tail = min(f[0] for f in found), count - 1 - max(f[0] for f in found)
        first = max(0, min(f[1] for f in found) - head)
        last = min(len(draft_words) - 1, max(f[1] for f in found) + tail)
        split = _said_twice(line, readings, draft_words)
        if split is not None:  # read twice: the first reading is the repeat, the second the line
            items.append(Stretch("repeat", index, line, line.split(), split[0], split[1] - 1))
            first, last, changed = split[1], split[2], False
        items.append(Stretch("line", index, line, line.split(), first, last, changed=changed))
    items.sort(key=lambda item: item.first)
    for previous, item in zip(items, items[1:], strict=False):  # the stretches never overlap
        item.first = min(max(item.first, previous.last + 1), item.last)
    return _earlier_is_repeat(_with_insertions(items, lines, draft_words, keywords)), skipped


def _readings(found: list[tuple[int, int, bool]]) -> list[list[tuple[int, int, bool]]]:
    """The line's pairs grouped by reading: a jump in the draft much longer than the words skipped in the line
    starts another reading (a line said twice gets its words matched partly in one reading, partly in the other).
    Draft words are compared with care: the draft splits words differently ("8 -5 -7B" for "8x7B")."""
    found = sorted(found, key=lambda f: f[1])
    groups: list[list[tuple[int, int, bool]]] = []
    for pair in found:
        if groups:
            word_gap, draft_gap = pair[0] - groups[-1][-1][0], pair[1] - groups[-1][-1][1]
            if word_gap > 0 and draft_gap <= 2 * word_gap + MAX_JUMP:
                groups[-1].append(pair)
                continue
        groups.append([pair])
    return groups


def _said_twice(line: str, readings: list[list[tuple[int, int, bool]]], draft: Sequence[Word]
                ) -> tuple[int, int, int] | None:
    """(first, split, last) draft indices when the line's pairs fall in two readings that each sound like the
    whole line: [first, split) is one reading and [split, last] the other. The split is where both halves
    are most like the line."""
    big = [r for r in readings if len(r) >= 2]
    if len(big) < 2:
        return None
    first, last = min(p[1] for p in big[0]), max(p[1] for p in big[-1])
    if last - first > 4 * len(line.split()) + 8:
        return None
    texts = [normalized(w.text) for w in draft[first:last + 1]]
    scored = [(_similarity(" ".join(texts[:k]), line) + _similarity(" ".join(texts[k:]), line), k)
              for k in range(1, len(texts))]
    score, k = max(scored)
    if score < 2 * REPEAT_SIMILARITY:
        return None
    return first, first + k, last


def _with_insertions(items: list[Stretch], lines: Sequence[str], draft: Sequence[Word],
                     keywords: Sequence[str]) -> list[Stretch]:
    """Add the runs of draft words no line accounts for: a line said again, or speech the script lacks."""
    out: list[Stretch] = []
    edges: list[Stretch | None] = [None, *items, None]
    for item, following in zip(edges, edges[1:], strict=False):
        if item is not None:
            out.append(item)
        after = item.last if item is not None else -1
        before = following.first if following is not None else len(draft)
        run = list(range(after + 1, before))
        if len(run) < MIN_INSERTION_WORDS:
            continue
        text = " ".join(draft[i].text for i in run)
        nearby = [i for i in range(len(lines))
                  if any(abs(i - (x.line or 0)) <= 3 for x in (item, following) if x is not None)]
        best, score = _most_similar(text, [lines[i] for i in nearby])
        if best is not None and score >= REPEAT_SIMILARITY:
            line = nearby[best]
            out.append(Stretch("repeat", line, lines[line], lines[line].split(), run[0], run[-1]))
        elif len(run) >= MIN_ADDED_WORDS:
            out.append(Stretch("added", None, text, [draft[i].text for i in run], run[0], run[-1]))
    return out


def _earlier_is_repeat(items: list[Stretch]) -> list[Stretch]:
    """Of a line's two readings the earlier is called the repeat (people say a line again to put it right), the
    later the line: kinds are swapped where the matching found them the other way round."""
    for index, item in enumerate(items):
        if item.kind != "repeat":
            continue
        earlier = next((i for i in range(index) if items[i].kind == "line" and items[i].line == item.line), None)
        if earlier is not None:
            items[earlier].kind, item.kind = "repeat", "line"
            items[earlier].changed, item.changed = False, items[earlier].changed
    return items


def _similarity(a: str, b: str) -> float:
    """0–1: how alike two texts are, letters and digits only (the draft spaces words its own way)."""
    from rapidfuzz import fuzz

    return fuzz.ratio("".join(normalized(w) for w in a.split()), "".join(normalized(w) for w in b.split())) / 100


def _most_similar(text: str, candidates: Sequence[str]) -> tuple[int | None, float]:
    scores = [_similarity(text, c) for c in candidates]
    if not scores:
        return None, 0.0
    best = int(np.argmax(scores))
    return best, scores[best]
