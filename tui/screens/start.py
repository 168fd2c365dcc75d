"""Shown when `whisper-tui [DIR]` finds no workspace: create one, or open the bundled sample project."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Footer, Header, Input, Label, Static

from core.errors import WhisperTuiError
from core.workspace import DEFAULT_MODEL, Workspace, create_workspace, is_workspace, open_workspace, sample_workspace
from tui.widgets.lines import StatusLine


class StartScreen(Screen[Workspace]):
    """Dismissed with the workspace to open."""

    BINDINGS = [
        Binding("ctrl+n", "create", "Create workspace", id="start.create"),
        Binding("ctrl+o", "sample", "Open sample project", id="start.sample"),
    ]

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__()
        self.folder = (folder or Path.cwd()).expanduser().absolute()  # the user sees where it will be made

    def compose(self) -> ComposeResult:
        yield Header(icon="◉")
        with Vertical(id="start"):
            yield Static("[b]whisper-tui[/b] — teach Whisper new words\n\n"
                         f"No workspace in [i]{self.folder}[/i]. Create one here (or in another folder), "
                         "or explore the sample project (a jargon-heavy recording with corrected captions).\n"
                         "[dim]F1 lists every key.[/dim]",
                         id="start-intro")
            with Horizontal(classes="field"):
                yield Label("Name", classes="field-label")
                yield Input(value=self.folder.name, id="name", placeholder="project name")
            with Horizontal(classes="field"):
                yield Label("Folder", classes="field-label")
                yield Input(value=str(self.folder), id="folder", placeholder="where the project lives")
            with Horizontal(classes="field"):
                yield Label("Model", classes="field-label")
                yield Input(value=DEFAULT_MODEL, id="model", suggester=SuggestFromList(["tiny.en", "base"]),
                            placeholder="tiny.en, base, a model folder or a Hub id")
            with Horizontal(id="start-buttons"):
                yield Button("Create workspace (ctrl+n)", id="create", variant="primary")
                yield Button("Open sample project (ctrl+o)", id="sample")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def action_create(self) -> None:
        folder = Path(self._value("folder") or ".").expanduser()
        try:
            if is_workspace(folder):
                workspace = open_workspace(folder)
            else:
                workspace = create_workspace(folder, self._value("name"), self._value("model") or DEFAULT_MODEL)
        except WhisperTuiError as err:
            self.query_one(StatusLine).say(str(err), "error")
            return
        self.dismiss(workspace)

    def action_sample(self) -> None:
        try:
            workspace = sample_workspace()
        except WhisperTuiError as err:
            self.query_one(StatusLine).say(str(err), "error")
            return
        self.dismiss(workspace)

    @on(Button.Pressed, "#create")
    def _create_pressed(self) -> None:
        self.action_create()

    @on(Button.Pressed, "#sample")
    def _sample_pressed(self) -> None:
        self.action_sample()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_create()
