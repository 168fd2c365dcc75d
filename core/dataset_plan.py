"""The dataset from the workspace: what Screen 3 shows and builds.

Screen 3 shows the rows `prepare` would write for this workspace, and builds them. Each source takes part by
its role (`Workspace.roles`): train sources give training rows, and ~15 % of their cues are held out for
validation when no source has the validation role; the validation source gives the validation rows.
Planning reads only the captions, so the screen re-plans on the UI thread after every change (measured on
a busy 2-core box: 0.5 s for 3.5 hours of cues, 0.9 s with views; the sample takes 10 ms). Building
decodes the audio through `core.dataset.prepare` with the same recordings and options, so the rows written
are the rows shown. Nothing is dropped silently: sources that give no rows and cues that cannot be used are
entries of the plan too, with why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from core.captions import Recording
from core.errors import InputError
from core.events import QUIET, Job
from core.vocabulary import Keyword, find_keywords
from core.workspace import Workspace

if TYPE_CHECKING:  # core.dataset is imported where it is used: start-up does not need soundfile & co.
    from core.dataset import PrepareOptions, PrepareResult, SourcePlan
    from core.segments import Segment

_PROBLEM_FLAGS = {"too_long": "too long", "no_text": "no text", "bad_times": "bad time", "past_end": "past end",
                  "overlaps_unusable": "overlap!"}
EntryKind = Literal["row", "cue", "source"]
EntrySeverity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class PlanEntry:
    """One line of a dataset plan: a training `row` (split "train" or "validation"), a `cue` left out (its
    Problem's message as text), or a `source` that gives no rows or needs a word (why, as text).

    `cues` are 0-based positions in the source's captions file; `keyword_spans` index into `text`.
    """

    kind: EntryKind
    stem: str
    text: str
    split: str = ""
    start_ms: int = 0
    end_ms: int = 0
    cues: tuple[int, ...] = ()
    flags: tuple[str, ...] = ()
    keyword_spans: tuple[tuple[int, int], ...] = ()
    severity: EntrySeverity = "info"

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class DatasetPlan:
    """The workspace's dataset before it is built: every entry, what `prepare` gets, and why it cannot run."""

    entries: tuple[PlanEntry, ...]
    train: tuple[Recording, ...]
    validation: Recording | None
    views: bool
    errors: tuple[str, ...] = ()  # empty: `build_dataset` may run

    def rows(self, split: str | None = None) -> list[PlanEntry]:
        return [e for e in self.entries if e.kind == "row" and (split is None or e.split == split)]

    def totals(self, split: str) -> tuple[int, int]:
        """(rows, milliseconds of audio) of one split."""
        rows = self.rows(split)
        return len(rows), sum(e.duration_ms for e in rows)

    @property
    def left_out(self) -> list[PlanEntry]:
        """Cues that are in no row (and why)."""
        return [e for e in self.entries if e.kind == "cue"]

    def options(self) -> PrepareOptions:
        from core.dataset import PrepareOptions

        return PrepareOptions(views=self.views)


def _source_entry(stem: str, text: str, flag: str, severity: EntrySeverity = "info") -> PlanEntry:
    return PlanEntry("source", stem, text, flags=(flag,), severity=severity)


def _row_keyword_spans(segment: Segment,
                       spans_of: Callable[[str], list[tuple[int, int]]]) -> tuple[tuple[int, int], ...]:
    """Keyword spans in `segment.text`, found cue by cue (each cue's text is searched once however many rows
    hold it, which is what keeps planning with views fast; a keyword split across two cues is not lit)."""
    out: list[tuple[int, int]] = []
    offset = 0
    for cue in segment.cues:
        text = cue.text.strip()
        if text:
            out += [(offset + start, offset + end) for start, end in spans_of(text)]
            offset += len(text) + 1
    return tuple(out)


def _plan_entries(stem: str, source_plan: SourcePlan, keywords: Sequence[Keyword]) -> list[PlanEntry]:
    """A SourcePlan's rows (flagged: keywords found, overlapping cues kept together) and its left-out cues."""
    overlapping = {p.index for p in source_plan.problems if p.kind == "overlap"}
    cache: dict[str, list[tuple[int, int]]] = {}

    def spans_of(text: str) -> list[tuple[int, int]]:
        if text not in cache:
            cache[text] = [(m.start, m.end) for m in find_keywords(text, keywords)]
        return cache[text]

    entries = []
    for row in source_plan.rows:
        segment = row.segment
        spans = _row_keyword_spans(segment, spans_of)
        flags = ((f"K{len(spans)}",) if spans else ()) + (("overlap",) if overlapping & set(segment.indices) else ())
        entries.append(PlanEntry("row", stem, segment.text, row.split, segment.start_ms, segment.end_ms,
                                 tuple(sorted(segment.indices)), flags, spans))
    entries += [PlanEntry("cue", stem, p.message, "", p.start_ms, p.start_ms + p.duration_ms, (p.index,),
                          (_PROBLEM_FLAGS.get(p.kind, p.kind),), severity="warning")
                for p in source_plan.problems if p.kind != "overlap"]
    entries.sort(key=lambda e: (e.start_ms, e.end_ms, e.kind != "row"))
    return entries


def plan_dataset(workspace: Workspace, views: bool | None = None) -> DatasetPlan:
    """Plan the workspace's dataset from its captions and roles, without reading any audio.

    A source whose captions cannot be used (unreadable, too few cues to hold some out, no audio file) is an
    error entry, so the others still show; building refuses until it is fixed or skipped.
    """
    from core.dataset import PrepareOptions, plan_training, plan_validation

    options = PrepareOptions() if views is None else PrepareOptions(views=views)
    views = options.views
    entries: list[PlanEntry] = []
    errors: list[str] = []
    try:
        keywords = workspace.keywords()
    except InputError as err:
        keywords = []
        entries.append(PlanEntry("source", "", f"keywords not highlighted: {err}", flags=("keywords",),
                                 severity="warning"))
    roles = workspace.roles()
    sources = workspace.sources()
    hold = not any(roles[s.stem] == "validation" and s.captions is not None for s in sources)
    train: list[Recording] = []
    validation: Recording | None = None
    for source in sources:
        role = roles[source.stem]
        if role == "skip":
            entries.append(_source_entry(source.stem, "skipped: its role is skip", "skip"))
            continue
        if source.captions is None:
            entries.append(_source_entry(source.stem, "no captions yet: transcribe it first", "no cues"))
            continue
        if source.audio is None:
            message = f"{source.captions.name} has no audio file in {workspace.audio_dir.name}/"
            entries.append(_source_entry(source.stem, message, "no audio", "error"))
            errors.append(message)
            continue
        if role == "validation" and validation is not None:
            message = (f"{source.stem}: only one validation source is supported ({validation.audio.stem} is one); "
                       "give the others the train or skip role")
            entries.append(_source_entry(source.stem, message, "2nd val", "error"))
            errors.append(message)
            continue
        recording = source.recording
        try:
            source_plan = plan_training(recording, options, hold) if role == "train" else plan_validation(
                recording, options)
        except InputError as err:
            entries.append(_source_entry(source.stem, str(err), "error", "error"))
            errors.append(str(err))
            continue
        if source.autosave:
            entries.append(_source_entry(source.stem, "has unsaved edits in the editor: the saved file is used",
                                         "unsaved", "warning"))
        if role == "train":
            train.append(recording)
        else:
            validation = recording
        entries += _plan_entries(source.stem, source_plan, keywords)
    plan = DatasetPlan(tuple(entries), tuple(train), validation, views)
    if not train and not errors:
        errors.append("no training source: set a captioned source's role to train")
    elif train and not plan.rows("validation") and not errors:
        errors.append("no validation rows")  # hold-out always gives some; kept as a guard
    return replace(plan, errors=tuple(errors))


def build_dataset(workspace: Workspace, plan: DatasetPlan, job: Job = QUIET) -> PrepareResult:
    """Write the planned dataset to the workspace's dataset/ (atomically: a cancel or a failure leaves the
    previous one as it was); returns core.dataset's PrepareResult."""
    from core.dataset import prepare

    if plan.errors:
        more = f" (+{len(plan.errors) - 1} more)" if len(plan.errors) > 1 else ""
        raise InputError(f"cannot build the dataset: {plan.errors[0]}{more}")
    return prepare(list(plan.train), workspace.dataset_dir, plan.validation, plan.options(), job)


@dataclass(frozen=True)
class BuiltDataset:
    """What dataset/ holds now (from its marker file), and whether the plan has moved on since."""

    rows: dict[str, int]
    seconds: dict[str, float]
    built_at: float  # the marker's mtime
    stale: bool


def built_dataset(workspace: Workspace, plan: DatasetPlan | None = None) -> BuiltDataset | None:
    """The dataset in dataset/, or None when there is none (or it is not ours). Stale when it was built from
    other sources, options or split sizes than `plan`, or a source's captions changed after it was built."""
    import json
    from dataclasses import asdict

    from core.dataset import MARKER

    marker = workspace.dataset_dir / MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        built_at = marker.stat().st_mtime
        splits = {str(k): v for k, v in data["splits"].items()}
        rows = {k: int(v["rows"]) for k, v in splits.items()}
        seconds = {k: float(v["seconds"]) for k, v in splits.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    stale = False
    if plan is not None:
        recordings = [*plan.train, *([plan.validation] if plan.validation is not None else [])]
        wanted = [{"audio": str(r.audio), "captions": str(r.captions)} for r in recordings]
        try:
            changed = any(r.captions.stat().st_mtime > built_at for r in recordings)
        except OSError:
            changed = True
        counts = {split: plan.totals(split)[0] for split in rows}
        stale = (data.get("sources") != wanted or data.get("options") != asdict(plan.options()) or changed
                 or counts != rows)
    return BuiltDataset(rows, seconds, built_at, stale)

