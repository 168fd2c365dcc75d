"""The workspace folder and manifest, the sample project, and the editor's headless model (Review & co)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from core import captions as caps
from core import editing, player
from core import workspace as ws
from core.captions import Cue, Word
from core.editing import EditSession, EditText, MergeWithNext, Nudge, Split
from core.errors import InputError
from core.review import (
    ReplaceAll,
    Review,
    changed_span,
    compute_suggestions,
    find_next,
    low_confidence_spans,
    match_spans,
    new_cue_after,
    split_position,
)
from core.vocabulary import Keyword, load_keywords

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"


# ---------------------------------------------------------------------------- TOML


@pytest.mark.parametrize("value", ["plain", 'quote " and \\ backslash', "tab\tnew\nline\r", "bell \x07 del \x7f",
                                   "ünïcödé ✓ 😀", ""])
def test_toml_strings_round_trip(value: str) -> None:
    text = ws.write_toml({"key": value, "odd key.with dots": value, "t": {"nested key": value}})
    data = tomllib.loads(text)
    assert data == {"key": value, "odd key.with dots": value, "t": {"nested key": value}}


def test_toml_scalars_lists_and_none() -> None:
    data = {"i": 3, "f": 0.25, "b": True, "l": ["a", 2], "skip": None, "tbl": {"x": False, "gone": None}}
    assert tomllib.loads(ws.write_toml(data, "a header\nof two lines")) == {
        "i": 3, "f": 0.25, "b": True, "l": ["a", 2], "tbl": {"x": False}}
    with pytest.raises(InputError):
        ws.write_toml({"t": {"deep": {"x": 1}}})
    with pytest.raises(InputError):
        ws.write_toml({"nan": float("nan")})


# ---------------------------------------------------------------------------- create / open


def test_create_and_open_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    created = ws.create_workspace(root, name="My talk", model="base", language="de")
    assert ws.is_workspace(root)
    assert (root / "audio").is_dir() and (root / "captions").is_dir()
    assert (root / "keywords.txt").read_text().startswith("#")
    opened = ws.open_workspace(root)
    assert (opened.name, opened.model, opened.language, opened.task) == ("My talk", "base", "de", "transcribe")
    assert opened.root == created.root == root.resolve()
    assert opened.keywords() == []
    with pytest.raises(InputError, match="already a workspace"):
        ws.create_workspace(root)


def test_create_in_existing_folder_defaults_name(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    workspace = ws.create_workspace(tmp_path)
    assert workspace.name == tmp_path.name
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("bad, message", [
    ("name = [", "project.toml"),
    ('name = 3', "'name' must be a string"),
    ('task = "dance"', "task must be one of"),
    ('[paths]\naudio = 1', r"\[paths\]"),
])
def test_open_rejects_malformed_manifests(tmp_path: Path, bad: str, message: str) -> None:
    (tmp_path / "project.toml").write_text(bad + "\n")
    with pytest.raises(InputError, match=message):
        ws.open_workspace(tmp_path)


def test_open_missing_and_create_on_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a whisper-tui workspace"):
        ws.open_workspace(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        ws.create_workspace(tmp_path / "file")


def test_unknown_manifest_keys_survive_a_save(tmp_path: Path) -> None:
    workspace = ws.create_workspace(tmp_path / "p")
    text = 'epochs = 3\n' + workspace.manifest.read_text() + '\n[train]\nlr = 0.001\nkeywords = ["a", "b"]\n'
    workspace.manifest.write_text(text)
    opened = ws.open_workspace(workspace.root)
    opened.set_status("talk", "edited")
    data = tomllib.loads(opened.manifest.read_text())
    assert data["epochs"] == 3 and data["train"] == {"lr": 0.001, "keywords": ["a", "b"]}
    assert data["sources"] == {"talk": "edited"}


def test_find_workspace_prefers_dir_then_cwd(tmp_path: Path) -> None:
    a, b = ws.create_workspace(tmp_path / "a"), ws.create_workspace(tmp_path / "b")
    assert ws.find_workspace(a.root, cwd=b.root).root == a.root
    assert ws.find_workspace(tmp_path / "nothing", cwd=b.root).root == b.root
    assert ws.find_workspace(None, cwd=tmp_path) is None


# ---------------------------------------------------------------------------- sources


def test_sources_and_statuses(tmp_path: Path) -> None:
    workspace = ws.create_workspace(tmp_path / "p")
    (workspace.audio_dir / "talk.mp3").write_bytes(b"x")
    (workspace.audio_dir / "draft.wav").write_bytes(b"x")
    (workspace.audio_dir / ".incoming-1").mkdir()
    (workspace.audio_dir / ".hidden.wav").write_bytes(b"x")
    caps.write(caps.Captions(cues=[Cue(0, 1000, "hi")]), workspace.captions_for(Path("draft.wav")))
    caps.write(caps.Captions(cues=[Cue(0, 1000, "hi")]), workspace.captions_dir / "orphan.vtt")
    by_stem = {s.stem: s for s in workspace.sources()}
    assert [s.stem for s in workspace.sources()] == ["draft", "orphan", "talk"]
    assert by_stem["talk"].status == "fetched" and by_stem["talk"].captions is None
    assert by_stem["draft"].status == "transcribed" and by_stem["draft"].audio.name == "draft.wav"
    assert by_stem["orphan"].audio is None
    # a source is a Recording (what prepare and evaluate take) once it has both halves
    assert by_stem["draft"].recording == caps.Recording(by_stem["draft"].audio, by_stem["draft"].captions)
    assert by_stem["talk"].recording is None and by_stem["orphan"].recording is None
    workspace.set_status("draft", "edited")
    assert ws.open_workspace(workspace.root).sources()[0].status == "edited"
    workspace.set_status("draft", "transcribed")
    assert "draft" not in ws.open_workspace(workspace.root).statuses
    editing.write_autosave([Cue(0, 1000, "changed")], workspace.captions_for(Path("talk2.wav")))
    editing.write_autosave([Cue(0, 1000, "changed")], by_stem["draft"].captions)
    draft = next(s for s in workspace.sources() if s.stem == "draft")
    assert draft.status == "edited" and draft.autosave
    assert workspace.audio_for(by_stem["draft"].captions) == by_stem["draft"].audio


def test_add_source_copies_under_a_free_stem(tmp_path: Path) -> None:
    workspace = ws.create_workspace(tmp_path / "p")
    first = ws.add_source(workspace, str(SAMPLES / "control.mp3"))
    assert first == workspace.audio_dir / "control.mp3" and first.read_bytes() == (SAMPLES / "control.mp3").read_bytes()
    (workspace.captions_dir / "control-2.vtt").write_text("WEBVTT\n")  # a stem is taken by captions too
    second = ws.add_source(workspace, str(SAMPLES / "control.mp3"))
    assert second.name == "control-3.mp3"
    assert ws.add_source(workspace, str(first)) == first  # already in audio/: not copied again
    assert not [p for p in workspace.audio_dir.iterdir() if p.name.startswith(".")]
    with pytest.raises(InputError):
        ws.add_source(workspace, str(tmp_path / "missing.mp3"))


def test_draft_words_come_back_for_cues_still_as_drafted(tmp_path: Path) -> None:
    words = (Word(0, 500, "mix", 0.3), Word(500, 1000, "trawl", 0.9))
    draft = caps.Captions(cues=[Cue(0, 1000, "mix trawl", words=words), Cue(1000, 2000, "b", words=(Word(1000, 2000,
                                                                                                    "b", 0.2),))])
    path = tmp_path / "talk.vtt"
    caps.write(draft, path)
    assert caps.read(path).cues[0].words == ()  # a VTT cannot hold words
    caps.write(draft, ws.draft_words_path(path), "json")
    assert ws.draft_words_path(path).name == ".talk.vtt.draft.json"
    assert ws.read_for_editing(path).cues[0].words == words
    caps.write(caps.Captions(cues=[Cue(0, 1000, "Mixtral"), Cue(1000, 2000, "b")]), path)  # cue 1 was edited
    edited = ws.read_for_editing(path)
    assert edited.cues[0].words == () and edited.cues[1].words == draft.cues[1].words
    assert low_confidence_spans(edited.cues[1]) == ((0, 1),)
    ws.draft_words_path(path).write_text("not json")
    assert ws.read_for_editing(path).cues[1].words == ()


def test_set_aside_autosave(tmp_path: Path) -> None:
    path = tmp_path / "talk.vtt"
    assert ws.set_aside_autosave(path) is None
    editing.write_autosave([Cue(0, 1000, "unsaved")], path)
    kept = ws.set_aside_autosave(path)
    assert kept.parent == editing.history_dir(path) and kept.name.startswith("talk.vtt.autosave-")
    assert not editing.autosave_path(path).exists() and caps.read(kept, "json").cues[0].text == "unsaved"
    assert editing.list_backups(path) == []  # not mistaken for a backup of the captions


def test_save_keywords_checks_before_writing(tmp_path: Path) -> None:
    workspace = ws.create_workspace(tmp_path / "p")
    assert [k.term for k in workspace.save_keywords("Phi-2\nTrelis = Trellis")] == ["Phi-2", "Trelis"]
    assert workspace.keywords_path.read_text() == "Phi-2\nTrelis = Trellis\n"
    with pytest.raises(InputError):
        workspace.save_keywords("= nothing before")
    assert workspace.keywords_path.read_text() == "Phi-2\nTrelis = Trellis\n"


def test_sample_workspace_is_made_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHISPER_TUI_HOME", str(tmp_path / "home"))
    sample = ws.sample_workspace()
    assert sample.root == (tmp_path / "home" / "sample").resolve() and sample.name == "sample"
    assert {s.stem: s.status for s in sample.sources()} == {"plain": "fetched", "train": "edited"}
    assert sample.keywords() == load_keywords(SAMPLES / "keywords.txt")
    assert (sample.captions_dir / "train.vtt").read_bytes() == (SAMPLES / "train.vtt").read_bytes()
    marker = sample.captions_dir / "train.vtt"
    os.utime(marker, (1, 1))
    again = ws.sample_workspace()
    assert again.root == sample.root and marker.stat().st_mtime == 1  # opened, not rebuilt
    assert [p.name for p in (tmp_path / "home").iterdir()] == ["sample"]


# ---------------------------------------------------------------------------- the editor's model

KEYWORDS = [Keyword("Mixtral 8x7B"), Keyword("Phi-2"), Keyword("Trelis", ("Trellis",))]


def _cues() -> list[Cue]:
    return [
        Cue(0, 4000, "Today we compare mixture 8 by 7B and Phi-2."),
        Cue(4000, 8000, "Nothing to see here at all."),
        Cue(7000, 9000, "An overlap, said by Trellis."),
        Cue(9500, 12000, "unsure words", words=(Word(9500, 10000, "unsure", 0.3), Word(10000, 12000, "words", 0.9))),
    ]


def test_review_flags() -> None:
    review = Review(_cues(), KEYWORDS)
    assert review.flags(0).suggestions is None and review.flags(0).marks == "…"
    first = review.flags(0, compute=True)
    assert [s.term for s in first.suggestions] == ["Mixtral 8x7B"] and first.marks == "K"
    assert review.flags(1, compute=True).marks == ""
    third = review.flags(2, compute=True)
    assert [f.code for f in third.findings] == ["overlap"] and third.marks == "WK"
    assert review.flags(3, compute=True).low_confidence == ((0, 6),)
    text = _cues()[0].text
    assert review.keyword_spans(text) == ((text.index("Phi-2"), text.index("Phi-2") + 5),)


def test_review_next_flagged_wraps_and_goes_back() -> None:
    review = Review(_cues(), KEYWORDS)
    assert review.next_flagged(0) == 2
    assert review.next_flagged(3) == 0
    assert review.next_flagged(2, step=-1) == 0
    assert review.next_flagged(3, wrap=False) is None


def test_review_incremental_update_matches_full_recheck() -> None:
    session = EditSession(_cues())
    review = Review(session.cues, KEYWORDS)
    for op in [Nudge(2, 1000), Split(0, 20), MergeWithNext(1), EditText(3, ""), Nudge(0, 0, 9000)]:
        session.apply(op)
        assert review.update(session.cues) is not None
        fresh = Review(session.cues, KEYWORDS)
        assert [review.flags(i).findings for i in range(len(session.cues))] == \
               [fresh.flags(i).findings for i in range(len(session.cues))]
    session.undo()
    assert review.update(session.cues) is not None
    assert review.update(session.cues) is None


def test_review_keeps_parse_notices_until_the_cue_is_edited() -> None:
    captions = caps.parse("WEBVTT\n\n00:00.000 -> 00:01.000\nfirst\n\n00:01.000 --> 00:02.000\nsecond\n")
    review = Review(captions, [])
    assert [f.code for f in review.flags(0).findings] == ["arrow"]
    session = EditSession(captions)
    session.apply(Nudge(1, 0, 100))
    review.update(session.cues)
    assert [f.code for f in review.flags(0).findings] == ["arrow"]
    session.apply(EditText(0, "changed"))
    review.update(session.cues)
    assert review.flags(0).findings == ()


def test_review_background_results_and_keyword_changes() -> None:
    review = Review(_cues(), KEYWORDS)
    texts = review.pending_texts(order=[3])
    assert texts[0] == "unsure words" and len(texts) == 4
    results = compute_suggestions(texts, review.keywords)
    generation = review.generation
    review.set_keywords([Keyword("Phi-2")])
    assert not review.add_suggestions(results, generation)
    assert review.add_suggestions(compute_suggestions(texts, review.keywords), review.generation)
    assert review.pending_texts() == []
    assert review.flags(0).suggestions == ()
    assert review.indices_of(["unsure words"]) == [3]


def test_review_past_audio_check() -> None:
    review = Review(_cues(), [])
    review.set_audio_ms(10_000)
    assert [f.code for f in review.flags(3).findings] == ["past-audio"]


def test_suggestion_at_and_replace_all_undo() -> None:
    review = Review(_cues(), KEYWORDS)
    suggestion = review.suggestion_at(0, 30)
    assert suggestion.term == "Mixtral 8x7B" and suggestion.index == 0
    assert review.suggestion_at(0, 0) == suggestion  # not on a span: the cue's first
    assert review.suggestion_at(1) is None
    session = EditSession(_cues())
    session.apply(suggestion.as_edit())
    assert session.cues[0].text.startswith("Today we compare Mixtral 8x7B")
    restored = tuple(c.with_text(c.text.upper()) for c in _cues())
    session.apply(ReplaceAll(restored))
    assert session.cues == restored and session.dirty
    session.undo()
    assert session.cues[0].text.startswith("Today we compare Mixtral")


@pytest.mark.parametrize("old, new, span", [
    ((1, 2, 3), (1, 2, 3), None),
    ((1, 2, 3), (1, 9, 3), (1, 2, 2)),
    ((1, 2, 3), (1, 2, 2.5, 3), (2, 2, 3)),
    ((1, 2, 3), (1, 3), (1, 2, 1)),
    ((1, 2, 3), (), (0, 3, 0)),
])
def test_changed_span(old: tuple, new: tuple, span: tuple | None) -> None:
    as_cues = [tuple(Cue(int(x * 1000), int(x * 1000) + 1, str(x)) for x in seq) for seq in (old, new)]
    assert changed_span(*as_cues) == span


@pytest.mark.parametrize("text, cursor, expected", [
    ("one two three", 3, 3), ("one two three", 0, 7), ("one two three", 13, 7), ("one two three", None, 7),
    ("abcdef", None, 3), ("one two", 7, 3),
])
def test_split_position(text: str, cursor: int | None, expected: int) -> None:
    assert split_position(text, cursor) == expected


def test_new_cue_after_fits_the_gap() -> None:
    cues = [Cue(0, 1000, "a"), Cue(1500, 2000, "b")]
    assert new_cue_after(cues, 0).cue == Cue(1000, 1500, "") and new_cue_after(cues, 0).index == 1
    assert new_cue_after(cues, 1).cue == Cue(2000, 3000, "")
    assert new_cue_after([], None).cue == Cue(0, 1000, "")
    touching = [Cue(0, 1000, "a"), Cue(1000, 2000, "b")]
    assert new_cue_after(touching, 0).cue == Cue(1000, 2000, "")  # no gap: a full second, flagged as overlap


def test_find_next_and_match_spans() -> None:
    cues = _cues()
    assert find_next(cues, "PHI", 0) == 0  # wraps round to itself
    assert find_next(cues, "words", 0) == 3
    assert find_next(cues, "here", 3, step=-1) == 1
    assert find_next(cues, "  ", 0) is None and find_next(cues, "zzz", 0) is None
    assert match_spans("Phi and phi", "PHI") == ((0, 3), (8, 11))


def test_players(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHISPER_TUI_PLAYER", raising=False)
    assert player.find_player(lambda name: None) is None
    assert player.find_player(lambda name: f"/bin/{name}" if name == "aplay" else None) == "/bin/aplay"
    monkeypatch.setenv("WHISPER_TUI_PLAYER", "none")
    assert player.find_player(lambda name: f"/bin/{name}") is None
    cmd = player.player_command("/usr/bin/ffplay", Path("a.mp3"), 1500, 4000)
    assert cmd[:3] == ["/usr/bin/ffplay", "-nodisp", "-autoexit"] and cmd[-5:] == ["-ss", "1.500", "-t", "2.500",
                                                                                   "a.mp3"]
    assert player.player_command("aplay", Path("c.wav")) == ["aplay", "c.wav"] and player.needs_clip("aplay")
    with pytest.raises(InputError):
        player.start_player([str(tmp_path / "no-such-player")])


def test_write_clip(tmp_path: Path) -> None:
    import soundfile as sf

    workspace = ws.create_workspace(tmp_path / "p")
    out = player.clip_path(workspace, workspace.captions_dir / "train.vtt", 2)
    assert out.name == "train-cue0003.wav"
    player.write_clip(SAMPLES / "train.mp3", Cue(300, 8307, "x"), out)
    info = sf.info(str(out))
    assert info.samplerate == 16000 and abs(info.duration - 8.007) < 0.01
