"""Screen 1, Fetch & transcribe: bring a URL or file into the workspace, draft its captions, list the sources."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Input, Label, ProgressBar, Static

from core.align import align_source
from core.errors import WhisperTuiError
from core.events import Log, Progress
from core.languages import is_listed
from core.reading_script import workspace_script
from core.train_config import purpose_of
from core.workspace import Source, draft, import_and_draft
from tui.jobs import JobEnded, JobEvent, progress_text
from tui.screens.base import WorkbenchScreen
from tui.screens.dialogs import Choice, ChoiceModal
from tui.widgets.lines import TextLine


class FetchScreen(WorkbenchScreen):
    """A source input (Enter fetches and drafts), the model to draft with, a progress bar, the sources."""

    NUMBER = 1
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "focus_source", "Fetch", id="fetch.source"),
        Binding("m", "focus_model", "Model", id="fetch.model"),
        Binding("t", "transcribe", "Transcribe", id="fetch.transcribe"),
        Binding("e", "edit", "Edit", id="fetch.edit"),
        Binding("s", "script", "Script", id="fetch.script"),
        Binding("A", "align", "Align script", id="fetch.align"),
        Binding("r", "refresh", "Refresh", id="fetch.refresh"),
        Binding("escape", "cancel_or_back", "Cancel job", id="fetch.cancel"),
    ]

    # the job's last warning (e.g. a truncated file): kept on the status line when the job ends, not replaced
    _warning: str | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="fetch"):
            with Horizontal(classes="field"):
                yield Label("Source", classes="field-label")
                yield Input(placeholder="a URL (yt-dlp) or a path to an audio/video file, then Enter", id="source")
            with Horizontal(classes="field"):
                yield Label("Model", classes="field-label")
                yield Input(value=self.workspace.model, id="model", suggester=SuggestFromList(["tiny.en", "base"]),
                            placeholder="model for drafts (tiny.en, base, a folder, a Hub id)")
            with Horizontal(classes="field"):
                yield Label("Language", classes="field-label")
                yield Input(value=self.workspace.language or "", id="language", max_length=3,
                            placeholder="what the recordings speak: en, cy, de… (blank: English); Enter keeps it")
            with Horizontal(id="job"):
                yield ProgressBar(total=100, id="progress", show_eta=False)
                yield TextLine("no job running", id="job-label")
            yield Label("Sources (Enter: open in the editor · t: transcribe · A: align the script)",
                        classes="section-title")
            yield DataTable(id="sources", cursor_type="row", zebra_stripes=True)
            yield Static("", id="script-panel")

    def on_mount(self) -> None:
        table = self.query_one("#sources", DataTable)
        table.add_column("source", key="stem")
        table.add_column("audio", key="audio")
        table.add_column("captions", key="captions")
        table.add_column("status", key="status")
        self.action_refresh()
        table.focus()
        count = table.row_count
        self.say(f"{count} source{'s' * (count != 1)} in {self.workspace.root} · Enter opens one in the editor · "
                 "f fetches a URL or file")

    # -- the sources list

    def sources(self) -> list[Source]:
        return self.workspace.sources()

    def action_refresh(self, select: str | None = None) -> None:
        table = self.query_one("#sources", DataTable)
        current = select or self._selected_stem()
        table.clear()
        sources = self.sources()
        for source in sources:
            status = source.status + (" (unsaved edits)" if source.autosave else "")
            table.add_row(source.stem, source.audio.name if source.audio else "—",
                          source.captions.name if source.captions else "—", status, key=source.stem)
        if current is not None and current in {s.stem for s in sources}:
            table.move_cursor(row=table.get_row_index(current))

    def _selected_stem(self) -> str | None:
        table = self.query_one("#sources", DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _selected(self) -> Source | None:
        stem = self._selected_stem()
        return next((s for s in self.sources() if s.stem == stem), None)

    # -- actions

    def action_focus_source(self) -> None:
        self.query_one("#source", Input).focus()

    def action_focus_model(self) -> None:
        self.query_one("#model", Input).focus()

    def action_cancel_or_back(self) -> None:
        if self.cancel_job():
            self.say("cancelling…")
        else:
            self.query_one("#sources", DataTable).focus()

    def action_edit(self) -> None:
        source = self._selected()
        if source is None:
            self.say("no source yet: type a URL or file path above and press Enter", "warning")
        elif source.captions is None:
            self.say(f"{source.stem} has no captions yet: press t to transcribe it", "warning")
        else:
            self.wapp.open_captions(source.captions)

    def action_transcribe(self) -> None:
        self._replace_captions("A new draft", self._start_draft)

    def action_align(self) -> None:
        """Time the workspace's script.txt in the selected recording (the captions it makes replace a draft)."""
        self._replace_captions("The aligned script", self._start_align)

    def _replace_captions(self, what: str, start: Callable[[Path], None]) -> None:
        """Run `start` on the selected source's audio, asking first when it would replace captions."""
        source = self._selected()
        if source is None or source.audio is None:
            self.say("select a source with audio first", "warning")
            return
        if source.captions is None:
            start(source.audio)
            return

        def answered(choice: str | None) -> None:
            if choice == "overwrite" and source.audio is not None:
                start(source.audio)

        self.app.push_screen(ChoiceModal(
            f"Replace {source.captions.name}?",
            f"{what} replaces the current captions; the old file is kept in {source.captions.parent.name}"
            "/.history/.", [Choice("overwrite", "Replace", "r"), Choice("cancel", "Cancel", "c")], "cancel"),
            answered)

    def action_script(self) -> None:
        """Write script.txt from the keywords (once; after that, report on it as the user edited it)."""
        try:
            path, made, report = workspace_script(self.workspace)
        except WhisperTuiError as err:
            self.say(str(err), "warning")
            return
        panel = self.query_one("#script-panel", Static)
        panel.update(Text(f"{path.name}: {'written from the keywords' if made else 'as it is now'}\n\n{report}"))
        panel.display = True
        if made:
            self.say(f"wrote {path.name}: read it aloud, add the recording (f), then press A to align it")
        else:
            self.say(f"{path.name} as it stands (edit it freely); A aligns it with the selected recording")

    def _model(self) -> str:
        return self.query_one("#model", Input).value.strip() or self.workspace.model

    def _start_draft(self, audio: Path) -> None:
        workspace, engines, model = self.workspace, self.wapp.engines, self._model()
        if self.start_job("transcribe", lambda job: draft(workspace, audio, engines, model, job=job)):
            self._warning = None
            self._show_progress(None, f"transcribing {audio.name} with {model}…")

    def _start_align(self, audio: Path) -> None:
        workspace, aligners, model = self.workspace, self.wapp.aligners, self._model()
        if self.start_job("align", lambda job: align_source(workspace, audio, aligners, model, job=job)):
            self._warning = None
            self._show_progress(None, f"aligning script.txt with {audio.name}…")

    @on(Input.Submitted, "#source")
    def _fetch(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.say("type a URL or a file path first", "warning")
            return
        workspace, engines, model = self.workspace, self.wapp.engines, self._model()
        if self.start_job("fetch", lambda job: import_and_draft(workspace, text, engines, model, job=job)):
            self._warning = None
            self._show_progress(None, f"fetching {text}…")

    @on(Input.Submitted, "#model")
    def _model_chosen(self) -> None:
        self.say(f"drafts will use {self._model()}")
        self.query_one("#sources", DataTable).focus()

    @on(Input.Submitted, "#language")
    def _language_chosen(self, event: Input.Submitted) -> None:
        """The workspace's language: drafts, training (its purpose and prefix tokens) and evaluation follow it."""
        code = event.value.strip().lower() or None
        if code is not None and not is_listed(code):
            self.say(f"Whisper does not list {code!r}: use a listed language here, and train with "
                     "whisper-tui train --language-token (see the README)", "error")
            return
        self.workspace.language = code
        self.workspace.save()
        self.wapp.refresh_header()
        purpose = purpose_of(code, self.workspace.purpose)
        if code not in (None, "en") and self._model().endswith(".en"):
            self.say(f"language {code}: {self._model()} is English-only; set Model to a multilingual one (base) for "
                     "drafts and training", "warning")
        else:
            self.say(f"language {code or 'en'}: drafts, training ({purpose} purpose) and evaluation use it")
        self.query_one("#sources", DataTable).focus()

    @on(DataTable.RowSelected, "#sources")
    def _row_selected(self) -> None:
        self.action_edit()

    # -- job progress

    def _show_progress(self, fraction: float | None, label: str) -> None:
        self.show_job("progress", "job-label", fraction, label)

    def on_job_event(self, message: JobEvent) -> None:
        event = message.event
        if isinstance(event, Progress):
            self._show_progress(*progress_text(event))
        elif isinstance(event, Log):
            if event.level == "warning":
                self._warning = event.message
            self.say(event.message, "warning" if event.level == "warning" else "information")

    def on_job_ended(self, message: JobEnded) -> None:
        if message.ok:
            path = Path(message.result)
            self._show_progress(1.0, f"done: {path.name}")
            if self._warning:  # the warning first: the rest may not fit the line
                self.say(f"warning: {self._warning} — wrote {path.parent.name}/{path.name}", "warning")
            else:
                self.say(f"wrote {path.parent.name}/{path.name} — press Enter to open it in the editor")
            self.action_refresh(select=path.stem)
            self.query_one("#sources", DataTable).focus()
            self.query_one("#source", Input).value = ""
        else:
            self._show_progress(0.0, f"{message.job}: {message.error}")
            self.say_job_ended(message)
            self.action_refresh()
