"""What a run folder holds and what state it is in, read from its files alone (no torch): the training process,
the CLI and the screens all ask here, so "finished", "resumable" and where each file lives are said once."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Literal

# A run folder's files (the training writes them; everything else reads them through this module).
CHECKPOINTS = "checkpoints"  # checkpoint-N folders, resumable
METRICS = "metrics.jsonl"  # one JSON row per log step and evaluation
ADAPTER = "adapter"  # the LoRA adapter alone
MERGED = "merged"  # the merged model + processor: present only once the run finished
CT2 = "ct2"  # `export --ct2`: the merged model for faster-whisper
REPORT = "report.json"  # train's summary (base model, best checkpoint, scores)
RUN_CONFIG = "train_config.json"  # the settings the run trains with (resume reads them back)
EVENTS = "events.jsonl"  # the event lines a run in its own process appends (core/train_process.py)
PID = "train.pid"  # that process's pid while it runs
LOG = "train.log"  # its stdout and stderr
STOP_REQUEST = "stop.request"  # written by TrainProcess.stop, read by core.train_guards.watch_stop_request
EVALUATION = "evaluation"  # where `evaluate -m RUN_DIR` writes, beside train's report.json

RunState = Literal["running", "finished", "stopped", "failed"]


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


def finished(run_dir: Path) -> bool:
    """The run trained to the end: its merged model is there (written last, after the best checkpoint is chosen)."""
    return (Path(run_dir) / MERGED).is_dir()


def running_pid(run_dir: Path) -> int | None:
    """The pid of a training process still working on `run_dir`, if any (a stale pid file is ignored)."""
    try:
        pid = int((Path(run_dir) / PID).read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    with contextlib.suppress(OSError):  # a recycled pid: make sure it is one of ours
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"core.cli" not in cmdline or str(run_dir).encode() not in b" ".join(cmdline):
            return None
    return pid


def state(run_dir: Path) -> RunState:
    """running (a process of ours trains it now), finished (merged model written), stopped (not finished, a
    checkpoint to resume from) or failed (ended before its first checkpoint: nothing to resume)."""
    if running_pid(run_dir) is not None:
        return "running"
    if finished(run_dir):
        return "finished"
    return "stopped" if resumable(run_dir) else "failed"


def run_folders(runs_dir: Path) -> list[Path]:
    """Every run folder under `runs_dir` (hidden ones left out), the most recently touched first."""
    try:
        runs = [p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)


def finished_runs(runs_dir: Path) -> list[Path]:
    """Run folders under `runs_dir` that hold a merged model (what can be evaluated), newest model first."""
    runs = [p for p in run_folders(runs_dir) if finished(p)]
    return sorted(runs, key=lambda p: ((p / MERGED).stat().st_mtime, p.name), reverse=True)


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of a run's metrics.jsonl so far (a line being written right now is skipped)."""
    rows = []
    with contextlib.suppress(OSError):
        for line in (Path(run_dir) / METRICS).read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                rows.append(json.loads(line))
    return rows


def base_model(run_dir: Path) -> str | None:
    """The base model train's report.json names, or None (no report yet, or an unreadable one)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        base = json.loads((Path(run_dir) / REPORT).read_text(encoding="utf-8")).get("base_model")
        return str(base) if base else None
    return None


def last_error(run_dir: Path) -> str | None:
    """The one-line error the CLI printed into the run's log, if it printed one."""
    with contextlib.suppress(OSError):
        lines = (Path(run_dir) / LOG).read_text(encoding="utf-8", errors="replace").splitlines()
        for line in reversed(lines):
            if line.startswith("whisper-tui: error: "):
                return line.removeprefix("whisper-tui: error: ")
    return None


def evaluation_dir(run_dir: Path) -> Path:
    """Where a run's evaluation goes: beside train's report.json, as `whisper-tui evaluate -m RUN_DIR` puts it."""
    return Path(run_dir) / EVALUATION
