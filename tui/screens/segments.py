"""Screen 3, Segments: the ≤ 30 s training rows the workspace's captions give, and building the dataset.

A thin view over `core.dataset_plan.plan_dataset` / `build_dataset`: the plan (rows per split, cues left out and
why, sources giving no rows) is recomputed from the captions whenever something may have changed it (the
screen is shown again, a role or the views switch changed), which takes milliseconds since no audio is read.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar

from core.captions import format_timestamp
from core.dataset import PrepareOptions
from core.dataset_plan import DatasetPlan, PlanEntry, build_dataset, built_dataset, plan_dataset
from core.errors import WhisperTuiError
from core.events import Log, Progress
from core.player import Player
from core.segments import MAX_MS
from core.workspace import ROLES, Role
from tui.jobs import JobEnded, JobEvent, progress_text
from tui.screens.base import WorkbenchScreen
from tui.widgets.cue_table import highlighted
from tui.widgets.lines import TextLine
from tui.widgets.table import Column, VirtualTable

BAR_CELLS = 10
_EIGHTHS = " ▏▎▍▌▋▊▉"
SPLIT_LABELS = {"train": "train", "validation": "val"}
SOURCE_LABELS = {"skip": "skip", "no cues": "—", "keywords": "note"}


def duration_bar(duration_ms: int, cells: int = BAR_CELLS, full_ms: int = MAX_MS) -> str:
    """A bar `cells` wide, full at `full_ms` (Whisper's 30 s window), in eighths of a cell."""
    eighths = round(max(0, min(duration_ms, full_ms)) / full_ms * cells * 8)
    whole, part = divmod(eighths, 8)
    return ("█" * whole + (_EIGHTHS[part] if part else "")).ljust(cells)


def _time(ms: int, hours: bool) -> str:
    return format_timestamp(ms, always_include_hours=hours) if ms >= 0 else "—"


def _cue_numbers(cues: Sequence[int]) -> str:
    """Cue numbers as the editor shows them (1-based): `4` or `4-7`."""
    if not cues:
        return ""
    return str(cues[0] + 1) if len(cues) == 1 else f"{cues[0] + 1}-{cues[-1] + 1}"


class SegmentTable(VirtualTable):
    """The plan's entries: training rows (split colour, duration bar, keywords lit) and what is left out."""

    DEFAULT_CSS = """
    SegmentTable > .segment-table--train { color: $text-success; }
    SegmentTable > .segment-table--validation { color: $text-primary; }
    SegmentTable > .segment-table--warning { color: $text-warning; }
    SegmentTable > .segment-table--error { color: $text-error; text-style: bold; }
    SegmentTable > .segment-table--muted { color: $foreground-darken-3; }
    SegmentTable > .segment-table--keyword { color: $success; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = VirtualTable.COMPONENT_CLASSES | {
        "segment-table--train", "segment-table--validation", "segment-table--warning", "segment-table--error",
        "segment-table--muted", "segment-table--keyword"}

    SHORT_TIMES: ClassVar[Sequence[Column]] = (
        Column("split", 5), Column("source", 10), Column("#", 7, "right"), Column("start", 9), Column("end", 9),
        Column("dur", 5, "right"), Column("of 30 s", BAR_CELLS), Column("flags", 8),
        Column("text", None, min_width=12))
    LONG_TIMES: ClassVar[Sequence[Column]] = (
        *SHORT_TIMES[:3], Column("start", 12), Column("end", 12), *SHORT_TIMES[5:])

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: tuple[PlanEntry, ...] = ()
        self.columns = self.SHORT_TIMES

    def show(self, entries: Sequence[PlanEntry], cursor: int = 0) -> None:
        self.entries = tuple(entries)
        self.columns = self.LONG_TIMES if any(e.end_ms >= 3_600_000 for e in self.entries) else self.SHORT_TIMES
        self._widths = (-1, ())
        self.set_row_count(len(self.entries))
        self.move_cursor(cursor)

    @property
    def current(self) -> PlanEntry | None:
        return self.entries[self.cursor] if 0 <= self.cursor < len(self.entries) else None

    def row_key(self, index: int) -> Hashable:
        return index, self.entries[index]

    @staticmethod
    def _tone(entry: PlanEntry) -> str:
        """The component class (after `segment-table--`) an entry's label, bar and flags are drawn in."""
        if entry.kind == "row":
            return entry.split
        return "muted" if entry.severity == "info" else entry.severity

    def _label(self, entry: PlanEntry) -> str:
        if entry.kind == "row":
            return SPLIT_LABELS.get(entry.split, entry.split)
        if entry.kind == "cue":
            return "out"
        if entry.severity == "error":
            return "error"
        return SOURCE_LABELS.get(entry.flags[0] if entry.flags else "", "note")

    def row_cells(self, index: int) -> Sequence[Text]:
        entry = self.entries[index]
        tone = self.style_of(f"segment-table--{self._tone(entry)}")
        label = Text(self._label(entry), tone)
        flags = Text(" ".join(entry.flags), self.style_of("segment-table--keyword") if entry.kind == "row" else tone)
        if entry.kind == "source":
            blank = Text("")
            return (label, Text(entry.stem), blank, blank, blank, blank, blank, flags,
                    Text(entry.text, tone if entry.severity != "info" else Style()))
        hours = self.columns is self.LONG_TIMES
        keyword = self.style_of("segment-table--keyword")
        return (
            label, Text(entry.stem), Text(_cue_numbers(entry.cues)),
            Text(_time(entry.start_ms, hours)), Text(_time(entry.end_ms, hours)),
            Text(f"{entry.duration_ms / 1000:.1f}"), Text(duration_bar(entry.duration_ms), tone), flags,
            highlighted(entry.text, [(s, e, keyword) for s, e in entry.keyword_spans]))


def totals_text(plan: DatasetPlan) -> Text:
    """`train 5 rows · 1.4 min   validation 3 rows · 0.3 min   left out: …   views off`."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for split, style in (("train", "green"), ("validation", "cyan")):
        rows, ms = plan.totals(split)
        out.append(f"{split} ", style=f"bold {style}")
        out.append(f"{rows} row{'s' * (rows != 1)} · {ms / 60_000:.1f} min   ")
    left_out = len(plan.left_out)
    out.append(f"left out: {left_out} cue{'s' * (left_out != 1)}   ", style="yellow" if left_out else "")
    out.append(f"views {'on' if plan.views else 'off'}", style="bold" if plan.views else "dim")
    return out


class SegmentsScreen(WorkbenchScreen):
    """The rows per split with totals, what is left out and why, and `b` to build dataset/ from them."""

    NUMBER = 3
    HELP_WIDGETS = (VirtualTable,)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "build", "Build dataset", id="segments.build"),
        Binding("v", "toggle_views", "Views", id="segments.views"),
        Binding("r", "cycle_role", "Role", id="segments.role"),
        Binding("p", "play", "Play", id="segments.play"),
        Binding("enter", "edit", "Edit captions", id="segments.edit"),
        Binding("escape", "cancel", "Cancel build", id="segments.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.views = PrepareOptions().views  # the same rows `whisper-tui prepare` makes by default
        self.plan: DatasetPlan | None = None
        self._placed: int | None = None  # where `replan` put the cursor: that move is not the user's
        self.player = Player("segment")

    def compose_body(self) -> ComposeResult:
        with Vertical(id="segments"):
            yield TextLine(id="segment-totals")
            yield TextLine(id="segment-dataset")
            yield SegmentTable(id="segment-table")
            with Horizontal(id="segment-job"):
                yield ProgressBar(total=100, id="segment-progress", show_eta=False)
                yield TextLine("b builds the dataset", id="segment-job-label")

    @property
    def table(self) -> SegmentTable:
        return self.query_one("#segment-table", SegmentTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        plan = self.replan()  # captions may have been edited or drafted on screens 1 and 2
        if plan is not None and plan.errors:
            self.say(f"cannot build yet: {plan.errors[0]}", "warning")
        elif plan is not None:
            train, validation = plan.totals("train")[0], plan.totals("validation")[0]
            sources = len({e.stem for e in plan.rows()})
            self.say(f"{train} training and {validation} validation rows from {sources} source"
                     f"{'s' * (sources != 1)} · b builds {self._where(self.workspace.dataset_dir)} · v views · "
                     "r role · Enter edits")

    def on_unmount(self) -> None:
        super().on_unmount()
        self.player.stop()

    # -- the plan

    def replan(self, keep: PlanEntry | None = None) -> DatasetPlan | None:
        """Plan again from the captions; the cursor stays on `keep`'s place (default: the current entry)."""
        keep = keep or self.table.current
        try:
            plan = plan_dataset(self.workspace, self.views)
        except (WhisperTuiError, OSError) as err:
            self.say(f"cannot plan the dataset: {err}", "error")
            return None
        self.plan = plan
        self._placed = self._place_of(plan.entries, keep)
        self.table.show(plan.entries, self._placed)
        self.query_one("#segment-totals", TextLine).set(totals_text(plan))
        self._show_dataset_state()
        return plan

    @staticmethod
    def _place_of(entries: Sequence[PlanEntry], keep: PlanEntry | None) -> int:
        """The entry of `keep`'s source nearest its start (the same row when it is still there); at first the
        first training row."""
        if keep is None:
            return next((i for i, e in enumerate(entries) if e.kind == "row"), 0)
        same = [i for i, e in enumerate(entries) if e.stem == keep.stem]
        if not same:
            return 0
        return min(same, key=lambda i: (abs(entries[i].start_ms - keep.start_ms), entries[i] != keep))

    def _where(self, folder: Path) -> str:
        return f"{folder.name}/" if folder.parent == self.workspace.root else str(folder)

    def _show_dataset_state(self) -> None:
        """What dataset/ holds, whether the plan moved on since, and what stops a build (kept in view)."""
        built = built_dataset(self.workspace, self.plan)
        text = Text(f"{self._where(self.workspace.dataset_dir)}: ", no_wrap=True, overflow="ellipsis")
        if built is None:
            text.append("not built yet", style="dim")
        else:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(built.built_at))
            text.append(" + ".join(f"{n} {split}" for split, n in built.rows.items()) + f" rows, built {when}")
            if built.stale:
                text.append(" · out of date", style="yellow")
        if self.plan is not None and self.plan.errors:
            text.append(f" · cannot build: {self.plan.errors[0]}", style="bold red")
        elif built is None or built.stale:
            text.append(" · b builds it", style="dim")
        self.query_one("#segment-dataset", TextLine).set(text)

    @on(VirtualTable.CursorMoved, "#segment-table")
    def _moved(self, message: VirtualTable.CursorMoved) -> None:
        if message.index != self.table.cursor:
            return  # stale: the cursor has moved on since
        placed, self._placed = self._placed, None
        entry = self.table.current
        if entry is None or self.plan is None or message.index == placed:
            return
        if entry.kind == "row":
            rows, _ = self.plan.totals(entry.split)
            cues = _cue_numbers(entry.cues)
            self.say(f"{entry.split} row of {entry.stem} · cue{'s' * (len(entry.cues) > 1)} {cues} · "
                     f"{entry.duration_ms / 1000:.1f} s · {len(entry.keyword_spans)} keyword(s) · {rows} {entry.split} "
                     "rows in all")
        else:
            self.say(f"{entry.stem}: {entry.text}" if entry.stem else entry.text,
                     "error" if entry.severity == "error" else "warning" if entry.severity == "warning"
                     else "information")

    # -- actions

    def action_toggle_views(self) -> None:
        self.views = not self.views
        plan = self.replan()
        if plan is not None:
            rows, _ = plan.totals("train")
            what = "on: each cue alone plus packs of up to 10, 20 and 30 s" if self.views else "off: one packing"
            self.say(f"training views {what} · {rows} training rows")

    def action_cycle_role(self) -> None:
        entry = self.table.current
        if entry is None or not entry.stem:
            self.say("select a source's row first", "warning")
            return
        try:
            role = self.workspace.roles().get(entry.stem, "train")
            new: Role = ROLES[(ROLES.index(role) + 1) % len(ROLES)]
            self.workspace.set_role(entry.stem, new)
        except (WhisperTuiError, OSError) as err:
            self.say(f"role not changed: {err}", "error")
            return
        plan = self.replan(entry)
        if plan is not None and plan.errors:
            self.say(f"{entry.stem} is now {new} · cannot build: {plan.errors[0]}", "warning")
        elif plan is not None:
            self.say(f"{entry.stem} is now {new} (saved in project.toml) · r again cycles train → validation → skip")

    def action_edit(self) -> None:
        entry = self.table.current
        if entry is None or not entry.stem:
            self.say("select a source's row first", "warning")
            return
        path = self.workspace.captions_for(entry.stem)
        if not path.is_file():
            self.say(f"{entry.stem} has no captions yet: transcribe it on screen 1", "warning")
            return
        self.wapp.open_captions(path)

    def action_play(self) -> None:
        entry = self.table.current
        if entry is None or entry.kind == "source":
            self.say("select a row to play", "warning")
            return
        audio = self.workspace.audio_for(self.workspace.captions_for(entry.stem))
        if audio is None:
            self.say(f"no audio for {entry.stem} in {self.workspace.audio_dir.name}/", "warning")
            return
        self.player.stop()
        self._play(audio, max(entry.start_ms, 0), entry.end_ms)

    @work(thread=True, exclusive=True, group="audio", exit_on_error=False)
    def _play(self, audio: Path, start_ms: int, end_ms: int) -> None:
        """In a thread: players that cannot seek get a clip cut first (a decode)."""
        try:
            name = self.player.play(audio, start_ms, end_ms)
        except (WhisperTuiError, OSError) as err:
            self.app.call_from_thread(self.say, f"cannot play: {err}", "warning")
            return
        self.app.call_from_thread(self.say, f"playing with {name}")

    def action_cancel(self) -> None:
        if self.cancel_job():
            self.say("cancelling the build…")
        else:
            self.player.stop()

    def action_build(self) -> None:
        plan = self.replan()  # build what the captions say now, not what they said when the screen was shown
        if plan is None:
            return
        if plan.errors:
            self.say(f"cannot build: {plan.errors[0]}", "error")
            return
        workspace = self.workspace
        if self.start_job("build", lambda job: build_dataset(workspace, plan, job=job)):
            self._show_progress(0.0, f"building {self._where(workspace.dataset_dir)}…")

    # -- job progress

    def _show_progress(self, fraction: float | None, label: str) -> None:
        self.show_job("segment-progress", "segment-job-label", fraction, label)

    def on_job_event(self, message: JobEvent) -> None:  # JobRunner's, called after it, feeds the header
        event = message.event
        if isinstance(event, Progress):
            fraction, label = progress_text(event)
            done = f"{event.done:.0f}/{event.total:.0f} rows " if event.total else ""
            self._show_progress(fraction, f"{done}{label}")
        elif isinstance(event, Log):
            self.say(event.message, "warning" if event.level == "warning" else "information")

    def on_job_ended(self, message: JobEnded) -> None:
        if message.ok:
            result = message.result
            summary = " · ".join(f"{s.name}: {s.rows} rows, {s.minutes:.1f} min" for s in result.splits)
            where = self._where(result.path)
            self._show_progress(1.0, f"built {where}")
            self.say(f"wrote {where} — {summary}" + (f" · {len(result.problems)} cue(s) left out"
                                                       if result.problems else ""))
            self._show_dataset_state()
        else:
            self._show_progress(0.0, f"build: {message.error}")
            self.say_job_ended(message, "build cancelled; the previous dataset is unchanged")
