"""Screen 2, the captions editor: a cue table beside the selected cue's text, flags, keywords, search, audio.

All editing goes through core: an `EditSession` (undoable ops) and a `Review` (per-cue flags, updated only
for the cues an edit changed). This screen maps keys to ops, repaints the rows that changed, autosaves
within a second of an edit (core.editing.write_autosave, atomic) and saves for real with backups.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static, TextArea
from textual.worker import get_current_worker

from core import captions as caps
from core import editing
from core.align import align_source, retime
from core.captions import clean_text, format_timestamp
from core.editing import EditOp, EditSession, EditText, MergeWithNext, Nudge, Split
from core.errors import WhisperTuiError
from core.events import Log
from core.player import Player, clip_path, write_clip
from core.review import ReplaceAll, Review, compute_suggestions, find_next, new_cue_after, split_position
from core.vocabulary import Suggestion
from core.workspace import read_for_editing, set_aside_autosave
from tui.jobs import JobEnded, JobEvent
from tui.screens.base import OpenCaptions, WorkbenchScreen
from tui.screens.dialogs import Choice, ChoiceModal
from tui.widgets.cue_editor import CueEditor
from tui.widgets.cue_table import CueTable
from tui.widgets.lines import TextLine
from tui.widgets.table import VirtualTable

AUTOSAVE_DELAY_S = 1.0  # an edit reaches the autosave file within this (plus the write)
NUDGE_MS = 100
SYNC_SUGGEST_LIMIT = 8  # an edit touching more cues than this leaves their suggestions to the background
SUGGEST_BATCH = 12
SUGGEST_PAUSE_S = 0.3  # while typing, keyword suggestions wait for a pause this long


class SuggestionsReady(Message):
    """A batch of keyword suggestions from the background worker (for the keywords of `generation`)."""

    def __init__(self, results: dict[str, tuple[Suggestion, ...]], generation: int) -> None:
        super().__init__()
        self.results = results
        self.generation = generation


class KeywordsEditor(TextArea):
    """keywords.txt in a side panel; ctrl+s (while it has focus) checks and saves it."""

    HELP_TITLE = "keywords panel"
    DEFAULT_CSS = "KeywordsEditor { height: 1fr; }"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "save_keywords", "Save keywords", id="keywords.save")]

    class Save(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, soft_wrap=True, tab_behavior="focus", show_line_numbers=False)

    def action_save_keywords(self) -> None:
        self.post_message(self.Save(self.text))


class EditorScreen(WorkbenchScreen):
    """See the module docstring. With the text editor focused, its own keys win; Escape returns to the table."""

    NUMBER = 2
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,e", "edit_text", "Edit", id="editor.edit"),
        Binding("escape", "to_table", "Back to table", show=False, id="editor.to_table"),
        Binding("n", "next_flag", "Next flag", id="editor.next_flag"),
        Binding("N", "previous_flag", "Prev flag", show=False, id="editor.previous_flag"),
        Binding("a", "accept", "Accept", id="editor.accept"),
        Binding("s", "split", "Split", id="editor.split"),
        Binding("m", "merge", "Merge", id="editor.merge"),
        Binding("left_square_bracket", f"nudge(-{NUDGE_MS}, 0)", "Start −0.1 s", show=False, id="editor.start_earlier"),
        Binding("right_square_bracket", f"nudge({NUDGE_MS}, 0)", "Start +0.1 s", show=False, id="editor.start_later"),
        Binding("left_curly_bracket", f"nudge(0, -{NUDGE_MS})", "End −0.1 s", show=False, id="editor.end_earlier"),
        Binding("right_curly_bracket", f"nudge(0, {NUDGE_MS})", "End +0.1 s", show=False, id="editor.end_later"),
        Binding("i", "insert", "Insert cue", show=False, id="editor.insert"),
        Binding("d,delete", "delete", "Delete cue", show=False, id="editor.delete"),
        Binding("ctrl+z,u", "undo", "Undo", id="editor.undo"),
        Binding("ctrl+y,ctrl+r", "redo", "Redo", show=False, id="editor.redo"),
        Binding("slash", "search", "Search", show=False, id="editor.search"),
        Binding("ctrl+s", "save", "Save", id="editor.save"),
        Binding("p", "play", "Play", show=False, id="editor.play"),
        Binding("w", "write_clip", "Cue → WAV", show=False, id="editor.write_clip"),
        Binding("k", "keywords", "Keywords", id="editor.keywords"),
        Binding("t", "retime", "Re-time", id="editor.retime"),
        Binding("A", "align", "Align script", show=False, id="editor.align"),
    ]
    HELP_WIDGETS = (CueTable, CueEditor, KeywordsEditor)

    def __init__(self) -> None:
        super().__init__()
        self.path: Path | None = None
        self.session: EditSession | None = None
        self.review: Review | None = None
        self._typing: EditOp | None = None
        self._autosave_timer: Timer | None = None
        self._suggest_timer: Timer | None = None
        self.autosaver = editing.Autosaver()
        self.player = Player("cue")
        self._asking: Path | None = None  # the file whose restore question is on screen
        self._loaded_mtime: int | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="editor-main"):
            with Vertical(id="cues-pane"):
                yield CueTable(id="cues")
                yield CueEditor(id="cue-text")
                yield TextLine(id="cue-info")
                yield Input(placeholder="search cue text — Enter: next match, Esc: close", id="search")
            with Vertical(id="keywords-pane"):
                yield Static("keywords.txt\nctrl+s saves · Esc back", classes="pane-title")
                yield KeywordsEditor(id="keywords")

    @property
    def table(self) -> CueTable:
        return self.query_one("#cues", CueTable)

    @property
    def editor(self) -> CueEditor:
        return self.query_one("#cue-text", CueEditor)

    def on_mount(self) -> None:
        self.editor.marker = self._marks
        self.editor.on_change = self._typed
        self.table.focus()

    def on_screen_resume(self) -> None:
        if self.path is not None and self._changed_on_disk() and not self.unsaved():
            self._load(self.path, restore=False)  # e.g. drafted again on screen 1
        elif self.path is None and self._asking is None:
            self.call_later(self._open_first_captions)  # behind an OpenCaptions already queued (app.open_captions)

    def _open_first_captions(self) -> None:
        """Nothing asked for and nothing open: the workspace's first captions."""
        if self.path is not None or self._asking is not None:
            return
        first = next((s.captions for s in self.workspace.sources() if s.captions is not None), None)
        if first is None:
            self.say("no captions in this workspace yet: fetch and transcribe on screen 1", "warning")
        else:
            self.open_captions(first)

    @on(OpenCaptions)
    def _open_asked_for(self, message: OpenCaptions) -> None:
        self.open_captions(message.path)

    def on_unmount(self) -> None:
        self.player.stop()

    # -- opening

    def _mtime(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns if self.path is not None else None
        except OSError:
            return None

    def _changed_on_disk(self) -> bool:
        return self._mtime() != self._loaded_mtime

    def open_captions(self, path: Path) -> None:
        """Open a captions file; first offer to restore a newer autosave, and keep unsaved work of the last."""
        path = Path(path)
        if self.path is not None and path.resolve() == self.path.resolve():
            if self._changed_on_disk() and not self.unsaved():
                self._load(path, restore=False)
            return
        if self.unsaved():
            self.keep_unsaved()
            self.say(f"unsaved edits of {self.path.name if self.path else ''} are kept in its autosave", "warning")
        try:
            autosave = editing.find_newer_autosave(path)
        except (WhisperTuiError, OSError):
            autosave = None
        if autosave is None:
            self._load(path, restore=False)
            return

        def answered(choice: str | None) -> None:
            self._asking = None
            if choice == "discard":
                editing.discard_autosave(path)
            elif choice != "restore":
                kept = set_aside_autosave(path)
                if kept is not None:
                    self.notify(f"the autosave was kept as {kept.parent.name}/{kept.name}", timeout=8)
            self._load(path, restore=choice == "restore")

        self._asking = path

        self.app.push_screen(ChoiceModal(
            f"Restore unsaved edits of {path.name}?",
            f"An autosave newer than {path.name} was found (whisper-tui was stopped before saving). "
            "Restore it (undo brings back the saved file), or discard it? (Esc keeps it in .history/)",
            [Choice("restore", "Restore", "r"), Choice("discard", "Discard", "d")], "keep"), answered)

    def _load(self, path: Path, restore: bool) -> None:
        try:
            captions = read_for_editing(path, cross_check=False)  # checked in the background (_cross_check)
            keywords = self.workspace.keywords()
        except WhisperTuiError as err:
            self.say(str(err), "error")
            return
        session = EditSession(captions)
        if restore:
            try:
                session.apply(ReplaceAll(tuple(editing.restore_autosave(path).cues)))
            except WhisperTuiError as err:
                self.say(f"could not restore the autosave: {err}", "error")
        self.path, self.session, self._typing = path, session, None
        self._loaded_mtime = self._mtime()
        self.autosaver.opened(path, session.revision if restore else 0)
        self.review = Review(session.captions(), keywords)  # with the file's parse problems
        self.table.show(self.review)
        self._show_current()
        self.call_after_refresh(self._fill_suggestions)  # the table first, then the background work
        self._measure_audio()
        self._cross_check(path)
        problems = f" · {len(self.review.file_findings)} file problems" if self.review.file_findings else ""
        self.say(f"{'restored autosave of ' if restore else 'opened '}{path.name}: {len(session.cues)} cues"
                 + problems)
        self.workspace_keywords_to_panel()

    def workspace_keywords_to_panel(self) -> None:
        path = self.workspace.keywords_path
        try:
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
        except (OSError, UnicodeDecodeError) as err:
            text = ""
            self.say(f"cannot read {path.name}: {err}", "error")
        self.query_one("#keywords", KeywordsEditor).load_text(text)

    # -- the current cue

    def _current(self) -> int | None:
        if self.session is None or not self.session.cues:
            return None
        return min(self.table.cursor, len(self.session.cues) - 1)

    def _marks(self, text: str) -> list[tuple[int, int, str]]:
        """Highlights for the text editor: keywords always; suggestions and unsure words while in sync."""
        if self.review is None:
            return []
        marks = [(s, e, "keyword") for s, e in self.review.keyword_spans(text)]
        index = self.editor.cue_index
        if index is not None and index < len(self.review.cues) and self.review.cues[index].text == text:
            flags = self.review.flags(index)
            marks += [(s.start, s.end, "suggestion") for s in flags.suggestions or ()]
            marks += [(s, e, "unsure") for s, e in flags.low_confidence]
        return marks

    def _show_current(self, reload_text: bool = True, typing: bool = False) -> None:
        """Show the cursor's cue in the text editor and its flags in the info line (while typing, the editor
        already repaints itself)."""
        index = self._current()
        info = self.query_one("#cue-info", TextLine)
        if index is None or self.review is None:
            self.editor.show_cue(None, "")
            info.set("no cues" if self.session is not None else "no captions open")
            return
        cue = self.review.cues[index]
        if reload_text and (self.editor.cue_index != index or clean_text(self.editor.text) != cue.text):
            self._typing = None
            self.editor.show_cue(index, cue.text)
        elif not typing:
            self.editor.cue_index = index
            self.editor.restyle()
        flags = self.review.flags(index)
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"cue {index + 1}/{len(self.review.cues)} · {format_timestamp(cue.start)} → "
                    f"{format_timestamp(cue.end)} · {cue.duration / 1000:.1f} s", style="bold")
        for s in flags.suggestions or ():
            line.append(f" · K {s.original.strip(' -')!r} → {s.term} (a)", style="yellow")
        for finding in flags.findings:
            line.append(f" · {finding.severity[0].upper()} {finding.code}: {finding.message}",
                        style="red" if finding.severity == "error" else "yellow")
        if flags.low_confidence:
            words = ", ".join(cue.text[s:e] for s, e in flags.low_confidence)
            line.append(f" · ? unsure: {words}", style="italic")
        if flags.suggestions is None:
            line.append(" · checking keywords…", style="dim")
        info.set(line)

    @on(VirtualTable.CursorMoved, "#cues")
    def _cursor_moved(self) -> None:
        self._show_current()

    # -- applying edits

    def _after_change(self, label: str | None, follow: bool = False, typing: bool = False) -> None:
        """Repaint what the last change touched (only those rows), refresh flags, schedule the autosave.

        Keyword suggestions of a few changed cues are computed at once; while typing (and for big changes)
        they come from the background worker a moment later."""
        assert self.session is not None and self.review is not None
        span = self.review.update(self.session.cues)
        if span is not None:
            start, old_end, new_end = span
            if typing:
                self._schedule_suggestions()
            elif new_end - start <= SYNC_SUGGEST_LIMIT:
                for index in range(start, new_end):
                    self.review.flags(index, compute=True)
            else:
                self._fill_suggestions()
            if old_end - start != new_end - start:
                self.table.set_row_count(len(self.session.cues))
            else:
                self.table.refresh_rows(start, new_end + 1)
            if follow and not start <= self.table.cursor < max(new_end, start + 1):
                self.table.move_cursor(start)
        self._show_current(reload_text=not typing, typing=typing)
        self._schedule_autosave()
        if label:
            self.say(label)

    def apply(self, op: EditOp, label: str | None = None, follow: bool = False) -> bool:
        """Run one edit; a refusal (InputError) becomes a status-line message."""
        if self.session is None:
            self.say("no captions open", "warning")
            return False
        self._typing = None
        try:
            changed = self.session.apply(op)
        except WhisperTuiError as err:
            self.say(str(err), "warning")
            return False
        if not changed:
            self.say("nothing changed")
            return False
        self._after_change(label or op.describe(), follow)
        return True

    @on(TextArea.Changed, "#cue-text")
    def _text_changed(self) -> None:
        self._typed()  # the editor's own undo/redo only announce themselves this way

    def _typed(self) -> None:
        """Typing edits the cue as you go (one undo step per visit to the editor), so autosave sees it."""
        index = self.editor.cue_index
        if self.session is None or index is None or index >= len(self.session.cues):
            return
        text = clean_text(self.editor.text)
        if text == self.session.cues[index].text:
            return
        if self._typing is not None and self.session.undo_stack and self.session.undo_stack[-1] is self._typing:
            self.session.undo()
        op = EditText(index, text)
        self._typing = op if self.session.apply(op) else None
        self._after_change(None, typing=True)

    @on(CueEditor.Done, "#cue-text")
    def _editor_done(self) -> None:
        self.action_to_table()

    # -- actions (keys)

    def action_edit_text(self) -> None:
        if self._current() is None:
            self.say("no cue to edit (i inserts one)", "warning")
            return
        self.editor.focus()
        self.editor.move_cursor(self.editor.document.end)

    def action_to_table(self) -> None:
        search = self.query_one("#search", Input)
        if search.display:
            search.display = False
        if self.query_one("#keywords-pane").display and self.focused is self.query_one("#keywords"):
            self.query_one("#keywords-pane").display = False
        self._typing = None
        self.table.focus()
        self._show_current()

    def _jump_flag(self, step: int) -> None:
        index = self._current()
        if index is None or self.review is None:
            return
        found = self.review.next_flagged(index, step)
        if found is None:
            self.say("no flagged cues")
            return
        self.table.move_cursor(found)
        self.say(f"cue {found + 1}: {self.review.flags(found).marks}")

    def action_next_flag(self) -> None:
        self._jump_flag(1)

    def action_previous_flag(self) -> None:
        self._jump_flag(-1)

    def _editor_position(self, index: int) -> int | None:
        """The text editor's cursor as an offset into cue `index`'s text, when it shows that cue."""
        if self.editor.cue_index != index:
            return None
        prefix = self.editor.text[: self.editor.position]
        return len(clean_text(prefix)) + (1 if prefix[-1:].isspace() and prefix.strip() else 0)

    def action_accept(self) -> None:
        index = self._current()
        if index is None or self.review is None:
            return
        suggestion = self.review.suggestion_at(index, self._editor_position(index))
        if suggestion is None:
            self.say("no keyword suggestion in this cue (n finds the next flagged cue)")
            return
        self.apply(suggestion.as_edit(), f"cue {index + 1}: {suggestion.original.strip(' -')!r} → {suggestion.term}")

    def action_split(self) -> None:
        index = self._current()
        if index is None or self.session is None:
            return
        text = self.session.cues[index].text
        self.apply(Split(index, split_position(text, self._editor_position(index))))

    def action_merge(self) -> None:
        index = self._current()
        if index is not None:
            self.apply(MergeWithNext(index))

    def action_nudge(self, start_ms: int, end_ms: int) -> None:
        index = self._current()
        if index is not None:
            self.apply(Nudge(index, start_ms, end_ms), f"cue {index + 1}: start {start_ms:+d} ms, end {end_ms:+d} ms")

    def action_insert(self) -> None:
        if self.session is None:
            return
        op = new_cue_after(self.session.cues, self._current())
        if self.apply(op):
            self.table.move_cursor(op.index)
            self.action_edit_text()

    def action_delete(self) -> None:
        index = self._current()
        if index is not None:
            self.apply(editing.Delete(index))

    def action_undo(self) -> None:
        self._undo_redo(undo=True)

    def action_redo(self) -> None:
        self._undo_redo(undo=False)

    def _undo_redo(self, undo: bool) -> None:
        if self.session is None:
            return
        self._typing = None
        try:
            op = self.session.undo() if undo else self.session.redo()
        except WhisperTuiError as err:
            self.say(str(err))
            return
        self._after_change(f"{'undid' if undo else 'redid'}: {op.describe()}", follow=True)

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.focus()

    @on(Input.Submitted, "#search")
    def _search(self, event: Input.Submitted) -> None:
        if self.session is None:
            return
        self.table.set_query(event.value.strip())
        found = find_next(self.session.cues, event.value, self.table.cursor)
        if found is None:
            self.say(f"no cue contains {event.value.strip()!r}", "warning")
            return
        self.table.move_cursor(found)
        self.say(f"{event.value.strip()!r} in cue {found + 1} (Enter: next, Esc: back to the table)")

    def action_keywords(self) -> None:
        pane = self.query_one("#keywords-pane")
        pane.display = True
        self.query_one("#keywords", KeywordsEditor).focus()

    @on(KeywordsEditor.Save)
    def _save_keywords(self, event: KeywordsEditor.Save) -> None:
        try:
            keywords = self.workspace.save_keywords(event.text)
        except WhisperTuiError as err:
            self.say(f"keywords not saved: {err}", "error")
            return
        self.say(f"saved {self.workspace.keywords_path.name}: {len(keywords)} keywords")
        if self.review is not None:
            self.review.set_keywords(keywords)
            self.table.refresh_rows(0, self.table.row_count)
            self._show_current()
            self._fill_suggestions()

    # -- saving and autosave

    def unsaved(self) -> str | None:
        if self.session is not None and self.session.dirty and self.path is not None:
            return f"unsaved edits in {self.path.name}"
        return None

    def action_save(self) -> None:
        self.save_unsaved()

    def save_unsaved(self) -> bool:
        if self.session is None or self.path is None:
            self.say("no captions open", "warning")
            return False
        try:
            self.autosaver.save(self.session, self.path)  # a late autosave of an older revision cannot follow it
            self._loaded_mtime = self._mtime()
            self.workspace.set_status(self.path.stem, "edited")
        except (WhisperTuiError, OSError) as err:
            self.say(f"not saved: {err}", "error")
            return False
        self.say(f"saved {self.path.parent.name}/{self.path.name} (previous version in .history/)")
        return True

    def keep_unsaved(self) -> None:
        self._autosave(wait=True)

    def _schedule_autosave(self) -> None:
        if self._autosave_timer is None:
            self._autosave_timer = self.set_timer(AUTOSAVE_DELAY_S, self._autosave)

    def _autosave(self, wait: bool = False) -> None:
        """Write (or, when back at the saved state, remove) the autosave sidecar: atomic, so a kill is safe,
        and in a thread (a 3,000-cue file takes ~50 ms), unless `wait` (quitting)."""
        self._autosave_timer = None
        if self.session is None or self.path is None:
            return
        pending = self.autosaver.pending(self.session, self.path)
        if pending is None:
            return
        if wait:
            error = self._write_autosave(pending)
            if error:
                self.say(error, "error")
        else:
            self._autosave_worker(pending)

    def _write_autosave(self, pending: editing.PendingAutosave) -> str | None:
        """One autosave write (the Autosaver keeps the order); an error line or None."""
        try:
            self.autosaver.write(pending)
        except (WhisperTuiError, OSError) as err:
            return f"autosave failed: {err}"
        return None

    @work(thread=True, group="autosave", exit_on_error=False)
    def _autosave_worker(self, pending: editing.PendingAutosave) -> None:
        error = self._write_autosave(pending)
        if error:
            self.app.call_from_thread(self.say, error, "error")

    # -- background work

    def _schedule_suggestions(self) -> None:
        """While typing, look for mis-heard keywords once the typing pauses."""
        if self._suggest_timer is not None:
            self._suggest_timer.stop()
        self._suggest_timer = self.set_timer(SUGGEST_PAUSE_S, self._fill_suggestions)

    def _fill_suggestions(self) -> None:
        self._suggest_timer = None
        if self.review is None:
            return
        texts = self.review.pending_texts(order=self.table.visible_range())
        if texts:
            self._suggest_worker(texts, self.review.keywords, self.review.generation)

    @work(thread=True, exclusive=True, group="suggest", exit_on_error=False)
    def _suggest_worker(self, texts: list[str], keywords: tuple, generation: int) -> None:
        worker = get_current_worker()
        for start in range(0, len(texts), SUGGEST_BATCH):
            if worker.is_cancelled:
                return
            self.post_message(SuggestionsReady(compute_suggestions(texts[start:start + SUGGEST_BATCH], keywords),
                                               generation))

    def on_suggestions_ready(self, message: SuggestionsReady) -> None:
        if self.review is None or not self.review.add_suggestions(message.results, message.generation):
            return
        visible = self.table.visible_range()
        changed = [i for i in visible if self.review.cues[i].text in message.results]
        if changed:
            self.table.refresh_rows(min(changed), max(changed) + 1)
        current = self._current()
        if current is not None and self.review.cues[current].text in message.results:
            self._show_current(reload_text=False)

    @work(thread=True, exclusive=True, group="cross-check", exit_on_error=False)
    def _cross_check(self, path: Path) -> None:
        """webvtt-py's second reading of the file, after the table is shown: a disagreement is a warning."""
        try:
            problems = caps.cross_check_problems(path)
        except (WhisperTuiError, OSError):
            return
        if problems:
            first = problems[0]
            self.app.call_from_thread(self.say, f"{path.name} line {first.line}: {first.message}", "warning")

    @work(thread=True, exclusive=True, group="audio-length", exit_on_error=False)
    def _measure_audio(self) -> None:
        from core.audio import duration_seconds

        path, review = self.path, self.review
        audio = self.workspace.audio_for(path) if path is not None else None
        if audio is None or review is None:
            return
        try:
            length_ms = round(duration_seconds(audio) * 1000)
        except (WhisperTuiError, OSError):
            return
        self.app.call_from_thread(self._audio_measured, review, length_ms)

    def _audio_measured(self, review: Review, length_ms: int) -> None:
        if review is self.review:
            review.set_audio_ms(length_ms)
            self.table.refresh_rows(0, self.table.row_count)
            self._show_current(reload_text=False)

    # -- alignment: re-time a cue after its text changed, or time the whole script.txt

    def action_retime(self) -> None:
        """Align the current cue's text (and its neighbours') with the audio again: its timing follows the edit."""
        found = self._cue_audio()
        if found is None or self.session is None:
            return
        index, audio = found
        cues, aligners = self.session.cues, self.wapp.aligners
        model, language = self.workspace.model, self.workspace.language

        def work(job):
            return retime(audio, cues, index, aligners.get(model, language, (), job.emit))

        if self.start_job("re-time", work):
            self.say(f"re-timing cue {index + 1} with {model}…")

    def action_align(self) -> None:
        """Replace the open captions by the workspace's script.txt aligned with this recording."""
        if self.path is None or self.unsaved():
            self.say("save or undo the edits first: aligning the script replaces these captions", "warning")
            return
        audio = self.workspace.audio_for(self.path)
        if audio is None:
            self.say(f"no audio for {self.path.name}", "warning")
            return
        workspace, aligners = self.workspace, self.wapp.aligners
        self._aligned_warnings = 0
        if self.start_job("align", lambda job: align_source(workspace, audio, aligners, None, job=job)):
            self.say(f"aligning script.txt with {audio.name}…")

    _aligned_warnings = 0

    def on_job_event(self, message: JobEvent) -> None:  # JobRunner's, called after it, feeds the header
        if isinstance(message.event, Log) and message.event.level == "warning":
            self._aligned_warnings += 1
            self.say(message.event.message, "warning")

    def on_job_ended(self, message: JobEnded) -> None:
        if not message.ok:
            self.say_job_ended(message)
        elif message.job == "re-time":
            self.apply(message.result)
        elif message.job == "align":
            self._load(Path(message.result), restore=False)
            flagged = self._aligned_warnings
            self.say(f"aligned script.txt: {len(self.session.cues) if self.session else 0} cues"
                     + (f", {flagged} places where the reading left the script: n goes to the next flag" if flagged
                        else ", read as written"), "warning" if flagged else "information")

    # -- audio

    def _cue_audio(self) -> tuple[int, Path] | None:
        index = self._current()
        if index is None or self.path is None:
            self.say("no cue selected", "warning")
            return None
        audio = self.workspace.audio_for(self.path)
        if audio is None:
            self.say(f"no audio for {self.path.name} in {self.workspace.audio_dir.name}/", "warning")
            return None
        return index, audio

    def action_play(self) -> None:
        found = self._cue_audio()
        if found is None:
            return
        index, audio = found
        if not self.player.available:
            target = clip_path(self.workspace, self.path or Path("clip"), index)
            self.say(f"no audio player here (ffplay, paplay, aplay): press w to write this cue to "
                     f"{target.parent.name}/{target.name}", "warning")
            return
        assert self.session is not None
        cue = self.session.cues[index]
        self._play(audio, cue.start, cue.end)

    @work(thread=True, exclusive=True, group="audio", exit_on_error=False)
    def _play(self, audio: Path, start_ms: int, end_ms: int) -> None:
        """In a thread: players that cannot seek get the cue cut to a clip first (a decode)."""
        try:
            name = self.player.play(audio, start_ms, end_ms)
        except (WhisperTuiError, OSError) as err:
            self.app.call_from_thread(self.say, f"cannot play: {err}", "error")
            return
        self.app.call_from_thread(self.say, f"playing with {name}")

    def action_write_clip(self) -> None:
        found = self._cue_audio()
        if found is None or self.session is None or self.path is None:
            return
        index, audio = found
        self._write_clip(audio, self.session.cues[index], clip_path(self.workspace, self.path, index))

    @work(thread=True, exclusive=True, group="clip", exit_on_error=False)
    def _write_clip(self, audio: Path, cue: caps.Cue, target: Path) -> None:
        try:
            write_clip(audio, cue, target)
        except (WhisperTuiError, OSError) as err:
            self.app.call_from_thread(self.say, f"clip not written: {err}", "error")
            return
        self.app.call_from_thread(self.say, f"wrote {target.parent.name}/{target.name}")
