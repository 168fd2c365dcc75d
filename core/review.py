"""The captions editor's model: per-cue flags, keyword suggestions, search, split positions and new cues.

Kept out of the TUI (the editor screen and its cue table are thin views over it) so that tests drive the
editor's logic headless. The edits themselves, their undo and saving are `core/editing.py`; this module
says what is worth a look in each cue, where a split goes, where a new cue fits and what a search finds.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from core.captions import Captions, Cue, Finding, validate
from core.editing import EditOp, Insert, Splice
from core.vocabulary import Keyword, Suggestion, find_keywords, suggest

# ---------------------------------------------------------------------------- the editor's model
#
# The table shows, per cue, flags from three sources: the validator's findings (errors and warnings),
# keyword suggestions (probable mis-hearings of a keyword) and words the engine was unsure of. Findings
# are cheap and depend on a cue and the one before it, so after an edit only the changed cues and the cue
# after them are re-checked. Suggestions cost milliseconds per cue, so they are computed per distinct text,
# cached, and filled in by a background worker (`pending_texts` / `compute_suggestions` / `add_suggestions`);
# `flags(i)` says None for suggestions not computed yet.

LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class CueFlags:
    """What is worth a look in one cue. `suggestions` is None while not computed yet."""

    findings: tuple[Finding, ...] = ()
    suggestions: tuple[Suggestion, ...] | None = ()
    low_confidence: tuple[tuple[int, int], ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def flagged(self) -> bool:
        return bool(self.findings or self.suggestions or self.low_confidence)

    @property
    def marks(self) -> str:
        """The table's flags cell: E error, W warning, K keyword suggestion, ? unsure words, … pending."""
        return "".join(mark for mark, on in (("E", self.errors), ("W", self.warnings), ("K", self.suggestions),
                                             ("?", self.low_confidence), ("…", self.suggestions is None)) if on)


def low_confidence_spans(cue: Cue, threshold: float = LOW_CONFIDENCE) -> tuple[tuple[int, int], ...]:
    """Character spans of the cue's words whose probability is below `threshold` (words found in order)."""
    spans, cursor = [], 0
    for word in cue.words:
        needle = word.text.strip()
        found = cue.text.find(needle, cursor) if needle else -1
        if found < 0:
            continue
        cursor = found + len(needle)
        if word.probability is not None and word.probability < threshold:
            spans.append((found, cursor))
    return tuple(spans)


def _same_run(old: Sequence[Cue], new: Sequence[Cue], limit: int) -> int:
    """How many leading cues are the same: runs of identical objects are skipped in C, equality is the fallback."""
    count = 0
    while count < limit:
        count += len(list(itertools.takewhile(bool, map(operator.is_, itertools.islice(old, count, limit),
                                                           itertools.islice(new, count, limit)))))
        if count < limit and old[count] == new[count]:
            count += 1
        else:
            break
    return count


def changed_span(old: Sequence[Cue], new: Sequence[Cue]) -> tuple[int, int, int] | None:
    """(start, old_end, new_end): `old[start:old_end]` became `new[start:new_end]`; None when nothing did.

    Runs on every key press: edits keep untouched cues as the same objects, so this costs microseconds."""
    limit = min(len(old), len(new))
    start = _same_run(old, new, limit)
    if start == len(old) == len(new):
        return None
    tail = _same_run(old[::-1], new[::-1], limit - start)
    return start, len(old) - tail, len(new) - tail


def _index_free(finding: Finding) -> Finding:
    """Findings move with their cue, so the index they were computed at is dropped."""
    return replace(finding, index=None, line=None)


class Review:
    """Per-cue flags for a list of cues that is being edited (see the section comment).

    Findings come in two kinds: `notices` from reading the file (an arrow typo in this cue's timing line),
    which stay with their cue until it is edited, and `checks` (timing, length, reading speed), which are
    re-run for the changed cues and their neighbour after every edit.
    """

    def __init__(self, captions: Captions | Sequence[Cue], keywords: Sequence[Keyword] = (),
                 audio_ms: int | None = None) -> None:
        if not isinstance(captions, Captions):
            captions = Captions(cues=list(captions))
        self.audio_ms = audio_ms
        self.keywords: tuple[Keyword, ...] = tuple(keywords)
        self.generation = 0  # bumped when the keywords change: stale background results are dropped
        self._suggestions: dict[str, tuple[Suggestion, ...]] = {}
        self._spans: dict[str, tuple[tuple[int, int], ...]] = {}
        self.cues: tuple[Cue, ...] = tuple(captions.cues)
        problem_codes = {p.code for p in captions.problems}
        notices: list[list[Finding]] = [[] for _ in self.cues]
        file_level = []
        for finding in validate(replace(captions, cues=list(self.cues)), audio_ms):
            if finding.index is None:
                file_level.append(finding)
            elif finding.code in problem_codes:
                notices[finding.index].append(_index_free(finding))
        self.file_findings: tuple[Finding, ...] = tuple(file_level)
        self._notices = [tuple(n) for n in notices]
        self._checks: list[tuple[Finding, ...]] = self._check(self.cues, 0)

    def _check(self, cues: Sequence[Cue], skip: int) -> list[tuple[Finding, ...]]:
        """Cue checks for `cues`, dropping the first `skip` (given only as the previous cue's context)."""
        out: list[list[Finding]] = [[] for _ in cues]
        for finding in validate(cues, self.audio_ms):
            if finding.index is not None:
                out[finding.index].append(_index_free(finding))
        return [tuple(f) for f in out[skip:]]

    def __len__(self) -> int:
        return len(self.cues)

    # -- edits

    def update(self, cues: Sequence[Cue]) -> tuple[int, int, int] | None:
        """Take the cues after an edit; re-check only what changed. Returns `changed_span` (None: nothing)."""
        cues = tuple(cues)
        span = changed_span(self.cues, cues)
        if span is None:
            return None
        start, old_end, new_end = span
        stop = min(new_end + 1, len(cues))  # the cue after the change: its overlap check moved
        window = max(start - 1, 0)
        self._checks[start:old_end + (stop - new_end)] = self._check(cues[window:stop], start - window)
        self._notices[start:old_end] = [()] * (new_end - start)
        self.cues = cues
        return span

    def set_keywords(self, keywords: Sequence[Keyword]) -> None:
        self.keywords = tuple(keywords)
        self.generation += 1
        self._suggestions.clear()
        self._spans.clear()

    def set_audio_ms(self, audio_ms: int | None) -> None:
        """Knowing the audio's length adds the 'past-audio' check: re-check every cue (milliseconds)."""
        self.audio_ms = audio_ms
        self._checks = self._check(self.cues, 0)

    # -- flags

    def flags(self, index: int, compute: bool = False) -> CueFlags:
        """The flags of cue `index`; suggestions are None until computed (now, when `compute`)."""
        cue = self.cues[index]
        suggestions = self._suggestions.get(cue.text)
        if suggestions is None and compute:
            suggestions = self._suggest(cue.text)
        if suggestions is not None:
            suggestions = tuple(replace(s, index=index) for s in suggestions)
        return CueFlags(self._notices[index] + self._checks[index], suggestions, low_confidence_spans(cue))

    def _suggest(self, text: str) -> tuple[Suggestion, ...]:
        found = compute_suggestions([text], self.keywords)[text]
        self._suggestions[text] = found
        return found

    def suggestion_at(self, index: int, position: int | None = None) -> Suggestion | None:
        """The suggestion containing character `position` of cue `index`, else the cue's first one."""
        suggestions = self.flags(index, compute=True).suggestions or ()
        if position is not None:
            for s in suggestions:
                if s.start <= position <= s.end:
                    return s
        return suggestions[0] if suggestions else None

    def keyword_spans(self, text: str) -> tuple[tuple[int, int], ...]:
        """Where keywords are in `text` (cached per text, for highlighting)."""
        spans = self._spans.get(text)
        if spans is None:
            if len(self._spans) > 8192:
                self._spans.clear()
            spans = tuple((m.start, m.end) for m in find_keywords(text, self.keywords))
            self._spans[text] = spans
        return spans

    def next_flagged(self, start: int, step: int = 1, wrap: bool = True) -> int | None:
        """The next cue after `start` (before it, when step is -1) with any flag; computes suggestions on
        the way where the background worker has not yet."""
        count = len(self.cues)
        for offset in range(1, count + (1 if wrap else 0)):
            index = start + step * offset
            if not wrap and not 0 <= index < count:
                return None
            index %= count
            if self.flags(index, compute=True).flagged:
                return index
        return None

    # -- background filling of suggestions

    def pending_texts(self, order: Iterable[int] = ()) -> list[str]:
        """Texts with no suggestions computed yet: the cues in `order` first, then all others in order."""
        seen: set[str] = set()
        out = []
        for index in [*order, *range(len(self.cues))]:
            if 0 <= index < len(self.cues):
                text = self.cues[index].text
                if text not in seen and text not in self._suggestions:
                    seen.add(text)
                    out.append(text)
        return out

    def add_suggestions(self, results: Mapping[str, tuple[Suggestion, ...]], generation: int) -> bool:
        """Take a worker's results; False (and ignored) when the keywords changed since it started."""
        if generation != self.generation:
            return False
        self._suggestions.update(results)
        return True

    def indices_of(self, texts: Iterable[str]) -> list[int]:
        wanted = set(texts)
        return [i for i, cue in enumerate(self.cues) if cue.text in wanted]


def compute_suggestions(texts: Sequence[str], keywords: Sequence[Keyword]) -> dict[str, tuple[Suggestion, ...]]:
    """Suggestions per text (with index 0), for the cache of a Review; pure, so a worker thread may run it."""
    out: dict[str, list[Suggestion]] = {text: [] for text in texts}
    for s in suggest(list(texts), keywords):
        out[texts[s.index]].append(replace(s, index=0))
    return {text: tuple(found) for text, found in out.items()}


@dataclass(frozen=True)
class ReplaceAll(EditOp):
    """Replace every cue (restoring an autosave): one undoable step, so undo goes back to the saved file."""

    cues: tuple[Cue, ...]
    label: str = "restore autosave"

    def plan(self, cues: Sequence[Cue]) -> Splice:
        return Splice(0, tuple(cues), tuple(self.cues))

    def describe(self) -> str:
        return self.label


def split_position(text: str, cursor: int | None) -> int:
    """Where to split a cue: at the editor's cursor when it is inside the text, else at the space nearest
    the middle (so a split key works even before the user placed the cursor)."""
    if cursor is not None and 0 < cursor < len(text) and text[:cursor].strip() and text[cursor:].strip():
        return cursor
    spaces = [m.start() for m in re.finditer(r" ", text)]
    if not spaces:
        return len(text) // 2
    return min(spaces, key=lambda i: (abs(i - len(text) / 2), i))


NEW_CUE_MS = 1000


def new_cue_after(cues: Sequence[Cue], index: int | None) -> Insert:
    """An Insert op for an empty cue after cue `index` (at the start when None): in the gap before the
    next cue when there is one, else one second long."""
    position = 0 if index is None else index + 1
    start = cues[index].end if index is not None and cues else 0
    end = start + NEW_CUE_MS
    if position < len(cues) and cues[position].start > start:
        end = min(end, cues[position].start)
    return Insert(position, Cue(start, max(end, start + 1), ""))


def find_next(cues: Sequence[Cue], query: str, start: int, step: int = 1) -> int | None:
    """The next cue after `start` (wrapping) whose text contains `query`, ignoring case; None if none."""
    needle = query.casefold().strip()
    if not needle or not cues:
        return None
    for offset in range(1, len(cues) + 1):
        index = (start + step * offset) % len(cues)
        if needle in cues[index].text.casefold():
            return index
    return None


def match_spans(text: str, query: str) -> tuple[tuple[int, int], ...]:
    """Where `query` occurs in `text`, ignoring case (for highlighting search hits)."""
    needle = query.strip()
    if not needle:
        return ()
    return tuple((m.start(), m.end()) for m in re.finditer(re.escape(needle), text, re.IGNORECASE))
