"""`whisper-tui prepare`: real audio in, a dataset `datasets.load_from_disk` opens out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.audio import SAMPLE_RATE, ffmpeg_binary, load_audio
from core.captions import read
from core.dataset import MARKER, PrepareOptions, Recording, clips, plan, push_to_hub
from core.errors import InputError, JobError
from core.segments import Segment

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["audio", "text", "start", "end", "source"]
TOLERANCE = 1.5 / 32767  # 16-bit storage: half a step of rounding, plus a little


def _prepare(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`whisper-tui prepare ARGS`, packing each recording once unless ARGS say `--views` (these tests count rows by
    cue; the default, views, has its own test)."""
    views = [] if "--views" in map(str, args) else ["--no-views"]
    cmd = [sys.executable, "-m", "core.cli", "prepare", *views, *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _load(path: Path):
    from datasets import load_from_disk

    return load_from_disk(str(path))


def _spans(split) -> list[tuple[float, float]]:
    return list(zip(split["start"], split["end"], strict=True))


@pytest.fixture(scope="module")
def held_out(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("held") / "dataset"
    result = _prepare("--audio", samples / "train.mp3", "--captions", samples / "train.vtt", "--no-views", "-o", out)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(out)
    assert lines[1].startswith("train: ") and " rows, " in lines[1] and lines[1].endswith(" min")
    assert lines[2].startswith("validation: ")
    return out


def test_sample_dataset_has_both_splits_the_columns_and_16_khz_audio(held_out: Path, samples: Path) -> None:
    from datasets import Audio

    dataset = _load(held_out)
    assert set(dataset) == {"train", "validation"}
    assert dataset["train"].num_rows > 0 and dataset["validation"].num_rows > 0
    for split in dataset.values():
        assert split.column_names == COLUMNS
        assert split.features["audio"] == Audio(sampling_rate=SAMPLE_RATE)
        assert set(split["source"]) == {"train.mp3"}
    marker = json.loads((held_out / MARKER).read_text())
    assert marker["splits"]["train"]["rows"] == dataset["train"].num_rows


def test_rows_are_the_planned_segments_cut_from_the_source(held_out: Path, samples: Path) -> None:
    (source,) = plan(Recording(samples / "train.mp3", samples / "train.vtt"), options=PrepareOptions(views=False))
    dataset = _load(held_out)
    source_audio = load_audio(samples / "train.mp3")
    for name in ("train", "validation"):
        segments = [row.segment for row in source.rows if row.split == name]
        split = dataset[name]
        assert split["text"] == [s.text for s in segments]
        for row, segment in zip(split, segments, strict=True):
            audio = row["audio"]
            assert audio["sampling_rate"] == SAMPLE_RATE
            assert row["start"] == segment.start_ms / 1000
            assert row["end"] == pytest.approx(segment.end_ms / 1000, abs=1 / SAMPLE_RATE)
            assert len(audio["array"]) == round((row["end"] - row["start"]) * SAMPLE_RATE)
            assert row["start"] <= segment.cues[0].start / 1000 and segment.cues[-1].end / 1000 <= row["end"]
            first = segment.start_ms * SAMPLE_RATE // 1000
            expected = np.clip(source_audio[first:first + len(audio["array"])], -1, 1)
            assert np.abs(audio["array"] - expected).max() < TOLERANCE


def test_clips_cut_exactly_the_decoded_samples(samples: Path) -> None:
    """Overlapping rows (views), gaps longer than a decode window and rows past the end, from one decode."""
    source = load_audio(samples / "train.mp3")
    reference = np.rint(np.clip(source, -1, 1) * 32767).astype(np.int16)
    end_ms = len(source) * 1000 // SAMPLE_RATE
    spans = [(0, 4000), (100, 30100), (3000, 5000), (45000, 46000), (end_ms - 500, end_ms + 1000),
             (end_ms + 10, end_ms + 20)]
    segments = [Segment(a, b, (), ()) for a, b in spans]
    for (a, b), clip in zip(spans, clips(samples / "train.mp3", segments), strict=True):
        assert np.array_equal(clip, reference[a * 16:b * 16])


def test_hold_out_is_deterministic_and_its_audio_is_not_in_train(held_out: Path, samples: Path) -> None:
    dataset = _load(held_out)
    cues = read(samples / "train.vtt").cues
    validation_text = " ".join(dataset["validation"]["text"])
    assert 0 < len(dataset["validation"]) <= len(cues) // 4
    rows = sorted((row["start"], row["text"]) for split in dataset.values() for row in split.remove_columns("audio"))
    assert " ".join(text for _, text in rows) == " ".join(c.text for c in cues)  # every cue in exactly one split
    for start, end in _spans(dataset["validation"]):
        for train_start, train_end in _spans(dataset["train"]):
            assert end <= train_start or train_end <= start
    train = Recording(samples / "train.mp3", samples / "train.vtt")
    assert plan(train) == plan(train)
    assert " ".join(row.segment.text for row in plan(train)[0].rows if row.split == "validation") == validation_text


def test_our_layout_is_what_save_to_disk_writes(held_out: Path, tmp_path: Path) -> None:
    dataset = _load(held_out)
    dataset.save_to_disk(str(tmp_path / "copy"))
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == sorted(
        p.name for p in held_out.iterdir() if p.name != MARKER)
    for split in ("train", "validation"):
        ours, theirs = held_out / split, tmp_path / "copy" / split
        assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
        state, expected = (json.loads((d / "state.json").read_text()) for d in (ours, theirs))
        assert state.keys() == expected.keys()
        assert {k: v for k, v in state.items() if k != "_fingerprint"} == \
            {k: v for k, v in expected.items() if k != "_fingerprint"}
        assert (ours / "dataset_info.json").read_text() == (theirs / "dataset_info.json").read_text()
    assert (held_out / "dataset_dict.json").read_text() == (tmp_path / "copy" / "dataset_dict.json").read_text()


def test_views_are_the_default(samples: Path, tmp_path: Path) -> None:
    """No flags: every cue is a row of its own, plus packs (what train's defaults are measured on)."""
    result = subprocess.run([sys.executable, "-m", "core.cli", "prepare", "--audio", str(samples / "train.mp3"),
                             "--captions", str(samples / "train.vtt"), "-o", str(tmp_path / "dataset")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    texts = _load(tmp_path / "dataset")["train"]["text"]
    held = set(_load(tmp_path / "dataset")["validation"]["text"])
    cues = [c.text for c in read(samples / "train.vtt").cues if c.text not in " ".join(held)]
    packs = [text for text in texts if text not in cues]
    assert set(cues) <= set(texts) and len(packs) >= len(cues) // 2  # each cue alone, and cues packed together


def test_separate_validation_files_and_views(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    result = _prepare("--audio", samples / "train.mp3", "--captions", samples / "train.vtt", "--views",
                      "--val-audio", samples / "validation.mp3", "--val-captions", samples / "validation.vtt",
                      "-o", out)
    assert result.returncode == 0, result.stderr
    dataset = _load(out)
    assert set(dataset["validation"]["source"]) == {"validation.mp3"}
    assert " ".join(dataset["validation"]["text"]) == " ".join(c.text for c in read(samples / "validation.vtt").cues)
    train_cues = read(samples / "train.vtt").cues
    assert dataset["train"].num_rows > len(train_cues)  # one row per cue, plus packs
    assert set(dataset["train"]["text"]) >= {c.text for c in train_cues}
    assert all(end - start <= 30 for start, end in _spans(dataset["train"]))


@pytest.fixture(scope="module")
def sine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of a 1 kHz sine as 48 kHz stereo WAV: prepare must downmix and resample it."""
    path = tmp_path_factory.mktemp("sine") / "sine48k.wav"
    subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-f", "lavfi",
                    "-i", "sine=frequency=1000:sample_rate=48000:duration=6", "-ac", "2", str(path)], check=True)
    return path


def test_48_khz_stereo_is_resampled_keeping_pitch_and_length(sine: Path, tmp_path: Path) -> None:
    captions = tmp_path / "sine.vtt"
    captions.write_text("WEBVTT\n\n00:00.500 --> 00:02.500\nfirst tone\n\n00:03.000 --> 00:05.500\nsecond tone\n")
    result = _prepare("--audio", sine, "--captions", captions, "-o", tmp_path / "dataset")
    assert result.returncode == 0, result.stderr
    dataset = _load(tmp_path / "dataset")
    rows = {row["text"]: row for split in dataset.values() for row in split}
    # padding: 200 ms, but at most half of the 500 ms gap between the cues
    expected = {"first tone": (0.3, 2.7), "second tone": (2.8, 5.7)}
    assert {text: (row["start"], round(row["end"], 4)) for text, row in rows.items()} == expected
    for row in rows.values():
        samples = row["audio"]["array"]
        assert row["audio"]["sampling_rate"] == SAMPLE_RATE
        assert abs(len(samples) - round((row["end"] - row["start"]) * SAMPLE_RATE)) <= 1
        spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
        peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(samples)
        assert abs(peak_hz - 1000) <= 2
        assert 0.05 < np.sqrt(np.mean(samples**2)) < 0.15  # lavfi's sine is 1/8 full scale: not cancelled out


def test_captions_past_the_audio_are_a_user_error(sine: Path, tmp_path: Path) -> None:
    captions = tmp_path / "other.vtt"
    captions.write_text("WEBVTT\n\n00:01.000 --> 00:03.000\nfits\n\n00:08.000 --> 00:10.000\nwrong file\n")
    result = _prepare("--audio", sine, "--captions", captions, "-o", tmp_path / "dataset")
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("whisper-tui: error: ") and "wrong file?" in last
    assert [p.name for p in tmp_path.iterdir()] == ["other.vtt"]  # no dataset, no half-written temp folder


def test_an_existing_folder_that_is_not_ours_is_left_alone(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("precious")
    result = _prepare("--audio", samples / "train.mp3", "--captions", samples / "train.vtt", "--no-views", "-o", out)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a whisper-tui dataset" in result.stderr
    assert [p.name for p in out.iterdir()] == ["chapter1.tex"]
    assert (out / "chapter1.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no temp folder left behind


def test_push_to_hub_offline_is_one_job_error_line(held_out: Path) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(JobError) as caught:
        push_to_hub(held_out, "someone/jargon")
    assert "offline" in str(caught.value) and "\n" not in str(caught.value)


def test_rerun_replaces_our_dataset_and_an_unreachable_hub_is_one_line(held_out: Path, samples: Path) -> None:
    before = _load(held_out)["validation"]["text"]
    token = "hf_notarealtokenbutsecretanyway"
    result = _prepare("--audio", samples / "train.mp3", "--captions", samples / "train.vtt", "-o", held_out,
                      "--push-to-hub", "someone/jargon",
                      env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": token})
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error) == 1 and "could not push to the Hub (someone/jargon)" in error[0]
    assert token not in result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == str(held_out)  # the local dataset was saved before the push
    assert _load(held_out)["validation"]["text"] == before  # replaced by the same rows: hold-out is deterministic


def test_bad_options_are_usage_errors(samples: Path, tmp_path: Path) -> None:
    result = _prepare("--audio", samples / "train.mp3", "--captions", samples / "train.vtt",
                      "--val-audio", samples / "validation.mp3", "-o", tmp_path / "d")
    assert result.returncode == 2 and "go together" in result.stderr
    with pytest.raises(InputError, match="hold-out share"):
        plan(Recording(samples / "train.mp3", samples / "train.vtt"), options=PrepareOptions(holdout=0.9))


def test_parquet_format_writes_hub_named_shards_with_the_same_rows(held_out: Path, samples: Path,
                                                                  tmp_path: Path) -> None:
    """`--format parquet --shard-mb 1`: several shards per split, named as in a Hub repo, the same rows and audio
    as the arrow layout, and `train --dataset` opens the folder (the kind it is, its splits and columns)."""
    from datasets import Audio

    from core.dataset import load
    from core.training_data import Columns, kind_of, open_training_data

    out = tmp_path / "shards"
    result = _prepare("--audio", samples / "train.mp3", "--captions", samples / "train.vtt", "--format", "parquet",
                      "--shard-mb", "1", "-o", out)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (out / "data").iterdir())
    trains = [n for n in names if n.startswith("train-")]
    assert len(trains) >= 2 and len(names) == len(trains) + sum(n.startswith("validation-") for n in names)
    assert all(n.endswith(f"-of-{len(trains):05d}.parquet") for n in trains)
    assert not (out / "dataset_dict.json").exists() and (out / MARKER).is_file()
    assert kind_of(out) == "parquet"

    parquet, arrow = load(out), _load(held_out)
    for split in ("train", "validation"):
        assert parquet[split].features["audio"] == Audio(sampling_rate=SAMPLE_RATE)
        assert parquet[split]["text"] == arrow[split]["text"] and _spans(parquet[split]) == _spans(arrow[split])
    raw = Audio(decode=False)
    assert parquet["train"].cast_column("audio", raw)["audio"] == arrow["train"].cast_column("audio", raw)["audio"]
    data = open_training_data(str(out), Columns(), eval_rows=64)
    assert len(data.train) == arrow["train"].num_rows and len(data.validation) == arrow["validation"].num_rows


def test_unknown_format_and_tiny_shards_are_refused(samples: Path, tmp_path: Path) -> None:
    from core.dataset import prepare

    recording = Recording(samples / "train.mp3", samples / "train.vtt")
    with pytest.raises(InputError, match="unknown dataset format 'csv'"):
        prepare(recording, tmp_path / "a", options=PrepareOptions(format="csv"))
    with pytest.raises(InputError, match="at least 1 MB"):
        prepare(recording, tmp_path / "b", options=PrepareOptions(shard_mb=0))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
