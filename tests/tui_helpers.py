"""What the TUI tests share: an isolated data/config home, the sample workspace, and waiting on a pilot.

Import the fixtures into a test module (`from tests.tui_helpers import anyio_backend_fixture, home_fixture,
sample_fixture`) and mark it `pytestmark = pytest.mark.anyio`; tests then ask for `home`, `sample`. The
functions have other names than their fixtures so that a test's argument does not shadow an import.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from core.workspace import Workspace, sample_workspace

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"


@pytest.fixture(name="anyio_backend")
def anyio_backend_fixture() -> str:
    return "asyncio"


@pytest.fixture(name="home")
def home_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Data and config folders of the test's own (so the user's are never touched), and no audio player."""
    monkeypatch.setenv("WHISPER_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WHISPER_TUI_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("WHISPER_TUI_PLAYER", "none")
    return tmp_path / "home"


@pytest.fixture(name="sample")
def sample_fixture(home: Path) -> Workspace:
    """The bundled sample project as a new user gets it: train.mp3 with captions, plain.mp3 without."""
    return sample_workspace()


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        await pilot.pause(0.05)
