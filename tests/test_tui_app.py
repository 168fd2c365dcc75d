"""The app around the screens: start screen, screen switching, help, keymap, command palette, jobs, and a
real terminal run in tmux that is killed with SIGKILL mid-edit (acceptance: no edit is lost)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import DataTable, Input

from core import captions as caps
from core import editing
from core.workspace import Workspace, is_workspace, open_workspace, read_for_editing
from tests.tui_helpers import Tmux, app_command, app_env, record_job_statuses, running, wait_for
from tui.app import WhisperTuiApp
from tui.screens import SCREENS
from tui.screens.editor import EditorScreen
from tui.screens.fetch import FetchScreen
from tui.screens.help import HelpScreen, binding_ids, key_rows
from tui.screens.start import StartScreen

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"

pytestmark = pytest.mark.anyio


# ---------------------------------------------------------------------------- start screen


async def test_start_screen_creates_a_workspace(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "new-project"
    app = WhisperTuiApp(None, start_dir=folder)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        assert app.screen.query_one("#folder", Input).value == str(folder)
        assert not app.check_action("show_screen", (2,))  # no workspace: no numbered screens yet
        app.screen.query_one("#name", Input).value = "Interviews"
        app.screen.query_one("#model", Input).value = "base"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, FetchScreen))
        assert "Interviews" in app.title and "base" in app.title
    workspace = open_workspace(folder)
    assert (workspace.name, workspace.model) == ("Interviews", "base")


async def test_start_screen_opens_the_sample_project(home: Path, tmp_path: Path) -> None:
    app = WhisperTuiApp(None, start_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, FetchScreen))
        table = app.screen.query_one("#sources", DataTable)
        assert [table.get_row_at(i)[0] for i in range(table.row_count)] == ["plain", "train"]
    assert is_workspace(home / "sample")


async def test_start_screen_reports_errors_without_crashing(home: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    app = WhisperTuiApp(None, start_dir=blocker)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, StartScreen)
        assert "is a file" in app.screen.query_one("#status").text.plain


# ---------------------------------------------------------------------------- screens, help, keymap, palette


async def test_number_keys_switch_screens_and_the_header_names_the_workspace(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FetchScreen))
        assert app.title == "whisper-tui · sample · tiny.en · en"
        for number in (3, 4, 5):
            await pilot.press(str(number))
            assert isinstance(app.screen, SCREENS[number].load())
            assert app.current_number == number
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.session is not None)
        await pilot.press("1")
        assert isinstance(app.screen, FetchScreen)
        assert {n: s.load().NUMBER for n, s in SCREENS.items()} == {n: n for n in SCREENS}


async def test_the_language_is_set_on_screen_1_shown_in_the_header_and_kept(workspace: Workspace) -> None:
    """Screen 1's Language field: a listed language is the workspace's (project.toml, the header, the Train screen's
    purpose); one Whisper does not list is refused with a pointer to --language-token."""
    from tui.screens.train import TrainScreen

    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FetchScreen))
        field = app.screen.query_one("#language", Input)
        field.value = "ga"
        await pilot.click("#language")
        await pilot.press("enter")
        status = app.screen.query_one("#status").text.plain
        assert "does not list 'ga'" in status and "--language-token" in status
        assert open_workspace(workspace.root).language is None
        field.value = "cy"
        await pilot.click("#language")
        await pilot.press("enter")
        assert app.title.endswith("· cy") and "English-only" in app.screen.query_one("#status").text.plain
        app.screen.query_one("#model", Input).value = "base"
        await pilot.click("#language")
        await pilot.press("enter")
        assert "language purpose" in app.screen.query_one("#status").text.plain
        assert open_workspace(workspace.root).language == "cy"
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen))
        assert app.screen.query_one("#purpose", Input).value == "language"


async def test_help_lists_every_binding(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = key_rows(app, {})
        listed = {row.binding_id for row in rows}
        assert binding_ids(WhisperTuiApp) <= listed
        assert {"editor.next_flag", "editor.undo", "fetch.transcribe", "app.help", "keywords.save",
                "table.down"} <= listed
        sections = {row.section for row in rows}
        assert {f"{n} {spec.title}" for n, spec in SCREENS.items()} <= sections
        undo = next(row for row in rows if row.binding_id == "editor.undo")
        assert "^z" in undo.keys and "u" in undo.keys
        await pilot.press("escape")
        assert isinstance(app.screen, FetchScreen)


async def test_user_keymap_remaps_keys_by_binding_id(workspace: Workspace, tmp_path: Path) -> None:
    config = Path(os.environ["WHISPER_TUI_CONFIG"])
    config.mkdir(parents=True)
    (config / "keymap.toml").write_text('[keys]\n"editor.next_flag" = "j"\n"no.such.binding" = "x"\n')
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.keymap == {"editor.next_flag": "j"}
        assert any("no.such.binding" in n.message for n in app._notifications)
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.review is not None
                       and not app.screen.review.pending_texts())
        editor = app.screen
        await pilot.press("n")
        assert editor.table.cursor == 0
        await pilot.press("j")
        assert editor.table.cursor == 3
        row = next(r for r in key_rows(app, app.keymap) if r.binding_id == "editor.next_flag")
        assert row.keys == "j"


async def test_command_palette_runs_screen_actions(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Go to 2")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.review is not None
                       and not app.screen.review.pending_texts())
        editor = app.screen
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Next flag")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is editor and editor.table.cursor == 3)


# ---------------------------------------------------------------------------- jobs: fetch + transcribe


@pytest.mark.slow
async def test_fetch_and_transcribe_a_local_file(workspace: Workspace, model_cache: Path) -> None:
    app = WhisperTuiApp(workspace)
    headers = record_job_statuses(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FetchScreen))
        screen = app.screen
        await pilot.press("f")
        await pilot.press(*str(SAMPLES / "control.mp3"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "fetch" in app.sub_title)  # the header shows the running job
        await wait_for(pilot, lambda: screen.job_name is None, timeout=600)
        status = screen.query_one("#status").text.plain
        assert "wrote captions/control.vtt" in status, status
        assert app.sub_title == ""
        assert any(line.startswith("fetch: transcribe") and line.endswith("%)") for line in headers), headers
        vtt = workspace.captions_dir / "control.vtt"
        cues = caps.read(vtt).cues
        assert len(cues) >= 4 and "weather" in " ".join(c.text for c in cues).lower()
        draft = read_for_editing(vtt).cues  # the word probabilities survive beside the VTT
        assert all(c.words for c in draft) and all(w.probability is not None for c in draft for w in c.words)
        assert (workspace.audio_dir / "control.mp3").is_file()
        table = screen.query_one("#sources", DataTable)
        rows = {table.get_row_at(i)[0]: table.get_row_at(i) for i in range(table.row_count)}
        assert rows["control"][2] == "control.vtt" and rows["control"][3] == "transcribed"
        # cancel a second draft straight away: nothing is written
        table.move_cursor(row=list(rows).index("plain"))
        await pilot.press("t", "escape")
        await wait_for(pilot, lambda: screen.job_name is None, timeout=120)
        assert "cancelled" in screen.query_one("#status").text.plain
        assert not (workspace.captions_dir / "plain.vtt").exists()
        # Enter on the new source opens it in the editor
        table.move_cursor(row=list(rows).index("control"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.path == vtt)


# ---------------------------------------------------------------------------- a real terminal, killed -9


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_sigkill_mid_edit_loses_nothing(workspace: Workspace, tmp_path: Path) -> None:
    """Acceptance: edit a cue in a real terminal, wait 2 s, kill -9, restart: the edit is offered back."""
    path = workspace.captions_dir / "train.vtt"
    env, command = app_env(tmp_path), app_command(workspace.root)
    terminal = Tmux()
    try:
        terminal.start(command, env)
        terminal.wait_for("Sources", timeout=60)
        terminal.keys("2")
        terminal.wait_for("cue 1/17")
        terminal.keys("n")
        terminal.wait_for("cue 4/17")
        terminal.keys("a")
        screen = terminal.wait_for("On MMLU, Mixtral 8x7B beats")
        assert "On MMLU, mixture" not in screen
        time.sleep(2.0)
        pid = terminal.pid()
        os.kill(pid, signal.SIGKILL)
        terminal.wait_closed(10)  # the pane closes once the process is gone
        assert not running(pid)
        assert "mixture 8 by 7B" in path.read_text()  # never saved...
        assert editing.find_newer_autosave(path) is not None  # ...but autosaved

        terminal = Tmux()
        terminal.start(command, env)
        terminal.wait_for("Sources", timeout=60)
        terminal.wait_for("unsaved edits")  # screen 1 already says so
        terminal.keys("2")
        terminal.wait_for("Restore unsaved edits of train.vtt?")
        terminal.keys("r")
        screen = terminal.wait_for("restored autosave of train.vtt")
        assert "On MMLU, Mixtral 8x7B beats" in screen
        terminal.keys("C-s")
        terminal.wait_for("saved captions/train.vtt")
        assert "On MMLU, Mixtral 8x7B beats" in path.read_text()
        terminal.keys("C-q")
        terminal.wait_closed(15)  # saved: quits without asking
    finally:
        terminal.close()
