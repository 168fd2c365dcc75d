"""Long jobs (fetch, transcription, training, …) without freezing the UI.

A screen mixes in `JobRunner` and calls `start_job(name, work)`, where `work(job)` is a plain core call given
the `core.events.Job` made for it (`lambda job: draft(..., job=job)`). It runs in a `@work(thread=True,
exclusive=True)` worker; every event the job emits comes back as a `JobEvent` message and the end as one
`JobEnded` (posting messages is thread-safe; widgets are only ever touched on the UI thread, in the handlers).
Every job's progress shows in the app's header. Cancelling is `job.cancel()`, which core checks at its safe points.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from textual import work
from textual.message import Message

from core.errors import Cancelled, WhisperTuiError
from core.events import Event, Job, Progress

Work = Callable[[Job], Any]


class JobEvent(Message):
    """A core event (Progress, Log, …) from the running job."""

    def __init__(self, job: str, event: Event) -> None:
        super().__init__()
        self.job = job
        self.event = event


class JobEnded(Message):
    """The job finished: `result` on success, else `error` (one line); `cancelled` when the user stopped it."""

    def __init__(self, job: str, result: Any = None, error: str | None = None, cancelled: bool = False) -> None:
        super().__init__()
        self.job = job
        self.result = result
        self.error = error
        self.cancelled = cancelled

    @property
    def ok(self) -> bool:
        return self.error is None


def progress_text(event: Progress) -> tuple[float | None, str]:
    """(fraction done or None, a short label) for a Progress event."""
    fraction = None
    if event.total:
        fraction = max(0.0, min(1.0, event.done / event.total))
    label = event.stage
    if event.message:
        label += f": {event.message}"
    if event.total and event.unit == "s":
        label += f" {event.done:.0f}/{event.total:.0f} s"
    elif event.total and event.unit == "B":
        label += f" {event.done / 1e6:.1f}/{event.total / 1e6:.1f} MB"
    return fraction, label


class JobRunner:
    """Mixin for a Screen: one job at a time, its progress in the app header, cancelled through its `Job`."""

    _job: tuple[str, Job] | None = None

    @property
    def job_name(self) -> str | None:
        return self._job[0] if self._job else None

    @property
    def running_job(self) -> Job | None:
        """The running job's `Job` (None when none runs)."""
        return self._job[1] if self._job else None

    def start_job(self, name: str, work: Work) -> bool:
        """Run `work(job)` in a thread worker; False (and a notice) when a job is already running here."""
        if self._job is not None:
            self.notify(f"{self._job[0]} is still running (cancel it first)", severity="warning")  # type: ignore[attr-defined]
            return False

        def on_event(event: Event) -> None:
            self.post_message(JobEvent(name, event))  # type: ignore[attr-defined]

        job = Job(on_event)
        self._job = (name, job)
        self.app.set_job_status(name, f"{name}: starting")  # type: ignore[attr-defined]
        self._run_job(name, work, job)
        return True

    def cancel_job(self) -> bool:
        if self._job is None:
            return False
        self._job[1].cancel()
        self.app.set_job_status(self._job[0], f"{self._job[0]}: cancelling")  # type: ignore[attr-defined]
        return True

    def detach_job(self) -> bool:
        """Stop following the running job and leave what it follows going (a training run); not a cancel."""
        if self._job is None:
            return False
        self._job[1].detach()
        return True

    @work(thread=True, exclusive=True, group="job", exit_on_error=False)
    def _run_job(self, name: str, work: Work, job: Job) -> None:
        try:
            ended = JobEnded(name, result=work(job))
        except Cancelled:
            ended = JobEnded(name, error="cancelled", cancelled=True)
        except WhisperTuiError as err:
            ended = JobEnded(name, error=str(err).splitlines()[0] if str(err) else type(err).__name__)
        except Exception as err:  # never a traceback in the UI: one line, like the CLI
            first = str(err).splitlines()[0] if str(err) else ""
            ended = JobEnded(name, error=f"unexpected {type(err).__name__}: {first}")
        with contextlib.suppress(RuntimeError):  # the app has already closed
            self.app.call_from_thread(self._job_finished, ended)  # type: ignore[attr-defined]

    def _job_finished(self, ended: JobEnded) -> None:
        """On the UI thread: clear the header, then queue the end behind the job's last events."""
        self.app.set_job_status(ended.job, None)  # type: ignore[attr-defined]
        self.post_message(ended)  # type: ignore[attr-defined]

    def on_job_ended(self, message: JobEnded) -> None:
        """The job is over only once its end is shown: Textual calls this after the screen's own `on_job_ended`,
        so whoever sees `job_name` become None (a key, a test) also sees the screen's final status, never a
        late log line that was still queued."""
        self._job = None

    def on_job_event(self, message: JobEvent) -> None:
        """The header's line for the job. Textual calls this for every screen, beside a screen's own
        `on_job_event` (after it): handlers run for each class of the MRO, so a screen need not call this one."""
        if isinstance(message.event, Progress):
            fraction, label = progress_text(message.event)
            status = label if label.startswith(message.job) else f"{message.job}: {label}"
            status += "" if fraction is None else f" ({fraction:.0%})"
            self.app.set_job_status(message.job, status)  # type: ignore[attr-defined]
