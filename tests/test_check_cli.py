"""`whisper-tui check`, run as a user runs it: a real process, real files, exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ("WEBVTT\n\n00:01.000 --> 00:02.500\nfirst cue\n\n00:02.600 --> 00:0x.900\nbroken\n\n"
          "00:03.000 --> 00:04.000\nthird cue\n")


def check(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", "check", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_sample_captions_are_clean():
    result = check("sample_data/train.vtt", "--audio", "sample_data/train.mp3",
                   "--keywords", "sample_data/keywords.txt")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("cues, no problems") and result.stderr == ""


def test_malformed_timestamp_is_reported_with_its_line_and_exits_1(tmp_path):
    path = tmp_path / "bad.vtt"
    path.write_text(BROKEN)
    result = check(path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{path}:6: error [bad-timestamp]: bad timestamp '00:0x.900'",
        f"{path}: 2 cues, 1 error, 0 warnings",
    ]


def test_json_report(tmp_path):
    path = tmp_path / "bad.vtt"
    path.write_text(BROKEN.replace("00:03.000 -->", "00:02.000 -->"))
    result = check(path, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1 and (report["cues"], report["errors"], report["warnings"]) == (2, 1, 1)
    assert [(f["code"], f["line"], f["index"]) for f in report["findings"]] == [
        ("bad-timestamp", 6, None), ("overlap", 9, 1)]


def test_warnings_alone_exit_0_and_srt_in_a_vtt_file_is_named(tmp_path):
    path = tmp_path / "really.vtt"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n00:00:01,500 --> 00:00:03,000\nagain\n")
    result = check(path)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{path}:1: warning [wrong-format]: this is SubRip (SRT) text")
    assert lines[1] == f"{path}:6: warning [overlap] cue 2 (00:00:01.500): overlaps the previous cue " \
                       "(which ends at 00:00:02.000)"
    assert lines[-1] == f"{path}: 2 cues, 0 errors, 2 warnings (usable for training)"


def test_cues_past_the_audio_are_errors():
    result = check("sample_data/train.vtt", "--audio", "sample_data/control.mp3")
    assert result.returncode == 1 and "error [past-audio]" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["missing.vtt"], "captions file not found"),
    (["sample_data/train.vtt", "--keywords", "missing.txt"], "keywords file not found"),
    (["sample_data/keywords.txt"], "can read vtt or srt"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = check(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_truncated_audio_is_found_from_the_header_and_the_size(tmp_path):
    """The first 3 KB of validation.mp3: the header still says 50.2 s, the bytes hold 0.75 s at 32 kb/s. check
    reads no audio (fast for a 3-hour file): it says so and checks the cues against what the bytes hold."""
    cut = tmp_path / "talk.mp3"
    cut.write_bytes((ROOT / "sample_data" / "validation.mp3").read_bytes()[:3000])
    warning = ("warning [truncated-audio]: talk.mp3 holds about 0.8 s but its header says 50.2 s "
               "(the file looks truncated)")
    result = check("sample_data/validation.vtt", "--audio", cut)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert f"sample_data/validation.vtt: {warning}" in lines
    past = [line for line in lines if "error [past-audio]" in line]
    assert len(past) == 8 and all(line.endswith("after the audio (00:00:00.750)") for line in past)
    assert lines[-1] == "sample_data/validation.vtt: 8 cues, 8 errors, 1 warning"

    within = tmp_path / "within.vtt"  # captions inside what is there: usable, but the user hears of it
    within.write_text("WEBVTT\n\n00:00.000 --> 00:00.600\nIn this\n")
    result = check(within, "--audio", cut)
    assert result.returncode == 0
    assert result.stdout.splitlines() == [f"{within}: {warning}",
                                          f"{within}: 1 cues, 0 errors, 1 warning (usable for training)"]
