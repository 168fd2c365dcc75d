"""Edit ops, undo/redo history, autosave and the backup ring: the headless heart of the captions editor."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence

import pytest

from core import captions as caps
from core import editing
from core.captions import Cue, Word
from core.editing import (
    Delete,
    EditOp,
    EditSession,
    EditText,
    Insert,
    MergeWithNext,
    Nudge,
    ReplaceSpan,
    ShiftRange,
    Split,
)
from core.errors import InputError

WORDS = (Word(0, 400, "mix", 0.4), Word(450, 900, "trawl", 0.5), Word(1000, 1300, "is", 0.9), Word(1400, 1900, "here"))
BASE = (
    Cue(0, 2000, "mix trawl is here", "one", WORDS, "align:start"),
    Cue(2000, 4000, "second cue text"),
    Cue(5000, 6000, "third"),
)


def with_cue(index: int, cue: Cue) -> tuple[Cue, ...]:
    return BASE[:index] + (cue,) + BASE[index + 1:]


MIXTRAL = with_cue(0, Cue(0, 2000, "Mixtral is here", "one", (Word(0, 900, "Mixtral"), *WORDS[2:]), "align:start"))

CASES: list[tuple[EditOp, tuple[Cue, ...]]] = [
    (EditText(1, "  new\ntext "), with_cue(1, Cue(2000, 4000, "new text"))),
    (EditText(0, "Mixtral is here"), MIXTRAL),
    (EditText(0, "mix trawl here"), with_cue(0, Cue(0, 2000, "mix trawl here", "one", WORDS[:2] + WORDS[3:],
                                                    "align:start"))),
    (ReplaceSpan(0, 0, 9, "Mixtral"), MIXTRAL),
    (ReplaceSpan(1, 7, 10, ""), with_cue(1, Cue(2000, 4000, "second text"))),
    (Split(0, 9), (Cue(0, 950, "mix trawl", "one", WORDS[:2], "align:start"),
                   Cue(950, 2000, "is here", "", WORDS[2:], "align:start"), *BASE[1:])),
    (Split(0, 2), (Cue(0, 425, "mi", "one", WORDS[:1], "align:start"),  # most of "mix" is on the left
                   Cue(425, 2000, "x trawl is here", "", WORDS[1:], "align:start"), *BASE[1:])),
    (Split(1, 6), (BASE[0], Cue(2000, 2800, "second"), Cue(2800, 4000, "cue text"), BASE[2])),
    (MergeWithNext(1), (BASE[0], Cue(2000, 6000, "second cue text third"))),
    (MergeWithNext(0), (Cue(0, 4000, "mix trawl is here second cue text", "one", WORDS, "align:start"), BASE[2])),
    (Nudge(2, -500, 250), with_cue(2, Cue(4500, 6250, "third"))),
    (Nudge(2, -9000), with_cue(2, Cue(0, 6000, "third"))),
    (Nudge(2, 0, -5000), with_cue(2, Cue(5000, 5001, "third"))),
    (Nudge(2, 2000), with_cue(2, Cue(5999, 6000, "third"))),
    (ShiftRange(0, 1, 500), (Cue(500, 2500, "mix trawl is here", "one",
                                 tuple(Word(w.start + 500, w.end + 500, w.text, w.probability) for w in WORDS),
                                 "align:start"), Cue(2500, 4500, "second cue text"), BASE[2])),
    (ShiftRange(1, 2, -2500), (BASE[0], Cue(0, 2000, "second cue text"), Cue(3000, 4000, "third"))),
    (Insert(3, Cue(7000, 8000, " new\ncue ")), (*BASE, Cue(7000, 8000, "new cue"))),
    (Insert(0, Cue(0, 10, "a --> b")), (Cue(0, 10, "a -> b"), *BASE)),
    (Delete(1), (BASE[0], BASE[2])),
]


@pytest.mark.parametrize(("op", "expected"), CASES, ids=[op.describe() + f" #{n}" for n, (op, _) in enumerate(CASES)])
def test_op_do_undo_redo(op, expected):
    session = EditSession(BASE)
    assert session.apply(op) is True
    assert session.cues == expected and op.apply(BASE) == expected
    assert (session.can_undo, session.can_redo, session.dirty, session.revision) == (True, False, True, 1)
    assert session.undo() is op
    assert session.cues == BASE
    assert (session.can_undo, session.can_redo, session.dirty, session.revision) == (False, True, False, 2)
    assert session.redo() is op
    assert session.cues == expected and session.undo_stack == (op,) and session.redo_stack == ()
    assert (session.dirty, session.revision) == (True, 3)


INVALID = [
    EditText(3, "x"), EditText(-1, "x"), ReplaceSpan(0, 5, 100, "x"), ReplaceSpan(0, 5, 3, "x"),
    Split(0, 0), Split(2, 5), Split(1, 15), Split(3, 1), MergeWithNext(2), MergeWithNext(3),
    Nudge(3, 1), ShiftRange(2, 1, 10), ShiftRange(0, 3, 10), Insert(4, Cue(0, 1, "x")),
    Insert(0, Cue(10, 10, "x")), Insert(0, Cue(-5, 10, "x")), Delete(3),
]


@pytest.mark.parametrize("op", INVALID, ids=repr)
def test_invalid_op_is_one_input_error_and_changes_nothing(op):
    session = EditSession(BASE)
    session.apply(EditText(1, "edited"))
    session.apply(EditText(2, "changed"))
    session.undo()
    before = (session.cues, session.revision, session.undo_stack, session.redo_stack, session.dirty)
    with pytest.raises(InputError) as err:
        session.apply(op)
    assert "\n" not in str(err.value)
    assert (session.cues, session.revision, session.undo_stack, session.redo_stack, session.dirty) == before


def test_split_refuses_a_one_millisecond_cue():
    with pytest.raises(InputError, match="too short"):
        Split(0, 1).apply([Cue(0, 1, "ab")])


def test_no_op_edits_are_not_recorded():
    session = EditSession(BASE)
    session.apply(Delete(0))
    session.undo()
    for op in (EditText(2, " third "), ShiftRange(0, 2, -100), Nudge(0, -10), ReplaceSpan(2, 1, 1, "")):
        assert session.apply(op) is False
    assert session.revision == 2 and session.can_redo and not session.can_undo


def test_empty_history_raises_one_line():
    session = EditSession(BASE)
    with pytest.raises(InputError, match="nothing to undo"):
        session.undo()
    with pytest.raises(InputError, match="nothing to redo"):
        session.redo()


def test_dirty_follows_saved_state():
    session = EditSession(BASE)
    session.apply(Delete(0))
    session.mark_saved()
    assert not session.dirty
    session.undo()
    assert session.dirty
    session.redo()
    assert not session.dirty
    session.apply(Delete(0))
    session.undo()
    assert not session.dirty and session.revision == 5


def test_session_captions_keep_file_lines_only_while_unedited():
    captions = caps.parse("WEBVTT\n\n00:01.000 --> 00:02.000\nhi\n\n00:03.000 --> 00:04.000\nthere\n")
    session = EditSession(captions)
    assert session.captions().cue_lines == [3, 6]
    session.apply(EditText(0, "hello"))
    assert session.captions().cue_lines == [] and session.captions().cues[0].text == "hello"
    assert captions.cues[0].text == "hi"  # the Captions read is never mutated


def test_edit_text_keeps_word_timings_of_unchanged_words():
    cue = BASE[0]
    edited = EditText(0, "Mixtral is right here").apply(BASE)[0]
    assert edited.words == (Word(0, 900, "Mixtral"), WORDS[2], WORDS[3])  # "right" was not heard: no timing
    assert EditText(0, "totally different").apply([replace_words(cue, (Word(0, 1, "nope"),))])[0].words == (
        Word(0, 1, "nope"),)  # words that never matched the text are left alone


def replace_words(cue: Cue, words: tuple[Word, ...]) -> Cue:
    return Cue(cue.start, cue.end, cue.text, cue.id, words, cue.settings)


def test_split_without_word_timings_divides_words_by_time():
    cue = Cue(0, 1000, "aaaa bbbb", words=(Word(0, 300, "AAAA"), Word(600, 900, "BBBB")))
    first, second = Split(0, 4).apply([cue])
    assert (first.end, first.words, second.words) == (444, cue.words[:1], cue.words[1:])


# ---------------------------------------------------------------------------- random sequences


def random_op(rng: random.Random, cues: Sequence[Cue]) -> EditOp:
    """Any op, sometimes invalid (indices one past either end, positions at the edges)."""
    index = rng.randrange(-1, len(cues) + 1)
    text = rng.choice(["", "x", "new words here", "a --> b", " spaced  out "])
    position = rng.randrange(0, 12)
    start = rng.randrange(0, 9000)
    return rng.choice([
        EditText(index, text), ReplaceSpan(index, position, position + rng.randrange(0, 4), text),
        Split(index, position), MergeWithNext(index), Nudge(index, rng.randrange(-900, 900), rng.randrange(-900, 900)),
        ShiftRange(index, index + rng.randrange(0, 3), rng.randrange(-3000, 3000)),
        Insert(index, Cue(start, start + rng.randrange(-10, 2000), text)), Delete(index),
    ])


def replay(cues: tuple[Cue, ...], ops: Sequence[EditOp]) -> tuple[Cue, ...]:
    for op in ops:
        cues = op.apply(cues)
    return cues


def test_random_sequences_equal_replaying_the_surviving_edits():
    rng = random.Random(20261126)
    for _ in range(1000):
        original = tuple(BASE[: rng.randrange(0, 4)])
        session, surviving, undone = EditSession(original), [], []
        for _ in range(rng.randrange(1, 40)):
            action = rng.random()
            if action < 0.6:
                op = random_op(rng, session.cues)
                before = (session.cues, session.revision)
                try:
                    changed = session.apply(op)
                except InputError:
                    assert (session.cues, session.revision) == before
                    continue
                if changed:
                    surviving.append(op)
                    undone.clear()
            elif action < 0.8 and surviving:
                assert session.undo() is surviving[-1]
                undone.append(surviving.pop())
                assert session.cues == replay(original, surviving)
            elif undone:
                assert session.redo() is undone[-1]
                surviving.append(undone.pop())
        assert session.cues == replay(original, surviving)
        assert all(c.start >= 0 and c.end > c.start and caps.clean_text(c.text) == c.text
                   for c in session.cues if c not in original)
        while session.can_undo:
            session.undo()
        assert session.cues == original and not session.dirty


# ---------------------------------------------------------------------------- autosave and backups

VTT = "WEBVTT\n\n00:01.000 --> 00:02.000\nhi\n\n00:03.000 --> 00:04.000\nthere\n"


@pytest.fixture
def vtt(tmp_path):
    path = tmp_path / "captions" / "talk.vtt"
    path.parent.mkdir()
    path.write_text(VTT)
    return path


def age(path, seconds: float) -> None:
    """Make a file look older: filesystem clocks are too coarse to rely on write order within a test."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


def test_autosave_sidecar_keeps_words_and_is_found_when_newer_and_different(vtt):
    assert editing.autosave_path(vtt) == vtt.parent / ".talk.vtt.autosave.json"
    session = EditSession(caps.read(vtt))
    assert editing.find_newer_autosave(vtt) is None
    session.apply(EditText(0, "hello"))
    session.apply(Insert(2, Cue(5000, 6000, "words", words=(Word(5000, 5500, "words", 0.75),))))
    sidecar = editing.write_autosave(session, vtt)
    age(vtt, 5)
    assert editing.find_newer_autosave(vtt) == sidecar
    restored = editing.restore_autosave(vtt)
    assert tuple(restored.cues) == session.cues and restored.source == vtt
    age(sidecar, 10)
    assert editing.find_newer_autosave(vtt) is None  # the file was changed after the autosave: it wins


def test_autosaver_writes_changed_revisions_only_and_never_older_over_newer(vtt):
    session = EditSession(caps.read(vtt))
    saver = editing.Autosaver()
    saver.opened(vtt, session.revision)
    assert saver.pending(session, vtt) is None  # nothing edited
    session.apply(EditText(0, "first"))
    older = saver.pending(session, vtt)
    assert older is not None and older.captions is not None and saver.pending(session, vtt) is None
    session.apply(EditText(0, "second"))
    newer = saver.pending(session, vtt)
    assert saver.write(newer) and not saver.write(older)  # the older write (a slow thread) arrives late: dropped
    assert editing.restore_autosave(vtt).cues[0].text == "second"
    session.undo()
    session.undo()  # back at the file's state: the next autosave removes the sidecar
    back = saver.pending(session, vtt)
    assert back is not None and back.captions is None and saver.write(back)
    assert not editing.autosave_path(vtt).exists()


def test_autosaver_drops_an_autosave_that_arrives_after_a_newer_save(vtt):
    session = EditSession(caps.read(vtt))
    saver = editing.Autosaver()
    saver.opened(vtt, 0)
    session.apply(EditText(0, "typed"))
    late = saver.pending(session, vtt)
    session.apply(EditText(1, "saved"))
    saver.save(session, vtt)
    assert not saver.write(late) and not editing.autosave_path(vtt).exists()
    assert caps.read(vtt).cues[1].text == "saved" and saver.pending(session, vtt) is None
    saver.opened(vtt, 0)  # the same file opened again: its history is forgotten
    assert saver.write(late)


def test_autosave_equal_to_the_file_is_not_offered(vtt):
    session = EditSession(caps.read(vtt))
    session.apply(EditText(0, "changed"))
    session.undo()
    editing.write_autosave(session, vtt)
    age(vtt, 5)
    assert editing.find_newer_autosave(vtt) is None


def test_autosave_is_offered_when_the_file_is_gone_or_unreadable(vtt):
    editing.write_autosave([Cue(0, 1000, "only")], vtt)
    vtt.write_text("garbage, not captions")
    age(vtt, 5)
    assert editing.find_newer_autosave(vtt) == editing.autosave_path(vtt)
    vtt.unlink()
    assert editing.find_newer_autosave(vtt) == editing.autosave_path(vtt)
    with pytest.raises(InputError, match="no autosave"):
        editing.restore_autosave(vtt.with_name("other.vtt"))


def test_save_backs_up_writes_and_clears_the_autosave(vtt):
    session = EditSession(caps.read(vtt))
    session.apply(EditText(1, "edited"))
    editing.write_autosave(session, vtt)
    assert editing.save(session) == vtt
    assert not session.dirty and not editing.autosave_path(vtt).exists()
    assert [c.text for c in caps.read(vtt).cues] == ["hi", "edited"]
    (backup,) = editing.list_backups(vtt)
    assert re.fullmatch(r"talk\.\d{8}T\d{9}\.vtt", backup.name) and backup.parent == vtt.parent / ".history"
    assert backup.read_text() == VTT
    editing.save(session)  # nothing changed: no new backup
    assert len(editing.list_backups(vtt)) == 1


def test_backup_ring_keeps_the_newest(vtt):
    for n in range(25):
        editing.save([Cue(0, 1000, f"version {n}")], vtt, keep=20)
    backups = editing.list_backups(vtt)
    assert len(backups) == 20 and backups == sorted(backups)
    assert [caps.read(b).cues[0].text for b in backups[-2:]] == ["version 22", "version 23"]
    assert caps.read(backups[0]).cues[0].text == "version 4"


def test_save_needs_a_path_and_new_files_get_no_backup(tmp_path):
    with pytest.raises(InputError, match="no file to save to"):
        editing.save(EditSession(BASE))
    path = editing.save(EditSession(BASE), tmp_path / "new.srt")
    assert editing.list_backups(path) == [] and caps.read(path).cues[2] == Cue(5000, 6000, "third")
