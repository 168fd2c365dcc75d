"""Which rows `train` learns from: a `whisper-tui prepare` folder, any saved `DatasetDict`, a folder of parquet or
arrow shards, or a Hub dataset id, with its audio and text columns and its train and evaluation splits found by
their usual names (Common Voice's `sentence`, LibriSpeech's `text`, `test` or `dev` for evaluation) or named.

Why nothing is loaded here: every kind opens as memory-mapped Arrow tables (a Hub dataset is downloaded into the
`datasets` cache first), and the audio column is cast to 16 kHz, so a row is decoded (and resampled, whatever its
rate) only when training reads it. Hours of audio cost disk, not memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError, JobError
from core.train_config import Columns
from core.train_config import flag as flag_of

SAMPLE_RATE = 16000
AUDIO_NAMES = ("audio",)
TEXT_NAMES = ("text", "sentence", "transcription", "transcript", "normalized_text", "raw_text")
TRAIN_NAMES = ("train",)
EVAL_NAMES = ("validation", "test", "dev", "valid", "eval")
SHARD_SUFFIXES = {".parquet": "parquet", ".arrow": "arrow"}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class TrainingData:
    """The train and evaluation splits, each with an `audio` column (16 kHz on access) and a `text` column."""

    train: object  # datasets.Dataset
    validation: object
    where: str  # how to name the source in messages
    described: str  # which columns and splits were used, for the run's log



def row_of(table, index: int) -> tuple[np.ndarray, str]:
    """One row decoded: float32 samples at 16 kHz and its text."""
    row = table[index]
    return decode_audio(row["audio"]), str(row["text"] or "")


def decode_audio(audio: dict) -> np.ndarray:
    """An undecoded `datasets` audio cell ({bytes, path}) → mono float32 at 16 kHz.

    WAV and FLAC (prepare writes 16 kHz WAV) are read by libsndfile in-process, about a hundred times faster than
    `datasets`' own decoder, which every training read would otherwise pay; anything libsndfile cannot read (MP3
    in some builds, Opus, M4A) goes through `datasets`, which resamples as it decodes."""
    import io

    import soundfile as sf

    data, path = audio.get("bytes"), audio.get("path")
    try:
        samples, rate = sf.read(io.BytesIO(data) if data else path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError):
        import datasets

        decoded = datasets.Audio(sampling_rate=SAMPLE_RATE).decode_example(audio)
        return np.asarray(decoded["array"], dtype=np.float32)
    samples = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if rate != SAMPLE_RATE:
        from math import gcd

        from scipy.signal import resample_poly

        step = gcd(rate, SAMPLE_RATE)
        samples = resample_poly(samples, SAMPLE_RATE // step, rate // step)
    return np.ascontiguousarray(samples, dtype=np.float32)


def open_training_data(spec: str | Path, columns: Columns | None = None, eval_rows: int = 64) -> TrainingData:
    """Open `spec` and pick its columns and splits (at most `eval_rows` evaluation rows, spread over the split: every
    evaluation decodes them; columns not named are found by the usual names); one clear line for anything missing."""
    import datasets

    columns = columns or Columns()
    datasets.disable_progress_bars()
    where = Path(spec).name or str(spec)
    loaded = _load(spec, where)
    if not isinstance(loaded, datasets.DatasetDict):
        raise InputError(f"{where}: one saved Dataset without splits; training needs a train and an evaluation "
                         "split (save a DatasetDict)")
    train_split = _pick(columns.train_split, TRAIN_NAMES, list(loaded), f"{where}: no train split", "train_split")
    eval_split = _pick(columns.eval_split, EVAL_NAMES, [s for s in loaded if s != train_split],
                       f"{where}: no evaluation split", "eval_split")
    tables = {}
    for role, split in (("train", train_split), ("validation", eval_split)):
        table = loaded[split]
        names = list(table.column_names)
        audio = _pick(columns.audio, AUDIO_NAMES, names, f"{where}: no audio column in the {split} split",
                      "audio_column")
        text = _pick(columns.text, TEXT_NAMES, [n for n in names if n != audio],
                     f"{where}: no text column in the {split} split", "text_column")
        if not isinstance(table.features[audio], datasets.Audio):
            raise InputError(f"{where}: column {audio!r} of the {split} split holds {_kind(table.features[audio])}, "
                             "not audio")
        table = table.select_columns([audio, text])
        if audio != "audio":
            table = table.rename_column(audio, "audio")
        if text != "text":
            table = table.rename_column(text, "text")
        tables[role] = table.cast_column("audio", datasets.Audio(decode=False))  # decode_audio reads each row
    if len(tables["train"]) == 0:
        raise InputError(f"{where}: the {train_split} split is empty")
    evaluated = len(tables["validation"])
    if evaluated > eval_rows:
        picked = np.linspace(0, evaluated - 1, eval_rows).round().astype(int)
        tables["validation"] = tables["validation"].select(sorted(set(picked.tolist())))
    described = (f"{where}: {len(tables['train'])} rows of {train_split!r}; {len(tables['validation'])} of "
                 f"{evaluated} rows of {eval_split!r} for evaluation; columns {audio!r} (audio) and {text!r} (text)")
    return TrainingData(tables["train"], tables["validation"], where, described)


def kind_of(spec: str | Path) -> str:
    """'saved' (a DatasetDict folder, prepare's included), 'parquet' / 'arrow' (a folder of shards), 'hub', or
    raises: the quick look the CLI takes before loading a model."""
    path = Path(spec)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return "saved"
        shards = {SHARD_SUFFIXES[p.suffix] for p in path.rglob("*") if p.suffix in SHARD_SUFFIXES}
        if len(shards) == 1:
            return shards.pop()
        if shards:
            raise InputError(f"{path.name}: holds both parquet and arrow shards; keep one kind per folder")
        raise InputError(f"{path.name}: not a dataset: give a `whisper-tui prepare` folder, a saved DatasetDict, "
                         "a folder of parquet or arrow shards, or a Hub dataset id")
    if path.exists():
        raise InputError(f"{path} is a file, not a dataset folder (give the folder `whisper-tui prepare` made)")
    if HUB_ID.match(str(spec)) and not str(spec).startswith((".", "/")):
        return "hub"
    raise InputError(f"dataset folder not found: {spec}")


def _load(spec: str | Path, where: str):
    import datasets

    kind = kind_of(spec)
    try:
        if kind == "saved":
            return datasets.load_from_disk(str(spec))
        if kind in ("parquet", "arrow"):
            return datasets.load_dataset(kind, data_dir=str(spec))
    except InputError:
        raise
    except Exception as err:  # datasets raises many kinds for a broken folder
        raise InputError(f"{where}: cannot open the dataset ({_first_line(err)})") from None
    return _load_hub(str(spec))


def _load_hub(repo_id: str):
    """A Hub dataset, downloaded into the `datasets` cache (or found there when offline). An unreachable Hub is
    found with one quick connection first: the download client would retry for half a minute, logging each try."""
    import datasets
    from huggingface_hub import is_offline_mode

    unreachable = "the Hub is unreachable or offline mode is on"
    try:
        offline = is_offline_mode() or not _reachable()
        if offline:
            datasets.config.HF_HUB_OFFLINE = True  # the local cache may still hold it
        return datasets.load_dataset(repo_id)
    except Exception as err:
        text = _first_line(err)
        reason = unreachable if offline or any(word in text.lower() for word in (
            "offline", "connect", "resolve", "network", "timed out", "localentrynotfound")) else \
            "not found on the Hub" if "doesn't exist" in text or "404" in text else text
        raise JobError(f"cannot get the dataset {repo_id!r} from the Hugging Face Hub ({reason}) and it is not in "
                       "the local cache") from None


def _reachable(timeout_s: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def _pick(named: str | None, usual: tuple[str, ...], available: list[str], missing: str, setting: str) -> str:
    """The named one (it must exist), else the first usual name present (any case); `missing` starts the error,
    which names the flag of `setting` (a TrainConfig field)."""
    flag = flag_of(setting)
    there = f"there are: {', '.join(available) or 'none'}"
    if named is not None:
        if named not in available:
            raise InputError(f"{missing} named {named!r} ({flag}); {there}")
        return named
    lowered = {name.lower(): name for name in available}
    found = next((lowered[name] for name in usual if name in lowered), None)
    if found is None:
        raise InputError(f"{missing} ({there}); name it with {flag}")
    return found


def _kind(feature) -> str:
    return getattr(feature, "dtype", None) or type(feature).__name__


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
