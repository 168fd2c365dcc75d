"""`train --dataset` takes datasets people already have: a Common Voice–style DatasetDict (48 kHz MP3, `sentence`,
train/test), a folder of parquet shards, a saved DatasetDict with other column names; columns and splits are found
by their usual names or named, audio is resampled on access, and anything missing is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.audio import ffmpeg_binary
from core.captions import read
from core.errors import InputError
from core.examples import TableRows
from core.train_config import Columns
from core.training_data import kind_of, open_training_data

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"


def _mp3_48k(start_s: float, end_s: float) -> bytes:
    """A cue of the sample cut and re-encoded as Common Voice ships it: MP3 at 48 kHz."""
    return subprocess.run([ffmpeg_binary(), "-v", "error", "-ss", f"{start_s:.3f}", "-to", f"{end_s:.3f}", "-i",
                           str(SAMPLES / "train.mp3"), "-ar", "48000", "-ac", "1", "-f", "mp3", "-"],
                          capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def common_voice_rows() -> dict[str, list]:
    """Columns as Common Voice's loader gives them: client_id, path, audio, sentence, up_votes, …"""
    cues = read(SAMPLES / "train.vtt").cues[:10]
    audio = [{"bytes": _mp3_48k(c.start / 1000, c.end / 1000), "path": f"cv_{i}.mp3"} for i, c in enumerate(cues)]
    return {"client_id": [f"speaker{i % 3}" for i in range(len(cues))], "path": [a["path"] for a in audio],
            "audio": audio, "sentence": [c.text for c in cues], "up_votes": [2] * len(cues),
            "seconds": [(c.end - c.start) / 1000 for c in cues]}


def _dataset(rows: dict[str, list], keep: slice):
    import datasets

    features = datasets.Features({"client_id": datasets.Value("string"), "path": datasets.Value("string"),
                                  "audio": datasets.Audio(sampling_rate=48000), "sentence": datasets.Value("string"),
                                  "up_votes": datasets.Value("int64"), "seconds": datasets.Value("float64")})
    return datasets.Dataset.from_dict({k: v[keep] for k, v in rows.items()}, features=features)


@pytest.fixture(scope="module")
def common_voice(common_voice_rows, tmp_path_factory) -> Path:
    import datasets

    folder = tmp_path_factory.mktemp("cv") / "common_voice_style"
    datasets.DatasetDict({"train": _dataset(common_voice_rows, slice(0, 8)),
                          "test": _dataset(common_voice_rows, slice(8, 10))}).save_to_disk(str(folder))
    return folder


@pytest.fixture(scope="module")
def parquet_shards(common_voice_rows, tmp_path_factory) -> Path:
    """Shards named as the Hub names them (split-NNNNN-of-NNNNN.parquet), in a data/ folder."""
    folder = tmp_path_factory.mktemp("pq") / "shards"
    (folder / "data").mkdir(parents=True)
    _dataset(common_voice_rows, slice(0, 4)).to_parquet(str(folder / "data" / "train-00000-of-00002.parquet"))
    _dataset(common_voice_rows, slice(4, 8)).to_parquet(str(folder / "data" / "train-00001-of-00002.parquet"))
    _dataset(common_voice_rows, slice(8, 10)).to_parquet(str(folder / "data" / "dev-00000-of-00001.parquet"))
    return folder


def test_common_voice_style_columns_and_splits_are_found_and_audio_comes_at_16_khz(common_voice, common_voice_rows):
    data = open_training_data(common_voice)
    assert (len(data.train), len(data.validation)) == (8, 2)
    assert data.train.column_names == ["audio", "text"]
    assert "'train'" in data.described and "'test'" in data.described and "'sentence'" in data.described
    samples, text = TableRows(data.validation)[0]
    assert text == common_voice_rows["sentence"][8]
    assert samples.dtype == np.float32
    expected = common_voice_rows["seconds"][8] * 16000  # 48 kHz in the file, 16 kHz out (MP3 adds a frame or so)
    assert abs(len(samples) - expected) < 0.05 * 16000


def test_parquet_shards_are_one_dataset_with_their_splits(parquet_shards):
    assert kind_of(parquet_shards) == "parquet"
    data = open_training_data(parquet_shards)
    assert (len(data.train), len(data.validation)) == (8, 2)  # both train shards; dev for evaluation
    assert TableRows(data.train)[5][1] == read(SAMPLES / "train.vtt").cues[5].text


@pytest.mark.parametrize(("columns", "message"), [
    (Columns(text="transcript"), "common_voice_style: no text column in the train split named 'transcript' "
                                 "(--text-column); there are: client_id, path, sentence, up_votes, seconds"),
    (Columns(eval_split="validation"), "common_voice_style: no evaluation split named 'validation' (--eval-split); "
                                       "there are: test"),
    (Columns(audio="path"), "common_voice_style: column 'path' of the train split holds string, not audio"),
    (Columns(train_split="test", eval_split="test"), "no evaluation split named 'test' (--eval-split); there are: "
                                                     "train"),
])
def test_a_named_column_or_split_that_is_not_there_is_one_line(common_voice, columns, message):
    with pytest.raises(InputError) as info:
        open_training_data(common_voice, columns)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unusual_names_are_asked_for(tmp_path, common_voice_rows):
    import datasets

    odd = _dataset(common_voice_rows, slice(0, 4)).rename_column("sentence", "words")
    datasets.DatasetDict({"fit": odd, "holdout": odd}).save_to_disk(str(tmp_path / "odd"))
    with pytest.raises(InputError, match=r"odd: no train split \(there are: fit, holdout\); name it with "
                                         "--train-split"):
        open_training_data(tmp_path / "odd")
    with pytest.raises(InputError, match=r"no text column in the fit split .*; name it with --text-column"):
        open_training_data(tmp_path / "odd", Columns(train_split="fit", eval_split="holdout"))
    data = open_training_data(tmp_path / "odd", Columns(text="words", train_split="fit", eval_split="holdout"))
    assert len(data.train) == 4


def test_a_large_evaluation_split_is_sampled_across_its_length(tmp_path, common_voice_rows):
    import datasets

    many = {k: (v * 30)[:250] for k, v in common_voice_rows.items()}
    big = _dataset(many, slice(0, 250))
    datasets.DatasetDict({"train": big.select(range(4)), "test": big}).save_to_disk(str(tmp_path / "big"))
    data = open_training_data(tmp_path / "big", eval_rows=64)
    assert len(data.validation) == 64
    assert "64 of 250 rows of 'test'" in data.described
    picked = data.validation["text"]
    assert picked[0] == many["sentence"][0] and picked[-1] == many["sentence"][249]  # first to last


def test_what_is_not_a_dataset(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="notes: not a dataset: give a `whisper-tui prepare` folder"):
        kind_of(tmp_path / "notes")
    with pytest.raises(InputError, match="dataset folder not found"):
        kind_of(tmp_path / "gone")
    assert kind_of("mozilla-foundation/common_voice_17_0") == "hub"


def _train(dataset: Path, run_dir: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", "train", "--dataset", str(dataset), "-o", str(run_dir),
                           "--keywords", str(SAMPLES / "keywords.txt"), "--max-steps", "2", "--speeds", "1.0",
                           "--batch-size", "2", "--no-replay", "--device", "cpu", *flags],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_train_on_a_common_voice_style_dataset_naming_only_text_column_and_eval_split(common_voice, tmp_path):
    result = _train(common_voice, tmp_path / "run", "--text-column", "sentence", "--eval-split", "test")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "8 rows of 'train'; 2 of 2 rows of 'test' for evaluation" in result.stderr + result.stdout
    assert (tmp_path / "run" / "merged" / "model.safetensors").is_file()


@pytest.mark.slow
def test_train_on_a_folder_of_parquet_shards(parquet_shards, tmp_path):
    result = _train(parquet_shards, tmp_path / "run", "--group-by-length")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "8 rows of 'train'; 2 of 2 rows of 'dev' for evaluation" in result.stderr + result.stdout
    assert (tmp_path / "run" / "merged" / "model.safetensors").is_file()


def test_batching_by_length_reads_texts_only_and_cuts_padding(common_voice, common_voice_rows):
    """--group-by-length sorts on transcript lengths taken from the text column alone (no audio decoded); batches
    made that way pad less than shuffled ones."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from core.examples import RowExamples, TableRows

    data = open_training_data(common_voice)
    examples = RowExamples(TableRows(data.train), (0.9, 1.0, 1.1), tokenizer=None, encoder=None, cached=True)
    lengths = examples.lengths()
    assert lengths == [len(text) for text in common_voice_rows["sentence"][:8] for _ in range(3)]
    assert examples.built == 0

    many = RowExamples([(None, text) for text in common_voice_rows["sentence"] * 20], (0.9, 1.0, 1.1),
                       tokenizer=None, encoder=None, cached=True)  # 600 examples (the sampler groups in megabatches)
    lengths = many.lengths()

    def padding(order: list[int]) -> int:
        batches = [order[i:i + 4] for i in range(0, len(order), 4)]
        return sum(max(lengths[j] for j in b) * len(b) - sum(lengths[j] for j in b) for b in batches)

    torch.manual_seed(0)
    grouped = padding(list(LengthGroupedSampler(4, lengths=lengths)))
    shuffled = padding(torch.randperm(len(lengths)).tolist())
    assert grouped < 0.2 * shuffled


@pytest.mark.parametrize("offline_mode", [True, False])
def test_a_hub_dataset_offline_is_one_line(tmp_path, offline_mode):
    """A Hub id is tried only when it is not a local folder; offline (offline mode, or no network: this machine, CI)
    it fails in one sentence, without the download client's half minute of retries, and leaves no run folder."""
    import os

    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "c")}
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"} if offline_mode else {})
    result = subprocess.run([sys.executable, "-m", "core.cli", "train", "--dataset", "someone/no-such-dataset", "-o",
                             str(tmp_path / "run")], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1
    assert "cannot get the dataset 'someone/no-such-dataset' from the Hugging Face Hub" in result.stderr
    assert not (tmp_path / "run").exists()
