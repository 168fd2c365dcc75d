"""The captions editor (screen 2) driven by keys through Textual's Pilot, on the real core and a real workspace.

The captions are sample_data/train.vtt with one keyword mis-heard ("mixture 8 by 7B" for "Mixtral 8x7B" in
cue 4), so exactly one cue is flagged and the fix is known.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.pilot import Pilot

from core import captions as caps
from core import editing
from core.workspace import Workspace
from tests.tui_helpers import FLAGGED, KEYWORD, MISHEARD, wait_for
from tui.app import WhisperTuiApp
from tui.screens.dialogs import ChoiceModal
from tui.screens.editor import EditorScreen

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.anyio


async def open_editor(pilot: Pilot) -> EditorScreen:
    """Press 2 and wait until the captions are open and every cue's keyword suggestions are computed."""
    await pilot.press("2")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, EditorScreen) and pilot.app.screen.review is not None)
    editor = pilot.app.screen
    assert isinstance(editor, EditorScreen)
    await wait_for(pilot, lambda: editor.review is not None and not editor.review.pending_texts())
    await pilot.pause()
    return editor


def texts(editor: EditorScreen) -> list[str]:
    assert editor.session is not None
    return [c.text for c in editor.session.cues]


def status(editor: EditorScreen) -> str:
    return editor.query_one("#status").text.plain  # type: ignore[attr-defined]


async def test_accept_suggestion_then_undo_and_redo(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        assert editor.table.cursor == 0
        before = editor.session.cues[FLAGGED]
        assert "K" in editor.review.flags(FLAGGED).marks
        await pilot.press("n")
        assert editor.table.cursor == FLAGGED
        assert MISHEARD in editor.editor.text  # the text editor follows the cursor
        await pilot.press("a")
        after = editor.session.cues[FLAGGED]
        assert KEYWORD in after.text and MISHEARD not in after.text
        assert (after.start, after.end) == (before.start, before.end)
        assert editor.review.flags(FLAGGED).marks == ""
        assert KEYWORD in editor.editor.text and KEYWORD in status(editor)
        await pilot.press("u")
        assert editor.session.cues[FLAGGED].text == before.text
        await pilot.press("ctrl+y")
        assert editor.session.cues[FLAGGED].text == after.text
        await pilot.press("ctrl+z")
        assert editor.session.cues[FLAGGED].text == before.text
        await pilot.press("ctrl+r")
        assert editor.session.cues[FLAGGED].text == after.text
        await pilot.press("n")  # nothing else is flagged
        assert editor.table.cursor == FLAGGED and "no flagged cues" in status(editor)


async def test_nudge_split_merge_insert_delete_by_keys(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        first = editor.session.cues[0]
        await pilot.press("right_square_bracket", "right_curly_bracket", "right_curly_bracket")
        assert (editor.session.cues[0].start, editor.session.cues[0].end) == (first.start + 100, first.end + 200)
        await pilot.press("left_square_bracket", "left_curly_bracket", "left_curly_bracket")
        assert editor.session.cues[0] == first
        count = len(editor.session.cues)
        await pilot.press("s")  # no cursor placed in the text: splits at the space nearest the middle
        assert len(editor.session.cues) == count + 1 and editor.table.row_count == count + 1
        left, right = editor.session.cues[0], editor.session.cues[1]
        assert f"{left.text} {right.text}" == first.text and left.end == right.start
        assert editor.query_one("#cues").row_key(1)[1] == right  # the table shows the new rows
        await pilot.press("m")
        assert editor.session.cues[0] == first and editor.table.row_count == count
        await pilot.press("i")  # an empty cue after the current one, and the text editor gets focus
        assert len(editor.session.cues) == count + 1 and editor.table.cursor == 1
        assert editor.session.cues[1].text == "" and app.focused is editor.editor
        await pilot.press("N", "e", "w")
        assert editor.session.cues[1].text == "New"
        await pilot.press("escape", "d")
        assert texts(editor) == [c.text for c in caps.read(workspace.captions_dir / "train.vtt").cues]


async def test_typing_edits_the_cue_and_undoes_in_one_step(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        original = editor.session.cues[0].text
        await pilot.press("enter")
        assert app.focused is editor.editor
        await pilot.press("space", "o", "k", "1", "n")  # screen keys (1, n) type text while editing
        assert editor.session.cues[0].text == original + " ok1n" and isinstance(app.screen, EditorScreen)
        await pilot.press("enter")  # Enter ends the edit: no newline, back to the table
        assert app.focused is editor.table and "\n" not in editor.editor.text
        await pilot.press("u")
        assert editor.session.cues[0].text == original
        await pilot.press("enter", "home", "right", "right", "right", "right", "right", "right", "right")
        await pilot.press("escape", "s")  # split where the text cursor was left
        assert texts(editor)[:2] == ["Welcome", original.removeprefix("Welcome ")]


async def test_search_jumps_to_each_match(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        expected = [i for i, text in enumerate(texts(editor)) if "gguf" in text.lower()]
        await pilot.press("slash")
        await pilot.press(*"GGUF")
        for index in [*expected, expected[0]]:
            await pilot.press("enter")
            assert editor.table.cursor == index
        assert editor.table.query == "GGUF"
        await pilot.press("escape")
        assert app.focused is editor.table and not editor.query_one("#search").display


async def test_autosave_appears_within_two_seconds_and_save_clears_it(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    path = workspace.captions_dir / "train.vtt"
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("n", "a")
        edited = time.monotonic()
        await wait_for(pilot, lambda: editing.autosave_path(path).is_file(), timeout=2.0)
        assert time.monotonic() - edited <= 2.0
        assert caps.read(editing.autosave_path(path), "json").cues == list(editor.session.cues)
        assert editing.find_newer_autosave(path) is not None
        await pilot.press("ctrl+s")
        assert not editing.autosave_path(path).exists() and not editor.session.dirty
        assert KEYWORD in caps.read(path).cues[FLAGGED].text
        assert editing.list_backups(path)  # the previous version went into .history/
        assert {s.stem: s.status for s in workspace.sources()}["train"] == "edited"


async def test_restore_modal_offers_a_newer_autosave(workspace: Workspace) -> None:
    path = workspace.captions_dir / "train.vtt"
    saved = caps.read(path)
    crashed = [c.with_text(c.text.upper()) if i == 0 else c for i, c in enumerate(saved.cues)]
    editing.write_autosave(crashed, path)
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
        assert "Restore" in str(app.screen.title_text)
        await pilot.press("r")
        editor = await open_editor(pilot)
        assert texts(editor)[0] == crashed[0].text and editor.session.dirty
        await pilot.press("u")  # undo goes back to the saved file
        assert texts(editor)[0] == saved.cues[0].text


@pytest.mark.parametrize("key, kept_aside", [("d", 0), ("escape", 1)])
async def test_restore_modal_discard_or_keep_aside(workspace: Workspace, key: str, kept_aside: int) -> None:
    """`d` discards the autosave; Esc opens the saved file and keeps the autosave in .history/."""
    path = workspace.captions_dir / "train.vtt"
    editing.write_autosave([caps.Cue(0, 1000, "only this")], path)
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
        await pilot.press(key)
        editor = await open_editor(pilot)
        assert len(editor.session.cues) == 17 and not editing.autosave_path(path).exists()
        kept = list(editing.history_dir(path).glob("train.vtt.autosave-*.json"))
        assert len(kept) == kept_aside and all(caps.read(k, "json").cues[0].text == "only this" for k in kept)


async def test_quit_with_unsaved_edits_asks_and_keeps_the_autosave(workspace: Workspace) -> None:
    path = workspace.captions_dir / "train.vtt"
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("n", "a", "ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
        assert editing.autosave_path(path).is_file()  # written at once, before the question
        await pilot.press("c")
        assert app.is_running and app.screen is editor
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert MISHEARD in caps.read(path).cues[FLAGGED].text  # not saved...
    assert KEYWORD in caps.read(editing.autosave_path(path), "json").cues[FLAGGED].text  # ...but not lost


async def test_quit_and_save(workspace: Workspace) -> None:
    path = workspace.captions_dir / "train.vtt"
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_editor(pilot)
        await pilot.press("n", "a", "ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.is_running)
    assert KEYWORD in caps.read(path).cues[FLAGGED].text and not editing.autosave_path(path).exists()


async def test_keywords_panel_saves_and_rehighlights(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        welcome = editor.session.cues[0].text
        assert not editor.review.keyword_spans("Welcome back")
        await pilot.press("k")
        panel = editor.query_one("#keywords")
        assert app.focused is panel and "Mixtral 8x7B" in panel.text
        panel.load_text(panel.text + "Welcome\n")
        await pilot.press("ctrl+s")
        assert workspace.keywords_path.read_text().endswith("Welcome\n")
        assert editor.review.keyword_spans(welcome)[0] == (0, 7)
        panel.load_text("= broken line\n")
        await pilot.press("ctrl+s")
        assert "keywords not saved" in status(editor)
        assert workspace.keywords_path.read_text().endswith("Welcome\n")
        await pilot.press("escape")
        assert app.focused is editor.table and not editor.query_one("#keywords-pane").display


async def test_play_without_a_player_offers_a_clip(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("p")
        assert "no audio player" in status(editor) and "press w" in status(editor)
        await pilot.press("w")
        clip = workspace.clips_dir / "train-cue0001.wav"
        await wait_for(pilot, clip.is_file, timeout=20)
        await wait_for(pilot, lambda: "wrote" in status(editor))


async def test_refused_edits_become_status_messages(workspace: Workspace) -> None:
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("end", "m")  # the last cue has nothing to merge with
        assert "last one" in status(editor) and app.is_running
        await pilot.press("a")
        assert "no keyword suggestion" in status(editor)


async def test_open_another_file_from_screen_one(workspace: Workspace) -> None:
    other = workspace.captions_dir / "plain.vtt"
    caps.write(caps.read(ROOT / "sample_data" / "plain.vtt"), other)
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down")  # plain was the first row; the list is sorted: plain, train
        await pilot.press("up", "enter")
        editor = await open_editor(pilot)
        assert editor.path == other


def test_editor_snapshot(workspace: Workspace, snap_compare) -> None:
    """The editor with the flagged cue selected: keyword highlights in the table and the text editor."""
    async def run_before(pilot: Pilot) -> None:
        editor = await open_editor(pilot)
        await pilot.press("n")
        assert editor.table.cursor == FLAGGED
        await pilot.pause()

    assert snap_compare(WhisperTuiApp(workspace), terminal_size=(100, 30), run_before=run_before)


async def test_play_starts_a_player_without_waiting(workspace: Workspace, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A player that cannot seek gets the cue's clip; it runs detached (here a script that records its args)."""
    record = tmp_path / "played.txt"
    player = tmp_path / "fakeplay"
    player.write_text(f"#!/bin/sh\necho \"$@\" > {record}\n")
    player.chmod(0o755)
    monkeypatch.setenv("WHISPER_TUI_PLAYER", str(player))
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: "playing with fakeplay" in status(editor), timeout=20)
        await wait_for(pilot, record.is_file)
        import soundfile as sf

        clip = Path(record.read_text().strip())
        expected = editor.session.cues[0].duration / 1000
        assert clip.suffix == ".wav" and abs(sf.info(str(clip)).duration - expected) < 0.01


async def test_reloads_captions_that_changed_on_disk(workspace: Workspace) -> None:
    path = workspace.captions_dir / "train.vtt"
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        await pilot.press("1")
        redrafted = caps.read(path)
        redrafted.cues[0] = redrafted.cues[0].with_text("A new draft.")
        time.sleep(0.01)
        caps.write(redrafted, path)
        await pilot.press("2")
        await wait_for(pilot, lambda: texts(editor)[0] == "A new draft.")


async def test_reading_problems_flag_their_cue(workspace: Workspace) -> None:
    path = workspace.captions_dir / "train.vtt"
    path.write_text(path.read_text().replace("00:08.707 --> 00:14.161", "00:08.707 -> 00:14.161"))
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        editor = await open_editor(pilot)
        assert [f.code for f in editor.review.flags(1).findings] == ["arrow"]
        await pilot.press("n")
        assert editor.table.cursor == 1 and "arrow" in editor.query_one("#cue-info").text.plain


async def test_captions_sent_to_the_editor_open_without_its_first_captions_on_the_way(workspace: Workspace) -> None:
    """`app.open_captions` (Fetch's and Segments' "open in the editor"), before the editor was ever shown and again
    while it shows another file: the file asked for opens, and the workspace's first captions (train.vtt, which
    holds a newer autosave here) are never opened on the way: the restore question never comes up."""
    path = workspace.captions_dir / "train.vtt"
    editing.write_autosave([c.with_text(c.text.upper()) for c in caps.read(path).cues], path)
    asked = [workspace.captions_dir / f"zz_{name}.vtt" for name in ("one", "two")]
    for other in asked:
        caps.write(caps.read(ROOT / "sample_data" / "plain.vtt"), other)
    app = WhisperTuiApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for other in asked:
            app.open_captions(other)
            await wait_for(pilot, lambda other=other: isinstance(app.screen, ChoiceModal) or (
                isinstance(app.screen, EditorScreen) and app.screen.path == other and app.screen.session is not None))
            await pilot.pause()
            assert isinstance(app.screen, EditorScreen), "the first captions' restore question came up"
            assert app.screen.path == other
