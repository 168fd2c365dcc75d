"""What every numbered screen shares: header, tab strip, status line, footer, the workspace, and jobs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, ProgressBar, Static

from core.workspace import Workspace
from tui.jobs import JobEnded, JobRunner
from tui.screens import SCREENS
from tui.widgets.lines import Severity, StatusLine, TextLine

if TYPE_CHECKING:
    from tui.app import WhisperTuiApp


class OpenCaptions(Message):
    """Open these captions in the editor (screen 2): what Fetch and Segments send it through `app.open_captions`."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


class ScreenTabs(Static):
    """`1 Fetch  2 Editor …` with the current screen marked; clicking a tab switches to it."""

    DEFAULT_CSS = "ScreenTabs { height: 1; background: $panel; padding: 0 1; }"

    def __init__(self, current: int) -> None:
        tabs = []
        for number, spec in SCREENS.items():
            style = "reverse b " if number == current else ""
            tabs.append(f"[{style}@click=app.show_screen({number})] {number} {spec.tab} [/]")
        super().__init__(" ".join(tabs) + "   [dim]F1/? help · ctrl+p commands[/]")


class WorkbenchScreen(JobRunner, Screen):
    """Base class of the numbered screens: subclasses set NUMBER and implement `compose_body`.

    HELP_WIDGETS lists the widget classes whose own key bindings the help screen should list for this screen.
    """

    NUMBER: ClassVar[int] = 0
    HELP_WIDGETS: ClassVar[tuple[type[Widget], ...]] = ()

    @property
    def wapp(self) -> WhisperTuiApp:
        return self.app  # type: ignore[return-value]

    @property
    def workspace(self) -> Workspace:
        workspace = self.wapp.workspace
        assert workspace is not None, "numbered screens only open once a workspace is open"
        return workspace

    def compose(self) -> ComposeResult:
        yield Header(icon="◉")
        yield ScreenTabs(self.NUMBER)
        yield from self.compose_body()
        yield StatusLine(id="status")
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.wapp.numbered_screens[self.NUMBER] = self

    def on_screen_resume(self) -> None:
        self.wapp.current_number = self.NUMBER
        self.wapp.refresh_header()

    def on_unmount(self) -> None:
        self.leave_job()

    def leave_job(self) -> None:
        """What leaving the screen (the app closing) does to a running job: cancel it. The Train screen detaches
        instead (its run goes on)."""
        self.cancel_job()

    def say(self, message: str, severity: Severity = "information") -> None:
        """Put one line in the status line (errors never raise out of a key press)."""
        self.query_one(StatusLine).say(message, severity)

    def say_job_ended(self, message: JobEnded, cancelled_text: str | None = None) -> None:
        """The status line for a job that did not succeed: "<job> cancelled" (or `cancelled_text`) as a warning,
        "<job> failed: <error>" as an error."""
        if message.cancelled:
            self.say(cancelled_text or f"{message.job} cancelled", "warning")
        else:
            self.say(f"{message.job} failed: {message.error}", "error")

    def show_job(self, bar_id: str, label_id: str, fraction: float | None, label: str) -> None:
        """Set a job's progress bar (None: animated, size of the work unknown) and its one-line label."""
        bar = self.query_one(f"#{bar_id}", ProgressBar)
        if fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=100 * fraction)
        self.query_one(f"#{label_id}", TextLine).set(label)

    def unsaved(self) -> str | None:
        """What would be lost by quitting now (None: nothing); screens with editable state override it."""
        return None

    def keep_unsaved(self) -> None:
        """Make unsaved work survive a quit (e.g. write the autosave now)."""

    def save_unsaved(self) -> bool:
        """Save unsaved work for real; False when that failed (the quit is then cancelled)."""
        return True
