"""Small dataclasses every long job emits, so the CLI and the TUI render one stream of progress."""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


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
