"""What the TUI tests share besides conftest's fixtures (`home`, `sample`, `workspace`, `anyio_backend`):
waiting on a pilot, and the keyword the `workspace` fixture mis-hears."""

from __future__ import annotations

import time
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
