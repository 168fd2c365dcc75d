"""Stand-ins for the screens a later milestone builds (3 Segments, 4 Train, 5 Evaluate)."""

from __future__ import annotations

from functools import cache

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.widgets import Static

from tui.screens import SCREENS
from tui.screens.base import WorkbenchScreen

PLANS = {
    3: "Cut the edited captions into ≤ 30 s training rows (core.segments) and build the dataset (core.dataset).",
    4: "LoRA fine-tune with live loss/WER curves (core.train), cancel and resume.",
    5: "Before/after report: WER, keyword recall, per-keyword hits (core.evaluate).",
}


class PlaceholderScreen(WorkbenchScreen):
    """Says what will live here; the CLI already does it (whisper-tui --help)."""

    def compose_body(self) -> ComposeResult:
        spec = SCREENS[self.NUMBER]
        with Middle(), Center():
            yield Static(f"[b]{spec.number} {spec.title}[/b]\n\n{PLANS.get(self.NUMBER, '')}\n\n"
                         "Not built yet in the TUI: use the command line for now (whisper-tui --help).",
                         classes="placeholder")


@cache
def placeholder_screen(number: int) -> type[PlaceholderScreen]:
    """One class per number, so each has its own NUMBER (and its own entry in the help screen)."""
    return type(f"{SCREENS[number].tab}Placeholder", (PlaceholderScreen,), {"NUMBER": number})
