"""The text editor for one cue: a TextArea that highlights keywords, suggestions and unsure words.

Cue text is one line, so Enter does not insert a newline: it posts `Done` (the screen then goes back to
the table). Highlights come from `TextArea.get_line`, the documented hook for styling its lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.widgets import TextArea
from textual.widgets.text_area import Edit, EditResult

Marker = Callable[[str], Iterable[tuple[int, int, str]]]


class CueEditor(TextArea):
    """Edits the selected cue's text; `marker(text)` gives (start, end, kind) spans to highlight, where kind
    is keyword, suggestion or unsure."""

    DEFAULT_CSS = """
    CueEditor { height: 4; border: round $panel; padding: 0 1; border-title-color: $text-muted; }
    CueEditor:focus { border: round $accent; border-title-color: $text; }
    CueEditor > .cue-editor--keyword { color: $success; text-style: bold; }
    CueEditor > .cue-editor--suggestion { color: $warning; text-style: bold underline; }
    CueEditor > .cue-editor--unsure { text-style: italic underline; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = TextArea.COMPONENT_CLASSES | {
        "cue-editor--keyword", "cue-editor--suggestion", "cue-editor--unsure"}

    class Done(Message):
        """Enter was pressed: the edit is finished."""

        def __init__(self, editor: CueEditor) -> None:
            super().__init__()
            self.editor = editor

        @property
        def control(self) -> CueEditor:
            return self.editor

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                         highlight_cursor_line=False)
        self.border_title = "cue text · Enter or e edits · Esc back to the table"
        self.marker: Marker | None = None
        self.cue_index: int | None = None
        self.on_change: Callable[[], None] | None = None

    def edit(self, edit: Edit) -> EditResult:
        """Typing, pasting, deleting: tell the screen at once (not via the Changed message, which arrives
        after the next frame), so the table row is repainted in the same frame as the editor."""
        result = super().edit(edit)
        if self.on_change is not None:
            self.on_change()
        return result

    def _refresh_size(self) -> None:
        """Soft-wrapped, Textual's TextArea sets its virtual size to (0, lines) after every edit and the layout
        sets it back to the box's size, so each key press re-laid out and repainted the whole screen (~12 ms of
        a 17 ms key press with 3,000 cues open). While the text fits the box before and after the edit there is
        nothing to scroll: leave the size to the layout."""
        if not self.soft_wrap:
            super()._refresh_size()
            return
        lines, box = self.wrapped_document.height, self.content_size.height
        if lines != self.virtual_size.height and (lines > box or self.virtual_size.height > box):
            self.virtual_size = Size(self.virtual_size.width, lines)
        self._refresh_scrollbars()

    def show_cue(self, index: int | None, text: str) -> None:
        """Load a cue's text (no Changed handling needed: the screen compares with the cue)."""
        self.cue_index = index
        if self.text != text:
            self.load_text(text)
        self.restyle()

    def restyle(self) -> None:
        """The highlights changed without the text changing (suggestions arrived, keywords saved)."""
        self.notify_style_update()
        self.refresh()

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        if self.marker is not None:
            for start, end, kind in self.marker(line.plain):
                line.stylize(self.get_component_rich_style(f"cue-editor--{kind}", partial=True), start, end)
        return line

    @property
    def position(self) -> int:
        """The cursor as a character offset into the (single-line) text."""
        row, column = self.cursor_location
        lines = self.text.split("\n")
        return sum(len(line) + 1 for line in lines[:row]) + column

    async def _on_key(self, event: events.Key) -> None:
        # Textual runs every class's _on_key along the MRO: preventing the default keeps TextArea's from
        # inserting a newline; other keys fall through to it.
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Done(self))
