"""The screen registry: what number keys 1-5 open. THE extension point for new screens.

Each entry names a mode (Textual keeps one screen stack per mode, so a dialog open on one screen stays there
when you switch), a title, a short tab label, and how to load the screen class (lazily: importing a screen
module should not slow down start-up). A new screen is a `WorkbenchScreen` subclass with `NUMBER = n` (see
tui/screens/base.py) and an entry here; the number key, the tab strip, the command palette and the help screen
pick it up from this table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from textual.screen import Screen


@dataclass(frozen=True)
class ScreenSpec:
    number: int
    mode: str
    title: str
    tab: str
    load: Callable[[], type[Screen]]

    def make(self) -> Screen:
        return self.load()()


def _lazy(module: str, name: str) -> Callable[[], type[Screen]]:
    return lambda: getattr(importlib.import_module(module), name)


SCREENS: dict[int, ScreenSpec] = {
    1: ScreenSpec(1, "fetch", "Fetch & transcribe", "Fetch", _lazy("tui.screens.fetch", "FetchScreen")),
    2: ScreenSpec(2, "editor", "Captions editor", "Editor", _lazy("tui.screens.editor", "EditorScreen")),
    3: ScreenSpec(3, "segments", "Segments", "Segments", _lazy("tui.screens.segments", "SegmentsScreen")),
    4: ScreenSpec(4, "train", "Train", "Train", _lazy("tui.screens.train", "TrainScreen")),
    5: ScreenSpec(5, "evaluate", "Evaluate", "Evaluate", _lazy("tui.screens.evaluate", "EvaluateScreen")),
}
