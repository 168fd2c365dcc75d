"""Small modal questions: one message, a few answers, each with its own key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


@dataclass(frozen=True)
class Choice:
    """An answer: the value `dismiss` returns, the button label, and the key that picks it."""

    value: str
    label: str
    key: str


class ChoiceModal(ModalScreen[str]):
    """Ask one question; Escape answers `cancel_value` (the harmless answer)."""

    DEFAULT_CSS = """
    ChoiceModal { align: center middle; }
    ChoiceModal > Vertical {
        width: auto; max-width: 90%; min-width: 50; height: auto; padding: 1 2;
        border: thick $accent; background: $surface;
    }
    ChoiceModal .question-title { text-style: bold; margin-bottom: 1; }
    ChoiceModal .question-body { margin-bottom: 1; }
    ChoiceModal Horizontal { height: auto; width: auto; }
    ChoiceModal Button { margin-right: 2; }
    """

    def __init__(self, title: str, message: str, choices: Sequence[Choice], cancel_value: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.choices = tuple(choices)
        self.cancel_value = cancel_value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="question-title", markup=False)
            yield Static(self.message, classes="question-body", markup=False)
            with Horizontal():
                for choice in self.choices:
                    yield Button(Text(f"{choice.label} ({choice.key})"), id=f"choice-{choice.value}",
                                 variant="primary" if choice is self.choices[0] else "default")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def on_key(self, event: events.Key) -> None:
        for choice in self.choices:
            if event.key == choice.key:
                event.stop()
                self.dismiss(choice.value)
                return
        if event.key == "escape":
            event.stop()
            self.dismiss(self.cancel_value)
