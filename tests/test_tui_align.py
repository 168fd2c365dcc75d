"""Reading scripts in the workbench: `s` on screen 1 writes script.txt and shows its coverage, `A` times it in a
recording (the editor then flags where the reading left the script), `t` in the editor re-times a cue."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from core import captions as caps
from core.reading_script import read_script
from core.workspace import Workspace, add_source, read_for_editing
from tests.tui_helpers import SAMPLES, wait_for
from tui.app import WhisperTuiApp
from tui.screens.editor import EditorScreen
from tui.screens.fetch import FetchScreen

pytestmark = pytest.mark.anyio
READING = SAMPLES / "script"
TOLERANCE_MS = 250


def status(screen) -> str:
    return screen.query_one("#status").text.plain


async def test_script_align_and_retime_in_the_workbench(workspace: Workspace, model_cache: Path) -> None:
    import sys

    sys.path.insert(0, str(SAMPLES))
    from make_script_sample import DEVIATING_LINES, REPEATED_LINE

    add_source(workspace, str(READING / "deviating.mp3"))
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FetchScreen))
        screen = app.screen
        script = workspace.root / "script.txt"
        await pilot.press("s")
        assert script.is_file() and "wrote script.txt" in status(screen)
        panel = str(screen.query_one("#script-panel", Static).render())
        assert all(k.term in panel for k in workspace.keywords()) and "to read at 150 words/min" in panel
        # the user keeps the lines they read: s now reports on the file as it stands
        script.write_text("\n".join(read_script(READING / "script.txt")[:DEVIATING_LINES]) + "\n", encoding="utf-8")
        await pilot.press("s")
        assert "as it stands" in status(screen)
        assert "too rare" in str(screen.query_one("#script-panel", Static).render())

        table = screen.query_one("#sources", DataTable)
        table.move_cursor(row=table.get_row_index("deviating"))
        await pilot.press("A")
        await wait_for(pilot, lambda: screen.job_name is None, timeout=300)
        vtt = workspace.captions_dir / "deviating.vtt"
        assert "wrote captions/deviating.vtt" in status(screen) and "warning" in status(screen), status(screen)
        truth = caps.read(READING / "deviating.vtt").cues
        cues = read_for_editing(vtt).cues
        assert [c.text for c in cues] == [c.text for c in truth]

        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.path == vtt)
        editor = app.screen
        await wait_for(pilot, lambda: editor.session is not None)
        editor.table.move_cursor(0)
        await pilot.press("n")  # the first flag: the earlier reading of the repeated line
        await wait_for(pilot, lambda: editor._current() == REPEATED_LINE - 2)

        # a cue moved off its speech by hand comes back with t
        index = 2
        editor.table.move_cursor(index)
        await pilot.press(*["right_square_bracket"] * 5, *["left_curly_bracket"] * 5)
        moved = editor.session.cues[index]
        assert moved.start - truth[index].start >= 450 and truth[index].end - moved.end >= 450
        await pilot.press("t")
        await wait_for(pilot, lambda: editor.job_name is None and editor.session.cues[index] != moved, timeout=120)
        cue = editor.session.cues[index]
        assert abs(cue.start - truth[index].start) <= TOLERANCE_MS and abs(cue.end - truth[index].end) <= TOLERANCE_MS
        assert cue.text == truth[index].text and "re-time" in status(editor)
        await pilot.press("u")  # one undo step
        assert editor.session.cues[index] == moved
