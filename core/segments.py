"""Cues → training Segments of at most 30 s (Whisper's window), never splitting a cue.

Pure functions over integer-ms cues: no audio is read here. A Segment's span is the audio a training
row will hold: its cues plus a little padding, so a word cut at a cue edge is not lost, but never so much
that it reaches into a neighbouring cue (whose words would then be heard but missing from the text).

Cues are worked on in "units": a cue, or a run of cues that overlap in time. A unit is never split, since
any cut inside it would cut through a cue. A unit that cannot be used (too long, no text, bad times) is
reported in `SegmentPlan.problems` and acts as a barrier: no segment spans across it, because its speech
would be in the audio but not in the text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from core.captions import Cue, format_timestamp

MAX_MS = 30_000  # Whisper's input window
PAD_MS = 200
VIEW_LENGTHS = (0, 10_000, 20_000, 30_000)
VIEW_OFFSETS = (0, 1)


@dataclass(frozen=True)
class Segment:
    """One training row: the audio span [start_ms, end_ms) of `source` and the whole cues inside it.

    `indices` are the cues' positions in the list given to `pack` (in time order here).
    """

    start_ms: int
    end_ms: int
    cues: tuple[Cue, ...]
    indices: tuple[int, ...]
    source: str = ""

    @property
    def text(self) -> str:
        return " ".join(c.text.strip() for c in self.cues if c.text.strip())

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Problem:
    """A cue (or group of overlapping cues, `index` = the first) that was reported instead of packed.

    kind: "too_long", "no_text", "bad_times", "past_end", "overlap" (a warning: the cues are kept
    together), "overlaps_unusable" (skipped because it overlaps a cue that cannot be used).
    """

    kind: str
    index: int
    start_ms: int
    duration_ms: int
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class SegmentPlan:
    """What packing produced: the segments in time order, and every cue it could not use, with why."""

    segments: tuple[Segment, ...]
    problems: tuple[Problem, ...]

    @property
    def total_ms(self) -> int:
        return sum(s.duration_ms for s in self.segments)

    @property
    def unusable(self) -> frozenset[int]:
        """Indices of cues that are in no segment because of a problem (warnings such as overlap excluded)."""
        return frozenset(p.index for p in self.problems if p.kind != "overlap")


# ---------------------------------------------------------------------------- units


@dataclass(frozen=True)
class _Unit:
    """Cues that must stay together (one cue, or overlapping cues), in time order."""

    indices: tuple[int, ...]
    start: int
    end: int
    usable: bool


def _where(cues: Sequence[Cue], index: int) -> str:
    return f"cue {index + 1} at {format_timestamp(cues[index].start)}"


def _cue_problem(cues: Sequence[Cue], index: int, audio_ms: int | None) -> Problem | None:
    cue = cues[index]
    if cue.start < 0 or cue.end <= cue.start:
        return Problem("bad_times", index, cue.start, cue.duration,
                       f"{_where(cues, index)}: ends at {cue.end} ms, not after its start; skipped")
    if not cue.text.strip():
        return Problem("no_text", index, cue.start, cue.duration, f"{_where(cues, index)}: has no text; skipped")
    if audio_ms is not None and cue.start >= audio_ms:
        return Problem("past_end", index, cue.start, cue.duration,
                       f"{_where(cues, index)}: starts after the audio ends "
                       f"({format_timestamp(audio_ms)}); skipped")
    return None


def _units(cues: Sequence[Cue], max_ms: int, audio_ms: int | None) -> tuple[list[_Unit], list[Problem]]:
    """Sort the cues, group overlapping ones, and report the groups that cannot be packed."""
    order = sorted(range(len(cues)), key=lambda i: (cues[i].start, cues[i].end, i))
    groups: list[list[int]] = []
    problems: list[Problem] = []
    group_end = None
    for index in order:
        cue = cues[index]
        if groups and group_end is not None and cue.start < group_end:
            previous = groups[-1][-1]
            overlap = min(group_end, cue.end) - cue.start
            problems.append(Problem("overlap", index, cue.start, cue.duration,
                                    f"{_where(cues, index)}: overlaps cue {previous + 1} by {overlap} ms; "
                                    "kept in the same segment"))
            groups[-1].append(index)
            group_end = max(group_end, cue.end)
        else:
            groups.append([index])
            group_end = max(cue.start, cue.end)
    units = []
    for group in groups:
        start = cues[group[0]].start
        end = max(max(cues[i].start, cues[i].end) for i in group)
        bad = {i: p for i in group if (p := _cue_problem(cues, i, audio_ms))}
        problems += bad.values()
        if bad:
            first_bad = next(iter(bad))
            problems += [Problem("overlaps_unusable", i, cues[i].start, cues[i].duration,
                                 f"{_where(cues, i)}: overlaps unusable cue {first_bad + 1}; skipped")
                         for i in group if i not in bad]
        too_long = not bad and end - start > max_ms
        if too_long:
            what = (f"{_where(cues, group[0])}: is" if len(group) == 1
                    else f"cues {group[0] + 1}-{group[-1] + 1} at {format_timestamp(start)}: overlap and")
            problems.append(Problem("too_long", group[0], start, end - start,
                                    f"{what} {(end - start) / 1000:.1f} s long, over the {max_ms / 1000:.1f} s "
                                    "limit; split it to use it"))
        units.append(_Unit(tuple(group), start, end, usable=not bad and not too_long))
    return units, problems


# ---------------------------------------------------------------------------- padding and packing


class _Packer:
    """Greedy packing over one cue list's units; padding looks at every unit, usable or not."""

    def __init__(self, cues: Sequence[Cue], units: list[_Unit], pad_ms: int, audio_ms: int | None, source: str):
        self.cues, self.units, self.pad, self.audio_ms, self.source = cues, units, pad_ms, audio_ms, source

    def lead(self, p: int) -> int:
        """Padding before unit p: up to half the gap to the previous unit (the whole gap to 0 if first)."""
        room = self.units[p].start if p == 0 else (self.units[p].start - self.units[p - 1].end) // 2
        return max(0, min(self.pad, room))

    def trail(self, p: int) -> int:
        """Padding after unit p: up to half the gap to the next unit, or to the audio end when known."""
        unit = self.units[p]
        if p + 1 < len(self.units):
            room = (self.units[p + 1].start - unit.end) // 2
        else:
            room = self.pad if self.audio_ms is None else self.audio_ms - unit.end
        return max(0, min(self.pad, room))

    def padded_ms(self, first: int, last: int) -> int:
        return self.units[last].end + self.trail(last) - (self.units[first].start - self.lead(first))

    def segment(self, first: int, last: int, limit_ms: int) -> Segment:
        """Units first..last as a Segment; padding is trimmed (trail first) if it would pass the limit."""
        lead, trail = self.lead(first), self.trail(last)
        excess = max(0, self.padded_ms(first, last) - limit_ms)
        trail -= min(excess, trail)
        lead -= min(max(0, excess - self.trail(last)), lead)
        indices = tuple(i for p in range(first, last + 1) for i in self.units[p].indices)
        return Segment(self.units[first].start - lead, self.units[last].end + trail,
                       tuple(self.cues[i] for i in indices), indices, self.source)

    def runs(self, skip: Collection[int]) -> list[list[int]]:
        """Maximal runs of consecutive usable, non-skipped units: no segment may cross a run's edge."""
        runs: list[list[int]] = [[]]
        for p, unit in enumerate(self.units):
            if unit.usable and not any(i in skip for i in unit.indices):
                runs[-1].append(p)
            elif runs[-1]:
                runs.append([])
        return [run for run in runs if run]

    def greedy(self, run: Sequence[int], max_ms: int, limit_ms: int) -> list[Segment]:
        """Fill each segment with whole units while the padded span stays ≤ max_ms (0: one unit each)."""
        segments = []
        k = 0
        while k < len(run):
            last = k
            while last + 1 < len(run) and max_ms > 0 and self.padded_ms(run[k], run[last + 1]) <= max_ms:
                last += 1
            segments.append(self.segment(run[k], run[last], limit_ms))
            k = last + 1
        return segments


def _packer(cues: Sequence[Cue], limit_ms: int, pad_ms: int, audio_ms: int | None,
            source: str) -> tuple[_Packer, list[Problem]]:
    if limit_ms <= 0 or pad_ms < 0:
        raise ValueError(f"need max_ms > 0 and pad_ms >= 0, got {limit_ms} and {pad_ms}")
    units, problems = _units(cues, limit_ms, audio_ms)
    return _Packer(cues, units, pad_ms, audio_ms, source), problems


def pack(cues: Sequence[Cue], max_ms: int = MAX_MS, pad_ms: int = PAD_MS, *, audio_ms: int | None = None,
         skip: Collection[int] = frozenset(), source: str = "") -> SegmentPlan:
    """Pack consecutive cues into segments whose padded span is ≤ max_ms.

    `skip`: cue indices to leave out (e.g. held-out validation cues); no segment spans across one, and
    padding still stops short of them. `audio_ms`, when known, bounds the last padding and drops cues
    that start after the audio ends.
    """
    packer, problems = _packer(cues, max_ms, pad_ms, audio_ms, source)
    segments = [s for run in packer.runs(set(skip)) for s in packer.greedy(run, max_ms, max_ms)]
    return SegmentPlan(tuple(segments), tuple(problems))


def training_views(cues: Sequence[Cue], max_lengths: Iterable[int] = VIEW_LENGTHS,
                   offsets: Iterable[int] = VIEW_OFFSETS, *, limit_ms: int = MAX_MS, pad_ms: int = PAD_MS,
                   audio_ms: int | None = None, skip: Collection[int] = frozenset(),
                   source: str = "") -> SegmentPlan:
    """Many differently-cut rows from one recording: per-cue rows (max 0) and packs at several lengths.

    Each packing length is also started `offset` units into every run, so windows at the same length
    group different neighbours. Rows with the same cues are kept once; order is by time, deterministic.
    """
    packer, problems = _packer(cues, limit_ms, pad_ms, audio_ms, source)
    seen: dict[tuple[int, ...], Segment] = {}
    for run in packer.runs(set(skip)):
        for max_ms in max_lengths:
            if max_ms < 0 or max_ms > limit_ms:
                raise ValueError(f"view length {max_ms} ms is outside 0..{limit_ms} ms")
            for offset in sorted(set(offsets)) if max_ms else (0,):
                head, tail = run[:offset], run[offset:]
                for segment in packer.greedy(head, max_ms, limit_ms) + packer.greedy(tail, max_ms, limit_ms):
                    seen.setdefault(segment.indices, segment)
    segments = sorted(seen.values(), key=lambda s: (s.start_ms, s.end_ms, s.indices))
    return SegmentPlan(tuple(segments), tuple(problems))


def hold_out(cues: Sequence[Cue], fraction: float = 0.15, max_ms: int = MAX_MS) -> frozenset[int]:
    """Indices of ~`fraction` of the usable cues for validation, spread evenly over the recording.

    Whole units are picked (overlapping cues go together), at the middle of n equal stretches, so the
    choice depends only on the cue list and never on chance. At least one unit is always left to train.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"hold-out fraction must be in [0, 1), got {fraction}")
    units, _ = _units(cues, max_ms, None)
    usable = [u for u in units if u.usable]
    count = min(len(usable) - 1, max(1, round(len(usable) * fraction))) if fraction > 0 else 0
    picked = {int((k + 0.5) * len(usable) / count) for k in range(count)} if count > 0 else set()
    return frozenset(i for p in picked for i in usable[p].indices)
