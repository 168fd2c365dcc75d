"""Small dataclasses every long job emits, so the CLI and the TUI render one stream of progress, and the `Job` a
long job takes: its events out, a cancel request in."""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from core.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """`done` of `total` units (None when unknown) of the named stage."""

    stage: str
    done: float
    total: float | None = None
    unit: str = ""
    message: str = ""


@dataclass(frozen=True)
class Log:
    """A line worth showing to the user."""

    message: str
    level: str = "info"


@dataclass(frozen=True)
class Metrics:
    """One row of the training table: a log step (loss, lr) or an evaluation (wer, recall...)."""

    kind: str  # "train" or "eval"
    step: int
    epoch: float
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    """The job finished; `result` is its return value (a path, a report...)."""

    stage: str
    result: Any = None


@dataclass(frozen=True)
class Failed:
    """The job failed with a one-line reason."""

    stage: str
    message: str


Event = Progress | Log | Metrics | Done | Failed
EventHandler = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """Default handler for callers that do not listen."""


class Job:
    """One running job's two-way link with whoever started it: events go out (`emit`), a cancel request comes in
    (`cancel`, from any thread) and the job looks at it at its safe points (`check`), where stopping leaves what it
    wrote consistent. So every long core function takes one `job: Job = QUIET` instead of a handler and a
    threading.Event of its own, and the CLI and the TUI start, follow and cancel every job the same way.

    `detach` is not a cancel: it tells a job that follows work going on elsewhere (a training run in its own
    process, core/train_process.py) to stop following and leave that work running."""

    def __init__(self, on_event: EventHandler = ignore) -> None:
        self.on_event = on_event
        self._cancelled = threading.Event()
        self._detached = threading.Event()

    def emit(self, event: Event) -> None:
        """Report an event to whoever started the job."""
        self.on_event(event)

    def cancel(self) -> None:
        """Ask the job to stop at its next safe point (it then raises Cancelled, or stops as its docs say)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check(self, message: str = "cancelled") -> None:
        """A safe point: raise Cancelled(message) when a cancel was asked for."""
        if self._cancelled.is_set():
            raise Cancelled(message)

    def detach(self) -> None:
        """Stop following (a run in another process goes on); not a cancel."""
        self._detached.set()

    @property
    def detached(self) -> bool:
        return self._detached.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, less when the job is cancelled meanwhile (polling loops); True when it
        was cancelled."""
        return self._cancelled.wait(timeout)


class _QuietJob(Job):
    """The default job: nobody listens, nobody cancels. Shared by every caller, so it refuses to be cancelled or
    detached (that would cancel everyone's default); a caller that cancels makes a `Job()` of its own."""

    def cancel(self) -> None:
        raise RuntimeError("QUIET is every caller's default job and cannot be cancelled: pass a Job() of your own")

    def detach(self) -> None:
        raise RuntimeError("QUIET is every caller's default job and cannot be detached: pass a Job() of your own")


QUIET: Job = _QuietJob()


_KINDS: dict[str, type] = {cls.__name__: cls for cls in (Progress, Log, Metrics, Done, Failed)}


def _plain(value: Any) -> Any:
    """JSON-safe form of an event field: paths become strings, dataclasses dicts."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def to_json(event: Event) -> str:
    """One line of JSON for an event (how a training subprocess reports to the TUI)."""
    return json.dumps({"event": type(event).__name__, **_plain(event)}, ensure_ascii=False)


def from_json(line: str) -> Event:
    """The event `to_json` wrote; ValueError for a line that is not one (e.g. a stray library print)."""
    try:
        data = json.loads(line)
        kind = _KINDS[data.pop("event")]
        return kind(**data)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"not an event line: {line[:80]!r}") from err


@contextlib.contextmanager
def library_bars_off(utils_module: str) -> Iterator[None]:
    """A library's own tqdm bars (`datasets.utils`, `huggingface_hub.utils`) off for the block and restored after:
    they draw on stderr, which would tear the TUI, and our Progress events say the same."""
    utils = importlib.import_module(utils_module)
    was_disabled = utils.are_progress_bars_disabled()
    utils.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            utils.enable_progress_bars()
