"""The Textual app: `whisper-tui [DIR]` opens a workspace and its numbered screens (tui/screens/__init__.py).

Keys: 1-5 switch screens, ? lists every key, ctrl+p opens the command palette (every action is there too),
ctrl+q quits without losing an edit. Every binding has an id, so `keymap.toml` in the config folder can
remap it (tui/keymap.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from core.align import AlignerCache
from core.workspace import EngineCache, Workspace, find_workspace, is_workspace
from tui.commands import ScreenActionsProvider
from tui.keymap import keymap_path, load_keymap
from tui.screens import SCREENS
from tui.screens.base import OpenCaptions
from tui.screens.dialogs import Choice, ChoiceModal


class WhisperTuiApp(App[int]):
    """Holds the open workspace, the loaded transcription engine, running jobs (for the header) and the keymap."""

    CSS_PATH = "app.tcss"
    TITLE = "whisper-tui"
    COMMANDS = App.COMMANDS | {ScreenActionsProvider}
    MODES: ClassVar[dict] = {spec.mode: spec.make for spec in SCREENS.values()}
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(str(n), f"show_screen({n})", f"Screen {n}: {spec.title}", show=False, id=f"app.screen{n}")
          for n, spec in SCREENS.items()),
        # F1 reaches help from anywhere, a text field included (where ? types a "?"); the tab strip says so
        Binding("f1,question_mark", "help", "Help", show=False, id="app.help"),
        Binding("ctrl+q", "quit", "Quit", show=False, id="app.quit", priority=True),
    ]

    def __init__(self, workspace: Workspace | None = None, start_dir: Path | None = None,
                 keymap_file: Path | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.start_dir = start_dir
        self.keymap_file = keymap_file or keymap_path()
        self.keymap: dict[str, str] = {}
        self.engines = EngineCache()
        self.aligners = AlignerCache()
        self.numbered_screens: dict[int, Screen] = {}
        self.current_number = 0
        self._jobs: dict[str, str] = {}
        self._quitting = False

    def on_mount(self) -> None:
        from tui.screens.help import binding_ids

        self.keymap, warnings = load_keymap(self.keymap_file, binding_ids(type(self)))
        if self.keymap:
            self.set_keymap(self.keymap)
        for warning in warnings:
            self.notify(warning, severity="warning", timeout=10)
        if self.workspace is not None:
            self.open_workspace(self.workspace)
        else:
            from tui.screens.start import StartScreen

            self.push_screen(StartScreen(self.start_dir), self._started)

    def _started(self, workspace: Workspace | None) -> None:
        if workspace is not None:
            self.open_workspace(workspace)

    def open_workspace(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.refresh_header()
        self.switch_mode(SCREENS[1].mode)

    # -- header: workspace, model, jobs

    def refresh_header(self) -> None:
        workspace = self.workspace
        self.title = (f"whisper-tui · {workspace.name} · {workspace.model} · {workspace.language or 'en'}"
                      if workspace else "whisper-tui")
        self.sub_title = " · ".join(f"⏳ {status}" for status in self._jobs.values())

    def set_job_status(self, name: str, status: str | None) -> None:
        """Called by JobRunner: a job's one-line status for the header, naming the job (None: it ended)."""
        if status is None:
            self._jobs.pop(name, None)
        else:
            self._jobs[name] = status
        self.refresh_header()

    # -- screens

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show_screen":
            return self.workspace is not None
        return True

    def action_show_screen(self, number: int) -> None:
        if self.workspace is None or number not in SCREENS:
            self.bell()
            return
        self.switch_mode(SCREENS[number].mode)

    def open_captions(self, path: Path) -> None:
        """Show the editor (screen 2) and send it an `OpenCaptions`: queued behind the ScreenResume that switching
        posts (synchronously, in `switch_mode`), so the editor's own "open the first captions" on resume, which
        waits for its queue, finds these open and stands down."""
        self.action_show_screen(2)
        if getattr(self.screen, "NUMBER", None) == 2:
            self.screen.post_message(OpenCaptions(Path(path)))

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.keymap))

    # -- quitting never loses an edit

    def _unsaved(self) -> list[Screen]:
        return [s for s in self.numbered_screens.values() if getattr(s, "unsaved", lambda: None)()]

    async def action_quit(self) -> None:
        dirty = self._unsaved()
        if not dirty or self._quitting:
            for screen in dirty:
                screen.keep_unsaved()  # type: ignore[attr-defined]
            self.exit(0)
            return
        for screen in dirty:
            screen.keep_unsaved()  # type: ignore[attr-defined]
        what = "; ".join(s.unsaved() for s in dirty)  # type: ignore[attr-defined]
        self._quitting = True

        def answered(choice: str | None) -> None:
            self._quitting = False
            if choice == "save":
                if all(s.save_unsaved() for s in dirty):  # type: ignore[attr-defined]
                    self.exit(0)
            elif choice == "keep":
                self.exit(0)

        self.push_screen(ChoiceModal(
            "Quit with unsaved edits?", f"{what}. They are in the autosave already; the next start offers to "
            "restore them if you quit without saving.",
            [Choice("save", "Save and quit", "s"), Choice("keep", "Quit (keep autosave)", "q"),
             Choice("cancel", "Cancel", "c")], "cancel"), answered)


def run_app(path: Path | None) -> int:
    """`whisper-tui [DIR]`: DIR (or the current folder) when it is a workspace, else the start screen."""
    workspace = find_workspace(path)
    start_dir = path if path is not None and not is_workspace(path) else None
    result = WhisperTuiApp(workspace, start_dir).run()
    return result if isinstance(result, int) else 0
