"""`whisper-tui align`: a script read aloud becomes timed cues, with the real tiny.en doing the alignment.

The sample's script recordings (sample_data/script/, synthesised: see make_script_sample.py) carry their truth:
cue times measured from the synthesised samples, and for `deviating.*` a line skipped and a line said twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import captions as caps
from core.align import script_lines
from core.captions import Word
from core.errors import InputError
from core.reading_script import read_script
from core.review import low_confidence_spans
from core.script_match import pair_words, plan_items
from core.workspace import draft_words_path, read_for_editing

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "sample_data" / "script"
TOLERANCE_MS = 250
sys.path.insert(0, str(ROOT / "sample_data"))
from make_script_sample import DEVIATING_LINES, REPEATED_LINE, SKIPPED_LINE  # noqa: E402


def align_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", "align", *args], cwd=ROOT, capture_output=True,
                          text=True, env=os.environ.copy(), timeout=600)


def assert_well_timed(cues: list[caps.Cue], truth: list[caps.Cue]) -> None:
    """Boundaries within TOLERANCE_MS of the truth, texts as said, words inside their cue and in order."""
    assert [c.text for c in cues] == [t.text for t in truth]
    for cue, true in zip(cues, truth, strict=True):
        assert abs(cue.start - true.start) <= TOLERANCE_MS and abs(cue.end - true.end) <= TOLERANCE_MS, (cue, true)
        assert [w.text for w in cue.words] == cue.text.split()
        assert cue.words[0].start == cue.start and cue.words[-1].end == cue.end
        assert all(a.end <= b.start for a, b in zip(cue.words, cue.words[1:], strict=False))
        assert all(cue.start <= w.start < w.end <= cue.end for w in cue.words)
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))


def test_align_times_every_line_of_the_sample_script(tiny, tmp_path):
    out = tmp_path / "read.vtt"
    result = align_cli(str(SCRIPT / "read.mp3"), str(SCRIPT / "script.txt"), "-o", str(out),
                       "--keywords", "sample_data/keywords.txt")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "warning" not in result.stderr  # read as written: nothing to report
    truth = caps.read(SCRIPT / "read.vtt").cues
    assert [c.text for c in truth] == read_script(SCRIPT / "script.txt")
    cues = caps.read(draft_words_path(out), "json").cues  # the sidecar keeps the word timings
    assert [(c.start, c.end, c.text) for c in cues] == [(c.start, c.end, c.text) for c in caps.read(out).cues]
    assert_well_timed(cues, truth)
    # read as written: the editor has nothing to flag
    assert not any(low_confidence_spans(c) for c in read_for_editing(out).cues)


def test_align_reports_a_skipped_and_a_repeated_line(tiny, tmp_path):
    script = tmp_path / "script.txt"
    lines = read_script(SCRIPT / "script.txt")[:DEVIATING_LINES]
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "deviating.vtt"
    result = align_cli(str(SCRIPT / "deviating.mp3"), str(script), "-o", str(out))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, result.stderr
    assert f"line {SKIPPED_LINE} not read" in warnings[0] and lines[SKIPPED_LINE - 1][:30] in warnings[0]
    assert f"line {REPEATED_LINE} read again" in warnings[1] and lines[REPEATED_LINE - 1][:30] in warnings[1]
    truth = caps.read(SCRIPT / "deviating.vtt").cues  # what was said: the skip left out, the repeat twice
    cues = read_for_editing(out).cues
    assert_well_timed(cues, truth)
    # the editor flags the repeated reading (its words are unsure), and no other cue
    flagged = [i for i, c in enumerate(cues) if low_confidence_spans(c)]
    assert flagged == [REPEATED_LINE - 2]  # 0-based, one line earlier for the skip: the first of the two readings


def test_align_retimes_captions_and_rejects_bad_input(tiny, tmp_path):
    """A .vtt script is re-timed (its times are ignored); bad input is one line and exit 2, nothing written."""
    truth = caps.read(SCRIPT / "deviating.vtt").cues
    shifted = [caps.Cue(c.start + 900, c.end + 400, c.text) for c in truth]
    vtt = tmp_path / "shifted.vtt"
    caps.write(caps.Captions(cues=shifted), vtt)
    out = tmp_path / "retimed.srt"
    result = align_cli(str(SCRIPT / "deviating.mp3"), str(vtt), "-o", str(out))
    assert result.returncode == 0, result.stderr
    # the script says the line twice too: one cue each, no deviation
    assert "warning" not in result.stderr
    assert_well_timed(caps.read(draft_words_path(out), "json").cues, truth)

    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n\n", encoding="utf-8")
    for args, message in (((str(SCRIPT / "read.mp3"), str(empty)), "no sentences"),
                          ((str(tmp_path / "missing.mp3"), str(SCRIPT / "script.txt")), "missing.mp3"),
                          ((str(SCRIPT / "read.mp3"), str(tmp_path / "none.txt")), "not found")):
        result = align_cli(*args, "-o", str(tmp_path / "bad.vtt"))
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    result = align_cli(str(SCRIPT / "read.mp3"), str(SCRIPT / "script.txt"), "-o", str(tmp_path / "bad.docx"))
    assert result.returncode == 2 and "unknown caption format" in result.stderr
    assert not any(p.name.startswith(("bad", ".bad")) for p in tmp_path.iterdir())


def test_script_lines_read_text_and_captions(tmp_path):
    text = tmp_path / "s.txt"
    text.write_text("\ufeff# a comment\n First   line.\n\nSecond line.\n", encoding="utf-8")
    assert script_lines(text) == ["First line.", "Second line."]
    text.write_bytes(b"\xff\xfe bad")
    with pytest.raises(InputError, match="not UTF-8"):
        script_lines(text)
    assert script_lines(SCRIPT / "deviating.vtt") == [c.text for c in caps.read(SCRIPT / "deviating.vtt").cues]


def split(text: str) -> list[str]:
    return text.split()


def test_pairing_survives_mishearings_and_finds_skips_and_repeats():
    """The draft anchors: a misheard keyword between matched words is paired, a line with nothing heard is
    skipped, and a line heard twice becomes the line plus a repeat (the draft spells words its own way)."""
    script, draft = split("we compare Trelis models today"), split("we compare trellis models today")
    assert pair_words(script, draft) == {0: (0, True), 1: (1, True), 2: (2, False), 3: (3, True), 4: (4, True)}

    lines = ["The cat sat on the mat today.", "A completely different sentence was here.",
             "Then we all went home for dinner.", "Last one to finish the list."]
    heard = split("the cat sat on the mat today then we all went home for dinner then we all went home for dinner "
                  "last one to finish the list")
    words = [Word(i * 300, i * 300 + 250, w) for i, w in enumerate(heard)]
    items, skipped = plan_items(lines, words)
    assert skipped == [1]
    assert [(item.kind, item.line) for item in items] == [("line", 0), ("repeat", 2), ("line", 2), ("line", 3)]
    repeat, line = items[1], items[2]
    assert " ".join(heard[repeat.first:repeat.last + 1]).startswith("then") and repeat.last < line.first
