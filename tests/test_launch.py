"""The `whisper-tui` command exactly as a user types it: the installed console script, bare and with a folder, in a
real terminal (tmux); a mistyped subcommand and a missing terminal as one-line errors; F1 help everywhere."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Input

from core.workspace import create_workspace
from tests.tui_helpers import Tmux, app_env
from tui.app import WhisperTuiApp
from tui.screens.help import HelpScreen
from tui.screens.start import StartScreen

SCRIPT = Path(sys.executable).parent / "whisper-tui"  # what `pip install` / `make` put on the user's PATH

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


@pytest.fixture
def script() -> Path:
    assert SCRIPT.is_file(), f"the console script is not installed beside {sys.executable} (run make)"
    return SCRIPT


def run_script(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command without a terminal: stdin from /dev/null, output into pipes."""
    return subprocess.run([str(script), *args], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)


@needs_tmux
def test_bare_command_in_an_empty_folder_opens_the_start_screen(script: Path, tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    terminal = Tmux()
    try:
        terminal.start([str(script)], app_env(tmp_path), cwd=folder)
        screen = terminal.wait_for("No workspace in", 60)
        assert str(folder) in screen.replace("\n", "") and "Create workspace" in screen
        assert "Error" not in screen and "IndexError" not in screen
        terminal.keys("F1")  # help from the start screen, whose Name field has the focus
        assert "app.help" in terminal.wait_for("Start (no workspace yet)", 20)
        terminal.keys("Escape")
        terminal.keys("C-q")
        terminal.wait_closed(20)
    finally:
        terminal.close()
    assert list(folder.iterdir()) == []  # looking is not creating


@needs_tmux
def test_bare_command_in_a_workspace_opens_it(script: Path, tmp_path: Path, home: Path) -> None:
    workspace = create_workspace(tmp_path / "talks", "my talks")
    terminal = Tmux()
    try:
        terminal.start([str(script)], app_env(tmp_path), cwd=workspace.root)
        screen = terminal.wait_for("my talks", 60)
        assert "1 Fetch" in screen and "tiny.en" in screen and "No workspace" not in screen
        terminal.keys("C-q")
        terminal.wait_closed(20)
    finally:
        terminal.close()


@needs_tmux
def test_a_new_folder_name_opens_the_start_screen_for_it(script: Path, tmp_path: Path, home: Path) -> None:
    terminal = Tmux(width=140)
    try:
        terminal.start([str(script), "podcast"], app_env(tmp_path), cwd=tmp_path)
        screen = terminal.wait_for("No workspace in", 60)
        assert str(tmp_path / "podcast") in screen.replace("\n", "")
        terminal.keys("C-q")
        terminal.wait_closed(20)
    finally:
        terminal.close()


@pytest.mark.parametrize("argv", [["trian", "--dataset", "ds"], ["trian"], ["evaluat", "-m", "x"], ["chek", "a.vtt"]])
def test_a_mistyped_subcommand_names_the_right_one(script: Path, tmp_path: Path, argv: list[str]) -> None:
    result = run_script(script, *argv, cwd=tmp_path)
    wanted = {"trian": "train", "evaluat": "evaluate", "chek": "check"}[argv[0]]
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and f"did you mean `whisper-tui {wanted}`" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no folder named after the typo


def test_an_unknown_word_with_arguments_is_not_a_folder(script: Path, tmp_path: Path) -> None:
    result = run_script(script, "finetune", "--dataset", "ds", cwd=tmp_path)
    assert result.returncode == 2 and "unknown command 'finetune'" in result.stderr
    assert result.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [[], ["--sample"], ["somewhere"]])
def test_the_workbench_never_starts_without_a_terminal(script: Path, tmp_path: Path, home: Path,
                                                       argv: list[str]) -> None:
    result = run_script(script, *argv, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("whisper-tui: error: the workbench needs a terminal")
    assert result.stderr.count("\n") == 1 and result.stdout == ""  # no escape codes written into the pipe


def test_subcommands_still_run_without_a_terminal(script: Path, tmp_path: Path) -> None:
    result = run_script(script, "check", str(Path(__file__).parent.parent / "sample_data" / "train.vtt"), cwd=tmp_path)
    assert result.returncode == 0 and "no problems" in result.stdout


# ---------------------------------------------------------------------------- F1 and ? (Pilot)

@pytest.mark.anyio
async def test_f1_opens_help_on_the_start_screen_and_question_mark_types(tmp_path: Path, home: Path) -> None:
    app = WhisperTuiApp(None, tmp_path / "new")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, StartScreen)
        name = app.screen.query_one("#name", Input)
        assert app.focused is name
        await pilot.press("end", "question_mark")
        assert name.value.endswith("?") and not isinstance(app.screen, HelpScreen)  # a text field types it
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, StartScreen)


@pytest.mark.anyio
async def test_f1_and_question_mark_on_a_numbered_screen(sample) -> None:
    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("question_mark")  # focus on the table: ? is help
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "f")  # f: focus the settings form
        model = app.screen.query_one("#model", Input)
        assert app.focused is model
        await pilot.press("end", "question_mark")
        assert model.value.endswith("?") and not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
