"""A training run in its own process, followed through the JSON event lines it appends to a file.

Why a process and not a thread: the UI stays responsive whatever the Trainer's Python loop does with the
GIL; a dropped SSH session (SIGHUP to the terminal's process group) does not take the run with it (it runs
in its own session, writes to files, not to the terminal); and Stop is the same SIGINT that makes
`whisper-tui train` save a checkpoint and exit, so `--resume` continues it. A restarted TUI finds a run
still going through its pid file and follows its events file again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core import train_config
from core.errors import JobError
from core.events import QUIET, Event, Job, Log, from_json
from core.files import atomic_write_text
from core.runs import EVENTS, LOG, PID, REPORT, RUN_CONFIG, STOP_REQUEST, finished, last_error, running_pid
from core.train_config import TrainConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def train_argv(config: TrainConfig) -> list[str]:
    """The `whisper-tui train` arguments that run `config`: its settings go whole through RUN_DIR's
    train_config.json (written here), so no setting is spelled twice."""
    run_dir = Path(config.output)
    return [*train_config.to_argv(config, run_dir / RUN_CONFIG), "--events", str(run_dir / EVENTS)]


@dataclass(frozen=True)
class RunOutcome:
    """How a followed run ended: exit code 0 (finished), 130 (stopped with a checkpoint), else failed."""

    run_dir: Path
    returncode: int | None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.returncode == 0

    @property
    def stopped(self) -> bool:
        return self.returncode == 130


class TrainProcess:
    """Start (or attach to) `whisper-tui train` for one run directory and follow its events."""

    def __init__(self, run_dir: Path, process: subprocess.Popen | None = None, pid: int | None = None,
                 events_offset: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.process = process
        self.pid = process.pid if process is not None else pid
        self._offset = events_offset
        self._partial = b""

    @classmethod
    def start(cls, config: TrainConfig) -> TrainProcess:
        """Launch the run; its output goes to RUN_DIR/train.log, its events to RUN_DIR/events.jsonl."""
        run_dir = Path(config.output)
        if running_pid(run_dir) is not None:
            raise JobError(f"{run_dir} is already being trained by another process")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / EVENTS).write_text("")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                                          os.environ.get("PYTHONPATH")])))
        env["PYTHONUNBUFFERED"] = "1"
        with open(run_dir / LOG, "w", encoding="utf-8") as log:
            process = subprocess.Popen([sys.executable, "-m", "core.cli", *train_argv(config)],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       cwd=PROJECT_ROOT, env=env, start_new_session=True)
        atomic_write_text(run_dir / PID, f"{process.pid}\n")
        return cls(run_dir, process)

    @classmethod
    def attach(cls, run_dir: Path) -> TrainProcess | None:
        """Follow a run another (earlier) TUI started and that is still going; new events only."""
        pid = running_pid(run_dir)
        if pid is None:
            return None
        events = Path(run_dir) / EVENTS
        offset = events.stat().st_size if events.is_file() else 0
        return cls(run_dir, pid=pid, events_offset=offset)

    # -- state

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """Ask the run to save a checkpoint and stop (what Ctrl-C does to `whisper-tui train`). The request file is
        read by the run every half second: a SIGINT that arrives while the process starts, or in a process that
        inherited SIGINT ignored, is lost, the file is not."""
        if self.pid is not None and self.alive():
            with contextlib.suppress(OSError):
                (self.run_dir / STOP_REQUEST).touch()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGINT)

    def returncode(self) -> int | None:
        if self.process is not None:
            return self.process.poll()
        return None  # not our child: only its files say how it ended

    # -- events

    def new_events(self) -> Iterator[Event]:
        """The events written since the last call (complete lines only)."""
        try:
            with open(self.run_dir / EVENTS, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                try:
                    yield from_json(line.decode("utf-8", errors="replace"))
                except ValueError as err:
                    yield Log(str(err), level="warning")

    def follow(self, job: Job = QUIET, poll_s: float = 0.2) -> RunOutcome:
        """Pass every event on to `job` until the process ends; cancelling the job asks the run (once) to checkpoint
        and stop, and following goes on until it has; detaching the job stops following and leaves the run going
        (returncode None)."""
        asked = False
        while True:
            ended = not self.alive()
            for event in self.new_events():
                job.emit(event)
            if ended:
                break
            if job.detached:
                return RunOutcome(self.run_dir, None)
            if job.cancelled and not asked:
                self.stop()
                asked = True
            time.sleep(poll_s)
        with contextlib.suppress(OSError):
            (self.run_dir / PID).unlink()
        code = self.process.wait() if self.process is not None else None
        if code is None:  # attached: judge by the files it left
            code = 0 if (self.run_dir / REPORT).is_file() and finished(self.run_dir) else 130
        error = None if code in (0, 130) else (last_error(self.run_dir) or f"training exited with code {code}")
        return RunOutcome(self.run_dir, code, error)
