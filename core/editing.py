"""Editing captions: the cue edits, their undo history, and how edited captions reach disk without loss.

Kept apart from `core/captions.py` (the cue model and its file formats) so that each stays readable: this
module is what the editor, the keyword fixer and the aligner change captions through.

Editing is a list of small command objects (EditOp) run through an EditSession with unlimited
undo/redo; every op reduces to one Splice, whose inverse is again a Splice, so undo needs nothing
op-specific. Saving keeps a ring of backups in `captions/.history/` and writes atomically; an autosave
sidecar (JSON, so word timings survive) guards a crash until the next save.
"""

from __future__ import annotations

import bisect
import difflib
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.captions import FORMATS, Captions, Cue, Word, _format_of, clean_text, read, render, to_json
from core.errors import InputError
from core.files import atomic_write_bytes, atomic_write_text

BACKUPS_KEPT = 20


# ---------------------------------------------------------------------------- editing


@dataclass(frozen=True)
class Splice:
    """The one change every edit makes: `cues[index:index + len(removed)]` becomes `inserted`.

    Its inverse is a splice too, so undo and redo need nothing op-specific.
    """

    index: int
    removed: tuple[Cue, ...]
    inserted: tuple[Cue, ...]

    def apply(self, cues: tuple[Cue, ...]) -> tuple[Cue, ...]:
        return cues[: self.index] + self.inserted + cues[self.index + len(self.removed):]

    def inverse(self) -> Splice:
        return Splice(self.index, self.inserted, self.removed)

    @property
    def changes(self) -> bool:
        return self.removed != self.inserted


def _at(cues: Sequence[Cue], index: int) -> Cue:
    """The cue at `index`, or one InputError line naming it as the user sees it (1-based)."""
    if not 0 <= index < len(cues):
        raise InputError(f"there is no cue {index + 1} (there are {len(cues)})")
    return cues[index]


def _word_spans(text: str, words: Sequence[Word]) -> list[tuple[int, int]] | None:
    """Where each word sits in the cue text (found in order), or None when they do not match it."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for word in words:
        needle = word.text.strip()
        found = text.find(needle, cursor)
        if found < 0:
            return None
        spans.append((found, found + len(needle)))
        cursor = found + len(needle)
    return spans


def _retext(cue: Cue, text: str) -> Cue:
    """`cue` with new text and the same timing; word timings follow a token diff of old → new text.

    Unchanged tokens keep their words; a changed run of tokens becomes one word spanning the words it
    replaces (so "mix trawl" → "Mixtral" keeps its timing); deleted tokens drop their words.
    """
    if text == cue.text or not cue.words:
        return replace(cue, text=text)
    spans = _word_spans(cue.text, cue.words)
    old = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", cue.text)]
    if spans is None or not old:
        return replace(cue, text=text)  # the words did not describe the text before either: keep them
    new = text.split()
    ends = [end for _, end, _ in old]
    first_token = [min(bisect.bisect_right(ends, start), len(old) - 1) for start, _ in spans]
    words: list[Word] = []
    matcher = difflib.SequenceMatcher(None, [t for _, _, t in old], new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        hit = [w for w, token in zip(cue.words, first_token, strict=True) if i1 <= token < i2]
        if tag == "equal":
            words += hit
        elif hit and j2 > j1:
            words.append(Word(min(w.start for w in hit), max(w.end for w in hit), " ".join(new[j1:j2])))
    return replace(cue, text=text, words=tuple(words))


@dataclass(frozen=True)
class EditOp:
    """A user's edit as data: `plan` checks it against the cues (InputError if it cannot apply) and
    says what it changes; `apply` is the plain function form used to replay edits."""

    def plan(self, cues: Sequence[Cue]) -> Splice:
        raise NotImplementedError

    def apply(self, cues: Sequence[Cue]) -> tuple[Cue, ...]:
        cues = tuple(cues)
        return self.plan(cues).apply(cues)

    def describe(self) -> str:
        """A short label for menus and the status line ("split cue 3")."""
        return type(self).__name__


@dataclass(frozen=True)
class EditText(EditOp):
    """Replace a cue's text (cleaned to one line); timing unchanged, word timings follow the diff."""

    index: int
    text: str

    def plan(self, cues: Sequence[Cue]) -> Splice:
        old = _at(cues, self.index)
        return Splice(self.index, (old,), (_retext(old, clean_text(self.text)),))

    def describe(self) -> str:
        return f"edit cue {self.index + 1}"


@dataclass(frozen=True)
class ReplaceSpan(EditOp):
    """Replace `text[char_start:char_end]` of one cue (keyword corrections): text only, never timing."""

    index: int
    char_start: int
    char_end: int
    replacement: str

    def plan(self, cues: Sequence[Cue]) -> Splice:
        old = _at(cues, self.index)
        if not 0 <= self.char_start <= self.char_end <= len(old.text):
            raise InputError(f"characters {self.char_start}-{self.char_end} are outside cue {self.index + 1}'s text "
                             f"({len(old.text)} characters)")
        text = old.text[: self.char_start] + self.replacement + old.text[self.char_end:]
        return Splice(self.index, (old,), (_retext(old, clean_text(text)),))

    def describe(self) -> str:
        return f"replace {self.replacement!r} in cue {self.index + 1}"


@dataclass(frozen=True)
class Split(EditOp):
    """Split a cue at a character position into two cues that share the boundary time.

    The time is the middle of the gap between the last word before and the first word after the
    position when word timings cover both sides, else proportional to characters.
    """

    index: int
    position: int

    def plan(self, cues: Sequence[Cue]) -> Splice:
        cue = _at(cues, self.index)
        left_text, right_text = cue.text[: self.position].strip(), cue.text[self.position:].strip()
        if not 0 < self.position < len(cue.text) or not left_text or not right_text:
            raise InputError(f"cannot split cue {self.index + 1} at character {self.position}: "
                             "choose a place with text on both sides")
        if cue.duration < 2:
            raise InputError(f"cue {self.index + 1} is too short to split ({cue.duration} ms)")
        spans = _word_spans(cue.text, cue.words)
        time = cue.start + round(cue.duration * self.position / len(cue.text))
        if spans is not None:
            left = [w for w, (s, e) in zip(cue.words, spans, strict=True) if s + e < 2 * self.position]
            right = list(cue.words[len(left):])
            if left and right:
                time = (left[-1].end + right[0].start) // 2
        time = min(max(time, cue.start + 1), cue.end - 1)
        if spans is None:
            left = [w for w in cue.words if w.start + w.end < 2 * time]
            right = [w for w in cue.words if w.start + w.end >= 2 * time]
        first = replace(cue, end=time, text=left_text, words=tuple(left))
        second = replace(cue, start=time, text=right_text, id="", words=tuple(right))
        return Splice(self.index, (cue,), (first, second))

    def describe(self) -> str:
        return f"split cue {self.index + 1}"


@dataclass(frozen=True)
class MergeWithNext(EditOp):
    """Merge a cue with the next one: texts joined with a space, words concatenated, the first's id."""

    index: int

    def plan(self, cues: Sequence[Cue]) -> Splice:
        first = _at(cues, self.index)
        if self.index + 1 >= len(cues):
            raise InputError(f"cue {self.index + 1} is the last one: nothing to merge it with")
        second = cues[self.index + 1]
        merged = replace(first, start=min(first.start, second.start), end=max(first.end, second.end),
                         text=" ".join(t for t in (first.text, second.text) if t), words=first.words + second.words)
        return Splice(self.index, (first, second), (merged,))

    def describe(self) -> str:
        return f"merge cues {self.index + 1} and {self.index + 2}"


@dataclass(frozen=True)
class Nudge(EditOp):
    """Move a cue's start and/or end; clamped so start ≥ 0 and end > start.

    Neighbours are left alone (an overlap is the validator's warning, not a reason to refuse), and so
    are word timings: they say when the words were heard, whatever the cue's boundaries.
    """

    index: int
    start_delta_ms: int = 0
    end_delta_ms: int = 0

    def plan(self, cues: Sequence[Cue]) -> Splice:
        cue = _at(cues, self.index)
        start = max(0, cue.start + self.start_delta_ms)
        end = max(1, cue.end + self.end_delta_ms)
        if end <= start:
            if self.end_delta_ms:
                end = start + 1
            else:
                start = end - 1
        return Splice(self.index, (cue,), (replace(cue, start=start, end=end),))

    def describe(self) -> str:
        return f"nudge cue {self.index + 1}"


@dataclass(frozen=True)
class ShiftRange(EditOp):
    """Move cues `first`..`last` (inclusive) and their words by `delta_ms`, clamped so none goes below 0."""

    first: int
    last: int
    delta_ms: int

    def plan(self, cues: Sequence[Cue]) -> Splice:
        _at(cues, self.first)
        _at(cues, self.last)
        if self.last < self.first:
            raise InputError(f"cue range {self.first + 1}-{self.last + 1} is backwards")
        chosen = tuple(cues[self.first: self.last + 1])
        lowest = min([c.start for c in chosen] + [w.start for c in chosen for w in c.words])
        delta = max(self.delta_ms, -max(lowest, 0)) if self.delta_ms < 0 else self.delta_ms

        def shift(cue: Cue) -> Cue:
            words = tuple(replace(w, start=w.start + delta, end=w.end + delta) for w in cue.words)
            return replace(cue, start=cue.start + delta, end=cue.end + delta, words=words)

        return Splice(self.first, chosen, tuple(shift(c) for c in chosen))

    def describe(self) -> str:
        return f"shift cues {self.first + 1}-{self.last + 1}"


@dataclass(frozen=True)
class Insert(EditOp):
    """Insert a new cue before `index` (`index == len(cues)` appends); its text is cleaned."""

    index: int
    cue: Cue

    def plan(self, cues: Sequence[Cue]) -> Splice:
        if not 0 <= self.index <= len(cues):
            raise InputError(f"cannot insert at position {self.index + 1} (there are {len(cues)} cues)")
        if self.cue.start < 0 or self.cue.end <= self.cue.start:
            raise InputError(f"a new cue needs 0 ≤ start < end, not {self.cue.start}-{self.cue.end} ms")
        return Splice(self.index, (), (replace(self.cue, text=clean_text(self.cue.text)),))

    def describe(self) -> str:
        return f"insert cue {self.index + 1}"


@dataclass(frozen=True)
class Delete(EditOp):
    """Delete one cue."""

    index: int

    def plan(self, cues: Sequence[Cue]) -> Splice:
        return Splice(self.index, (_at(cues, self.index),), ())

    def describe(self) -> str:
        return f"delete cue {self.index + 1}"


@dataclass(frozen=True)
class _Step:
    op: EditOp
    splice: Splice
    state: int  # the id of the state this step leads to (the initial state is 0)


class EditSession:
    """Captions being edited: unlimited undo/redo, a revision counter (bumped by every change, for
    autosave) and a dirty flag that knows when undo brought the cues back to what was saved."""

    def __init__(self, captions: Captions | Iterable[Cue] = ()) -> None:
        self.base = captions if isinstance(captions, Captions) else Captions(cues=list(captions))
        self._original = tuple(self.base.cues)
        self._cues = self._original
        self._done: list[_Step] = []
        self._undone: list[_Step] = []
        self._next_state = 1
        self._saved_state = 0
        self.revision = 0

    @property
    def cues(self) -> tuple[Cue, ...]:
        return self._cues

    @property
    def source(self) -> Path | None:
        return self.base.source

    @property
    def _state(self) -> int:
        return self._done[-1].state if self._done else 0

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def dirty(self) -> bool:
        return self._state != self._saved_state

    @property
    def undo_stack(self) -> tuple[EditOp, ...]:
        """The applied edits, oldest first (what undo walks back)."""
        return tuple(step.op for step in self._done)

    @property
    def redo_stack(self) -> tuple[EditOp, ...]:
        """The undone edits, next to redo first."""
        return tuple(step.op for step in reversed(self._undone))

    def apply(self, op: EditOp) -> bool:
        """Apply an edit; False (and nothing recorded) when it changes nothing. InputError leaves all as is."""
        splice = op.plan(self._cues)
        if not splice.changes:
            return False
        self._cues = splice.apply(self._cues)
        self._done.append(_Step(op, splice, self._next_state))
        self._next_state += 1
        self._undone.clear()
        self.revision += 1
        return True

    def undo(self) -> EditOp:
        if not self._done:
            raise InputError("nothing to undo")
        step = self._done.pop()
        self._cues = step.splice.inverse().apply(self._cues)
        self._undone.append(step)
        self.revision += 1
        return step.op

    def redo(self) -> EditOp:
        if not self._undone:
            raise InputError("nothing to redo")
        step = self._undone.pop()
        self._cues = step.splice.apply(self._cues)
        self._done.append(step)
        self.revision += 1
        return step.op

    def mark_saved(self) -> None:
        self._saved_state = self._state

    def captions(self) -> Captions:
        """A Captions snapshot to write or validate; file lines only while the cues are the ones read."""
        lines = list(self.base.cue_lines) if self._cues == self._original else []
        return replace(self.base, cues=list(self._cues), cue_lines=lines, problems=list(self.base.problems))


# ---------------------------------------------------------------------------- saving, autosave, backups

Editable = EditSession | Captions | Sequence[Cue]


def _as_captions(source: Editable) -> Captions:
    if isinstance(source, EditSession):
        return source.captions()
    if isinstance(source, Captions):
        return source
    return Captions(cues=list(source))


def autosave_path(captions_path: Path) -> Path:
    """The hidden sidecar beside the captions: `captions/.name.vtt.autosave.json`."""
    captions_path = Path(captions_path)
    return captions_path.with_name(f".{captions_path.name}.autosave.json")


def history_dir(captions_path: Path) -> Path:
    return Path(captions_path).parent / ".history"


def write_autosave(source: Editable, captions_path: Path) -> Path:
    """Write the current cues (with word timings) to the autosave sidecar, atomically."""
    return atomic_write_text(autosave_path(captions_path), to_json(_as_captions(source)))


def discard_autosave(captions_path: Path) -> None:
    autosave_path(captions_path).unlink(missing_ok=True)


def find_newer_autosave(captions_path: Path) -> Path | None:
    """The autosave when it is newer than the captions file and says something different (a crash
    left unsaved edits); None otherwise."""
    captions_path = Path(captions_path)
    sidecar = autosave_path(captions_path)
    if not sidecar.is_file():
        return None
    if not captions_path.is_file():
        return sidecar
    if sidecar.stat().st_mtime_ns < captions_path.stat().st_mtime_ns:
        return None
    fmt = _format_of(captions_path, None)
    try:
        saved, autosaved = read(captions_path), read(sidecar, "json")
    except InputError:
        return sidecar
    if fmt not in FORMATS:
        return sidecar if saved.cues != autosaved.cues else None
    return sidecar if render(saved, fmt) != render(replace(autosaved, header=saved.header), fmt) else None


def restore_autosave(captions_path: Path) -> Captions:
    """The autosaved captions, to be edited and saved to `captions_path`."""
    sidecar = autosave_path(captions_path)
    if not sidecar.is_file():
        raise InputError(f"no autosave for {captions_path}")
    captions = read(sidecar, "json")
    captions.source = Path(captions_path)
    return captions


_STAMP = "%Y%m%dT%H%M%S"


def list_backups(captions_path: Path) -> list[Path]:
    """Backups of this file in `.history/`, oldest first."""
    captions_path = Path(captions_path)
    folder = history_dir(captions_path)
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"{re.escape(captions_path.stem)}\.[0-9]{{8}}T[0-9]{{9}}{re.escape(captions_path.suffix)}")
    return sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name))


def backup(captions_path: Path, keep: int = BACKUPS_KEPT) -> Path | None:
    """Copy the file into the ring `.history/name.YYYYMMDDTHHMMSSmmm.ext` (UTC); prune beyond `keep`."""
    captions_path = Path(captions_path)
    if not captions_path.is_file():
        return None
    now = datetime.now(UTC)
    while True:
        name = f"{captions_path.stem}.{now.strftime(_STAMP)}{now.microsecond // 1000:03d}{captions_path.suffix}"
        target = history_dir(captions_path) / name
        if not target.exists():
            break
        now += timedelta(milliseconds=1)  # two saves in one millisecond: keep both, in order
    atomic_write_bytes(target, captions_path.read_bytes())
    for old in list_backups(captions_path)[: -max(keep, 1)]:
        old.unlink(missing_ok=True)
    return target


def save(source: Editable, path: Path | None = None, keep: int = BACKUPS_KEPT) -> Path:
    """Save over the captions file: the old version goes into the backup ring, the new one is written
    atomically, the autosave is removed and a session is marked clean."""
    captions = _as_captions(source)
    path = Path(path) if path is not None else captions.source
    if path is None:
        raise InputError("no file to save to: choose a path")
    data = render(captions, _format_of(path, None)).encode("utf-8")
    try:
        unchanged = path.is_file() and path.read_bytes() == data
    except OSError:
        unchanged = False
    if not unchanged:
        backup(path, keep)
        atomic_write_bytes(path, data)
    discard_autosave(path)
    if isinstance(source, EditSession):
        source.mark_saved()
    return path


@dataclass(frozen=True)
class PendingAutosave:
    """One autosave to write: the captions at `revision`, or None to remove the sidecar (undo reached the saved
    state)."""

    path: Path
    revision: int
    captions: Captions | None


class Autosaver:
    """The autosave policy beside the session it guards, so any face (the editor's timer, a test) gets the same:
    only a changed revision is written; writes may run in threads, yet an older revision is never written over a
    newer one, and a late autosave never lands after a real save of a newer revision."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: dict[Path, int] = {}  # the newest revision written (autosaved or saved) per captions file
        self._taken = 0  # the revision last handed out, saved or opened

    def opened(self, path: Path, revision: int) -> None:
        """A file was opened (at `revision`: 0, or the restored autosave's): nothing pending, no history."""
        with self._lock:
            self._taken = revision
            self._written.pop(Path(path), None)

    def pending(self, session: EditSession, path: Path) -> PendingAutosave | None:
        """What to write now (None: nothing changed since the last autosave or save). Call on the thread that edits."""
        if session.revision == self._taken:
            return None
        self._taken = session.revision
        return PendingAutosave(Path(path), session.revision, session.captions() if session.dirty else None)

    def write(self, pending: PendingAutosave) -> bool:
        """Write (or remove) the sidecar, atomically; False when a newer revision got there first."""
        with self._lock:
            if pending.revision < self._written.get(pending.path, -1):
                return False
            if pending.captions is None:
                discard_autosave(pending.path)
            else:
                write_autosave(pending.captions, pending.path)
            self._written[pending.path] = pending.revision
        return True

    def save(self, session: EditSession, path: Path, keep: int = BACKUPS_KEPT) -> Path:
        """Save for real (`save`), ordered with the autosaves: none of an older revision follows it."""
        with self._lock:
            saved = save(session, path, keep)
            self._written[Path(path)] = session.revision
        self._taken = session.revision
        return saved
