"""The `whisper-tui` command as a user runs it: real subprocesses, real files, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import webvtt

ROOT = Path(__file__).resolve().parent.parent
PNG_HEADER = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_transcribe_writes_every_format_and_prints_paths(tiny, tmp_path):
    """Every format says the same thing: the VTT read by webvtt-py, the SRT and TXT read by hand as their formats
    are defined, the JSON as openai-whisper's result dict (text, segments in seconds, language, word timings)."""
    import json

    result = run_cli("transcribe", "sample_data/validation.mp3", "-o", str(tmp_path), "-f", "all")
    assert result.returncode == 0, result.stderr
    printed = [Path(line) for line in result.stdout.split()]
    assert [p.suffix for p in printed] == [".vtt", ".srt", ".txt", ".json"]
    assert all(p.is_file() and p.parent == tmp_path for p in printed)
    vtt, srt, txt, data = printed
    cues = [(c.start_time.in_milliseconds(), c.end_time.in_milliseconds(), c.text)
            for c in webvtt.read(str(vtt)).captions]
    assert len(cues) >= 4 and cues[-1][1] > 40_000  # a 50 s recording: cues all through it
    text = " ".join(c[2] for c in cues).lower()
    assert "model" in text or "memory" in text or "score" in text  # real words of the recording

    def srt_ms(stamp: str) -> int:
        hours, minutes, rest = stamp.split(":")
        seconds, millis = rest.split(",")
        return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)

    blocks = srt.read_text(encoding="utf-8").strip("\n").split("\n\n")
    srt_cues = []
    for number, block in enumerate(blocks, start=1):
        index, timing, *lines = block.split("\n")
        start, arrow, end = timing.split(" ")
        assert index == str(number) and arrow == "-->" and lines, block
        srt_cues.append((srt_ms(start), srt_ms(end), "\n".join(lines)))
    assert srt_cues == cues

    assert txt.read_text(encoding="utf-8").splitlines() == [c[2] for c in cues]

    result_dict = json.loads(data.read_text(encoding="utf-8"))
    assert {"text", "segments", "language"} <= result_dict.keys() and result_dict["language"] == "en"
    segments = result_dict["segments"]
    assert [s["id"] for s in segments] == list(range(len(cues)))
    assert [(round(s["start"] * 1000), round(s["end"] * 1000), s["text"]) for s in segments] == cues
    assert result_dict["text"] == " ".join(c[2] for c in cues)
    for segment in segments:  # word timings are on by default: inside their cue, in order, spelling its text
        words = segment["words"]
        assert all(w.keys() == {"word", "start", "end", "probability"} for w in words)
        assert [w["word"].strip() for w in words] == segment["text"].split()
        times = [segment["start"]] + [t for w in words for t in (w["start"], w["end"])] + [segment["end"]]
        assert times == sorted(times), segment
        assert all(0 <= w["probability"] <= 1 for w in words)

    assert "Traceback" not in result.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


@pytest.mark.parametrize(
    ("make_input", "expected"),
    [
        (lambda d: d / "missing.mp3", "not found"),
        (lambda d: _write(d / "empty.mp3", b""), "empty"),
        (lambda d: _write(d / "picture.mp3", PNG_HEADER + bytes(200)), "not an audio file"),
        (lambda d: _write(d / "notes.wav", b"just some text, not audio\n" * 20), "not an audio file"),
    ],
    ids=["missing", "empty", "png-renamed", "text-renamed"],
)
def test_bad_audio_is_one_line_exit_2_nothing_written(tmp_path, make_input, expected):
    source = make_input(tmp_path)
    out = tmp_path / "out"
    result = run_cli("transcribe", str(source), "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_unknown_model_and_offline_hub_ids(tmp_path):
    unknown = run_cli("transcribe", "sample_data/control.mp3", "-m", "huge-v9", "-o", str(tmp_path))
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "unknown model" in unknown.stderr
    hub = run_cli("transcribe", "sample_data/control.mp3", "-m", "openai/whisper-small", "-o", str(tmp_path),
                  env={"HF_HUB_OFFLINE": "1"})
    assert hub.returncode == 1 and hub.stderr.count("\n") == 1 and "Hugging Face Hub" in hub.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_usage_exits_2_with_one_line():
    for args in (["transcribe"], ["transcribe", "x.mp3", "-f", "docx"], ["fetch"], ["transcribe", "--bogus", "a"]):
        result = run_cli(*args)
        assert result.returncode == 2, args
        assert result.stderr.count("\n") == 1, (args, result.stderr)


def test_english_only_model_with_french_is_bad_input(tiny, tmp_path):
    result = run_cli("transcribe", "sample_data/control.mp3", "--language", "fr", "-o", str(tmp_path))
    assert result.returncode == 2 and "English-only" in result.stderr


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
