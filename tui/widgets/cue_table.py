"""The captions editor's cue table: #, start, end, duration, chars/s, flags and the highlighted text."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text

from core.captions import format_timestamp
from core.review import CueFlags, Review, match_spans
from tui.widgets.table import Column, VirtualTable

FLAG_STYLES = {"E": "cue-table--error", "W": "cue-table--warning", "K": "cue-table--suggestion",
               "?": "cue-table--unsure", "…": "cue-table--pending"}


def highlighted(text: str, spans: Iterable[tuple[int, int, Style]]) -> Text:
    """`text` with each (start, end, style) span applied (later spans on top)."""
    out = Text(text, no_wrap=True, end="")
    for start, end, style in spans:
        out.stylize(style, start, end)
    return out


def text_spans(review: Review, index: int, flags: CueFlags, query: str,
               styles: dict[str, Style]) -> list[tuple[int, int, Style]]:
    """Spans to style in cue `index`'s text: keywords, suggestions, unsure words, search hits."""
    text = review.cues[index].text
    spans = [(s, e, styles["keyword"]) for s, e in review.keyword_spans(text)]
    spans += [(s.start, s.end, styles["suggestion"]) for s in flags.suggestions or ()]
    spans += [(s, e, styles["unsure"]) for s, e in flags.low_confidence]
    spans += [(s, e, styles["match"]) for s, e in match_spans(text, query)]
    return spans


class CueTable(VirtualTable):
    """Rows come straight from a `Review` (the cues and their flags), rendered only when on screen."""

    DEFAULT_CSS = """
    CueTable > .cue-table--keyword { color: $success; text-style: bold; }
    CueTable > .cue-table--suggestion { color: $warning; text-style: bold underline; }
    CueTable > .cue-table--unsure { text-style: italic underline; }
    CueTable > .cue-table--match { background: $accent 60%; }
    CueTable > .cue-table--error { color: $error; text-style: bold; }
    CueTable > .cue-table--warning { color: $warning; }
    CueTable > .cue-table--pending { color: $text-muted; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = VirtualTable.COMPONENT_CLASSES | {
        "cue-table--keyword", "cue-table--suggestion", "cue-table--unsure", "cue-table--match",
        "cue-table--error", "cue-table--warning", "cue-table--pending"}

    SHORT_TIMES: ClassVar[Sequence[Column]] = (
        Column("#", 5, "right"), Column("start", 9), Column("end", 9), Column("dur", 5, "right"),
        Column("cps", 4, "right"), Column("flags", 5), Column("text", None, min_width=12))
    LONG_TIMES: ClassVar[Sequence[Column]] = (
        Column("#", 5, "right"), Column("start", 12), Column("end", 12), Column("dur", 5, "right"),
        Column("cps", 4, "right"), Column("flags", 5), Column("text", None, min_width=12))

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.review: Review | None = None
        self.query = ""
        self.columns = self.SHORT_TIMES

    def show(self, review: Review | None, cursor: int = 0) -> None:
        """Show another list of cues (a freshly opened file)."""
        self.review = review
        long = review is not None and any(c.end >= 3_600_000 for c in review.cues)
        self.columns = self.LONG_TIMES if long else self.SHORT_TIMES
        self._widths = (-1, ())
        self.set_row_count(len(review) if review is not None else 0)
        self.cursor = 0
        self.move_cursor(cursor)

    def set_query(self, query: str) -> None:
        self.query = query
        self.refresh_rows(0, self.row_count)

    def row_key(self, index: int) -> Hashable:
        assert self.review is not None
        return index, self.review.cues[index], self.review.flags(index).marks, self.query

    def _text_styles(self) -> dict[str, Style]:
        return {name: self.style_of(f"cue-table--{name}") for name in ("keyword", "suggestion", "unsure", "match")}

    def row_cells(self, index: int) -> Sequence[Text]:
        assert self.review is not None
        cue = self.review.cues[index]
        flags = self.review.flags(index)
        hours = self.columns is self.LONG_TIMES
        cps = cue.chars_per_second()
        marks = Text(no_wrap=True)
        for mark in flags.marks:
            marks.append(mark, self.style_of(FLAG_STYLES[mark]))
        return (
            Text(str(index + 1)),
            Text(format_timestamp(cue.start, always_include_hours=hours)),
            Text(format_timestamp(cue.end, always_include_hours=hours)),
            Text(f"{cue.duration / 1000:.1f}"),
            Text(f"{cps:.0f}" if cps != float("inf") else "∞"),
            marks,
            highlighted(cue.text, text_spans(self.review, index, flags, self.query, self._text_styles())),
        )
