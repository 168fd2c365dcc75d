"""The job convention (core/events.py `Job`): events out, a cancel request in, checked at the job's safe points;
`detach` for a job that follows a run in another process. Real cancellations through it are tested where the jobs
are: test_transcribe (a draft), test_tui_segments (a dataset build), test_fetch (a download), test_train_runs
(training set-up), test_tui_evaluate (an evaluation from the screen)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.errors import Cancelled
from core.events import QUIET, Event, Job, Log
from core.runs import EVENTS, STOP_REQUEST
from core.train_process import TrainProcess

ROOT = Path(__file__).resolve().parent.parent


def test_check_raises_cancelled_only_once_cancel_was_asked_for() -> None:
    seen: list[Event] = []
    job = Job(seen.append)
    job.emit(Log("one"))
    job.check()
    assert not job.cancelled and not job.detached
    job.cancel()
    assert job.cancelled
    with pytest.raises(Cancelled, match="draft cancelled") as info:
        job.check("draft cancelled")
    assert info.value.exit_code == 130
    assert seen == [Log("one")]


def test_detach_is_not_a_cancel() -> None:
    job = Job()
    job.detach()
    assert job.detached and not job.cancelled
    job.check()


def test_wait_sleeps_until_cancelled() -> None:
    job = Job()
    assert job.wait(0.01) is False
    threading.Timer(0.05, job.cancel).start()
    started = time.monotonic()
    assert job.wait(30) is True
    assert time.monotonic() - started < 10


def test_quiet_is_nobodys_to_cancel() -> None:
    with pytest.raises(RuntimeError, match="cannot be cancelled"):
        QUIET.cancel()
    with pytest.raises(RuntimeError, match="cannot be detached"):
        QUIET.detach()
    assert not QUIET.cancelled and not QUIET.detached
    QUIET.check()
    QUIET.emit(Log("nobody listens"))


def test_core_events_imports_nothing_heavy() -> None:
    """Every core module imports it, and the CLI at start-up: the standard library and core.errors only."""
    code = ("import sys\nbefore = set(sys.modules)\nimport core.events\n"
            "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
            "print(' '.join(sorted(new - set(sys.stdlib_module_names))))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["core"]


# ---------------------------------------------------------------------------- following a run in another process

_STAND_IN = """
import signal, sys, time
from pathlib import Path
from core.events import Log, to_json

events = Path(sys.argv[1]) / "events.jsonl"

def say(message):
    with open(events, "a", encoding="utf-8") as handle:
        handle.write(to_json(Log(message)) + "\\n")

def stop(signum, frame):
    say("stopping with a checkpoint")
    sys.exit(130)

signal.signal(signal.SIGINT, stop)
say("started")
time.sleep(60)
"""


def _stand_in(run_dir: Path) -> TrainProcess:
    """A process in place of `whisper-tui train`: it writes an event, then waits for SIGINT (which it answers)."""
    run_dir.mkdir()
    (run_dir / EVENTS).write_text("")
    process = subprocess.Popen([sys.executable, "-c", _STAND_IN, str(run_dir)], cwd=ROOT, start_new_session=True)
    return TrainProcess(run_dir, process)


def test_follow_a_cancelled_job_stops_the_run_and_follows_it_to_the_end(tmp_path: Path) -> None:
    process = _stand_in(tmp_path / "run")
    seen: list[Event] = []

    def on_event(event: Event) -> None:
        seen.append(event)
        job.cancel()

    job = Job(on_event)
    try:
        outcome = process.follow(job, poll_s=0.05)
    finally:
        process.process.kill()
    assert outcome.returncode == 130 and outcome.error is None
    assert (tmp_path / "run" / STOP_REQUEST).is_file()  # what the run reads besides the SIGINT
    assert seen == [Log("started"), Log("stopping with a checkpoint")]


def test_follow_a_detached_job_leaves_the_run_going(tmp_path: Path) -> None:
    process = _stand_in(tmp_path / "run")
    job = Job(lambda event: job.detach())
    try:
        outcome = process.follow(job, poll_s=0.05)
        assert outcome.returncode is None
        assert process.alive() and not (tmp_path / "run" / STOP_REQUEST).exists()
    finally:
        process.process.kill()
        process.process.wait()


# ---------------------------------------------------------------------------- the TUI's job runner


@pytest.mark.anyio
async def test_a_screen_sees_every_event_before_its_job_counts_as_ended() -> None:
    """`job_name` turns None only after the screen's own `on_job_ended` ran, behind every event the job emitted:
    a key pressed (or a test looking) at that moment sees the final status, not a log line still queued."""
    from textual.app import App
    from textual.screen import Screen

    from tui.jobs import JobEnded, JobEvent, JobRunner

    class Worksite(JobRunner, Screen):
        status = ""
        seen_at_end: list[str | None] = []

        def on_job_event(self, message: JobEvent) -> None:
            if isinstance(message.event, Log):
                self.status = message.event.message

        def on_job_ended(self, message: JobEnded) -> None:
            self.seen_at_end.append(self.job_name)
            self.status = f"{message.job}: {message.result}"

    class Host(App):
        def set_job_status(self, name: str, status: str | None) -> None:
            pass

        def on_mount(self) -> None:
            self.push_screen(Worksite())

    def chatty(job: Job) -> str:
        for n in range(500):  # a burst at the very end, as a run's last lines come in one poll
            job.emit(Log(f"line {n}"))
        return "finished"

    app = Host()
    async with app.run_test() as pilot:
        screen = app.screen
        assert isinstance(screen, Worksite)
        assert screen.start_job("chatty", chatty)
        deadline = time.monotonic() + 60
        while screen.job_name is not None:
            assert time.monotonic() < deadline, "the job never ended"
            await pilot.pause(0)
        assert screen.status == "chatty: finished"
        assert screen.seen_at_end == ["chatty"]  # the screen handled the end while the job was still its own
        assert screen.start_job("chatty", chatty)  # and a new one starts at once
