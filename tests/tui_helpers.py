"""What the TUI tests share besides conftest's fixtures (`home`, `sample`, `workspace`, `anyio_backend`):
waiting on a pilot, and the keyword the `workspace` fixture mis-hears."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
FLAGGED = 3  # cue 4 of sample_data/train.vtt
MISHEARD, KEYWORD = "mixture 8 by 7B", "Mixtral 8x7B"


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app run until `condition()` holds (workers, timers, a training process); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        await pilot.pause(0.05)


# ---------------------------------------------------------------------------- a real terminal (tmux)


def app_env(tmp_path: Path) -> dict[str, str]:
    """The environment a TUI started in tmux needs: the test's own data/config homes, no player."""
    return {"WHISPER_TUI_HOME": os.environ["WHISPER_TUI_HOME"], "WHISPER_TUI_CONFIG": os.environ["WHISPER_TUI_CONFIG"],
            "WHISPER_TUI_CACHE": os.environ.get("WHISPER_TUI_CACHE", ""), "HF_HUB_OFFLINE": "1",
            "WHISPER_TUI_PLAYER": "none", "TERM": "xterm-256color", "PYTHONPATH": str(ROOT),
            "HOME": os.environ.get("HOME", str(tmp_path)), "PATH": os.environ.get("PATH", "")}


def app_command(workspace_root: Path) -> list[str]:
    return [sys.executable, "-m", "tui", str(workspace_root)]


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a killed child may wait a moment to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class Tmux:
    """A private tmux server running one command at a fixed size; the screen is read with capture-pane."""

    def __init__(self, width: int = 100, height: int = 30) -> None:
        self.socket = f"whisper-tui-test-{uuid.uuid4().hex[:8]}"
        self.size = (width, height)

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              timeout=30).stdout

    def start(self, command: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        shell = "exec env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + shlex.join(command)
        if cwd is not None:
            shell = f"cd {shlex.quote(str(cwd))} && {shell}"
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-x", str(self.size[0]), "-y",
                        str(self.size[1]), "-s", "app", shell], check=True, timeout=30)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "app", *keys)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen after {timeout} s:\n{screen}")
            time.sleep(0.2)

    def alive(self) -> bool:
        return subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", "app"], capture_output=True,
                              timeout=30).returncode == 0

    def wait_closed(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout} s:\n{self.screen()}")
            time.sleep(0.1)

    def pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", "app", "#{pane_pid}").strip())

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


async def open_evaluate(pilot: Pilot):
    """Screen 5 (Evaluate), opened with its key."""
    from tui.screens.evaluate import EvaluateScreen

    await pilot.press("5")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, EvaluateScreen))
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, EvaluateScreen)
    return screen


def record_job_statuses(app) -> list[str]:
    """Every job status line the app's header is given from now on (a job's progress comes and goes between two
    polls of `wait_for`; this keeps each line)."""
    lines: list[str] = []
    show = app.set_job_status

    def recording(name: str, status: str | None) -> None:
        if status is not None:
            lines.append(status)
        show(name, status)

    app.set_job_status = recording
    return lines


def status_text(screen) -> str:
    """The screen's status line, as plain text."""
    from tui.widgets.lines import StatusLine

    return screen.query_one(StatusLine).text.plain
