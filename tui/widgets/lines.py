"""One-line (or fixed-height) text widgets that repaint without a layout pass.

`Static.update` asks for a layout of the whole screen; these widgets have a fixed height, so a new text
only repaints them (it matters on the editor's hot path, where every key press updates the info line).
"""

from __future__ import annotations

from typing import Literal

from rich.text import Text
from textual.widget import Widget

Severity = Literal["information", "warning", "error"]


class TextLine(Widget):
    """Shows a rich Text; give it a fixed height in CSS."""

    DEFAULT_CSS = "TextLine { height: 1; }"

    def __init__(self, text: Text | str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text = Text(text) if isinstance(text, str) else text

    @property
    def text(self) -> Text:
        return self._text

    def set(self, text: Text | str) -> None:
        text = Text(text) if isinstance(text, str) else text
        if text != self._text:
            self._text = text
            self.refresh()

    def render(self) -> Text:
        return self._text


class StatusLine(TextLine):
    """The line above the footer: what the last action did, or why it could not."""

    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; background: $panel; color: $text; }
    StatusLine.-warning { color: $warning; }
    StatusLine.-error { color: $error; text-style: bold; }
    """

    def say(self, message: str, severity: Severity = "information") -> None:
        self.set_class(severity == "warning", "-warning")
        self.set_class(severity == "error", "-error")
        self.set(Text(" ".join(message.split()), no_wrap=True, overflow="ellipsis"))
