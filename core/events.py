"""Small dataclasses every long job emits, so the CLI and the TUI render one stream of progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
