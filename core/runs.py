"""What a run folder holds and what state it is in, read from its files alone (no torch): the training process,
the CLI and the screens all ask here."""

from __future__ import annotations

import json
from pathlib import Path

CHECKPOINTS = "checkpoints"
STOP_REQUEST = "stop.request"  # written by TrainProcess.stop, read by core.train_guards.watch_stop_request


def step_of(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[-1])


def complete(checkpoint: Path) -> bool:
    """The Trainer writes trainer_state.json last (after weights, optimizer, scheduler and RNG states), not
    atomically: a checkpoint whose state file is missing or torn was cut short by a kill."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def checkpoint_folders(checkpoints: Path) -> list[Path]:
    """checkpoint-N folders, oldest first."""
    if not checkpoints.is_dir():
        return []
    found = [p for p in checkpoints.iterdir() if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()
             and p.name.startswith("checkpoint-")]
    return sorted(found, key=step_of)


def last_checkpoint(checkpoints: Path) -> Path | None:
    """The newest *complete* checkpoint (a kill while one was being written leaves it half there)."""
    return next((p for p in reversed(checkpoint_folders(checkpoints)) if complete(p)), None)


def resumable(run_dir: Path) -> bool:
    """Whether `train --resume` has a checkpoint to continue this run from."""
    return last_checkpoint(Path(run_dir) / CHECKPOINTS) is not None
