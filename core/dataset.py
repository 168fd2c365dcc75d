"""Recordings + captions → a `datasets.DatasetDict` (train / validation) saved with `save_to_disk`.

Each row is one Segment (core.segments): `audio` (16 kHz mono 16-bit WAV bytes under
`datasets.Audio(sampling_rate=16000)`, so loading never resamples), `text`, `start` / `end` (seconds in
the source) and `source` (the audio file's name).

Speed: each recording is decoded once, by one streamed ffmpeg process read in a helper thread, and every
row is cut from that stream as soon as its audio has arrived, so encoding overlaps decoding. Rows go
straight into the Arrow shards of `save_to_disk`'s layout (memory stays at a few windows of audio, even
for a long file) in a temp folder beside the target, renamed into place when complete.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from core import captions as caps
from core.audio import SAMPLE_RATE, iter_windows, probe
from core.captions import Recording
from core.errors import InputError
from core.events import QUIET, Done, Job, Log, Progress, library_bars_off
from core.files import atomic_directory, atomic_write_text
from core.segments import MAX_MS, PAD_MS, Problem, Segment, hold_out, pack, training_views

MARKER = "whisper_tui_dataset.json"  # marks a folder as ours, so `prepare` may replace it
SPLITS = ("train", "validation")
FORMATS = ("arrow", "parquet")
STAGE = "prepare"
CANCELLED = "dataset build cancelled; the previous dataset is unchanged"
_WINDOW_S = 10.0  # decode chunk handed from the reader thread
_READ_AHEAD = 6  # chunks the reader may run ahead of the encoder
_BATCH_ROWS = 32  # rows per Arrow record batch (about 30 MB of 30 s clips)
_LATE_MS = 1000  # a cue may end this far past the decoded audio (encoder padding) before we call it a mismatch


@dataclass(frozen=True)
class PrepareOptions:
    """How recordings are cut into rows; `holdout` applies only when no validation recording is given."""

    max_ms: int = MAX_MS
    pad_ms: int = PAD_MS
    holdout: float = 0.15
    views: bool = True  # each cue alone plus packs of 10/20/30 s: the rows the training recipe is measured on
    format: str = "arrow"  # "arrow": save_to_disk's layout; "parquet": shards named as on the Hub, under data/
    shard_mb: int = 500  # a shard is closed once it holds this much audio (datasets' own default size)


@dataclass(frozen=True)
class PlannedRow:
    """A segment and the split it goes to."""

    split: str
    segment: Segment


@dataclass(frozen=True)
class SourcePlan:
    """Every row one audio file yields (in start order, so one decode pass can cut them all)."""

    recording: Recording
    rows: tuple[PlannedRow, ...]
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class SplitSummary:
    """What one split holds: rows and seconds of audio."""

    name: str
    rows: int
    seconds: float

    @property
    def minutes(self) -> float:
        return self.seconds / 60


@dataclass(frozen=True)
class PrepareResult:
    """Where the dataset went, what it holds, and the cues that were left out (with why)."""

    path: Path
    splits: tuple[SplitSummary, ...]
    problems: tuple[str, ...] = ()

    def summary(self) -> str:
        return "\n".join(f"{s.name}: {s.rows} rows, {s.minutes:.2f} min" for s in self.splits)


def features():
    """The dataset's schema (datasets is imported lazily: it is slow to import and the TUI may not need it)."""
    from datasets import Audio, Features, Value

    return Features({"audio": Audio(sampling_rate=SAMPLE_RATE), "text": Value("string"),
                     "start": Value("float64"), "end": Value("float64"), "source": Value("string")})


# ---------------------------------------------------------------------------- planning


def read_cues(path: Path) -> list[caps.Cue]:
    """Cues, or InputError on any parse problem: a dropped block would leave speech without text in a row."""
    captions = caps.read(path)
    errors = [p for p in captions.problems if p.severity == "error"]
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(f"{path}: {errors[0]}{more}; fix it first (whisper-tui check {path})")
    if not captions.cues:
        raise InputError(f"{path}: has no cues")
    return captions.cues


def _rows(split: str, segments: Sequence[Segment]) -> list[PlannedRow]:
    return [PlannedRow(split, s) for s in segments]


def _source_plan(recording: Recording, rows: list[PlannedRow], problems: Sequence[Problem]) -> SourcePlan:
    rows.sort(key=lambda r: (r.segment.start_ms, r.segment.end_ms))
    return SourcePlan(recording, tuple(rows), tuple(problems))


def plan(train: Recording | Sequence[Recording], validation: Recording | None = None,
         options: PrepareOptions = PrepareOptions()) -> tuple[SourcePlan, ...]:
    """Which rows each recording gives to which split. Reads only the captions.

    Several training recordings (e.g. a jargon-heavy one and some plain speech) each give rows. Without a
    validation recording, `hold_out` picks whole cues spread over each training recording; packing never
    spans a held-out cue and padding stops short of it, so no validation audio is in train.
    """
    trains = [train] if isinstance(train, Recording) else list(train)
    if not trains:
        raise InputError("no training recording given")
    if validation is None and not 0 < options.holdout <= 0.5:
        raise InputError(f"hold-out share must be in (0, 0.5], got {options.holdout}")
    plans = [plan_training(recording, options, hold=validation is None) for recording in trains]
    if validation is None:
        return tuple(plans)
    return (*plans, plan_validation(validation, options))


def plan_validation(recording: Recording, options: PrepareOptions = PrepareOptions()) -> SourcePlan:
    """A validation recording's rows: packed ≤ 30 s windows (no views: scores should mean one thing)."""
    packed = pack(read_cues(recording.captions), options.max_ms, options.pad_ms, source=recording.audio.name)
    if not packed.segments:
        raise InputError(f"{recording.captions}: no usable cues")
    return _source_plan(recording, _rows("validation", packed.segments), packed.problems)


def plan_training(recording: Recording, options: PrepareOptions = PrepareOptions(), hold: bool = True) -> SourcePlan:
    """The training rows of one recording, plus its held-out validation rows when `hold`."""
    cues = read_cues(recording.captions)
    source = recording.audio.name
    held = hold_out(cues, options.holdout, options.max_ms) if hold else frozenset()
    if hold and not held:
        raise InputError(f"{recording.captions}: too few usable cues to hold out a validation set; "
                         "give it a separate validation recording")
    if options.views:
        train_plan = training_views(cues, limit_ms=options.max_ms, pad_ms=options.pad_ms, skip=held, source=source)
    else:
        train_plan = pack(cues, options.max_ms, options.pad_ms, skip=held, source=source)
    rows = _rows("train", train_plan.segments)
    if not rows:
        raise InputError(f"{recording.captions}: no usable cues ({'; '.join(map(str, train_plan.problems[:3]))})")
    if hold:
        others = frozenset(range(len(cues))) - held
        rows += _rows("validation", pack(cues, options.max_ms, options.pad_ms, skip=others, source=source).segments)
    return _source_plan(recording, rows, train_plan.problems)


# ---------------------------------------------------------------------------- audio


def _pcm16(audio: np.ndarray) -> np.ndarray:
    """float [-1, 1] → int16, clipped and rounded (a float a bit over 1.0 would wrap around, not saturate)."""
    audio = np.clip(audio, -1.0, 1.0)
    audio *= 32767
    return np.rint(audio, out=audio).astype(np.int16)


def _read_ahead(path: Path, depth: int = _READ_AHEAD) -> Iterator[np.ndarray]:
    """Decode `path` in a helper thread as int16 chunks, so ffmpeg keeps going while this thread writes rows.

    Errors from the decode are re-raised here; closing this generator stops the decode (and kills ffmpeg).
    """
    windows = iter_windows(path, window_s=_WINDOW_S)
    chunks: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> None:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def pump() -> None:
        try:
            for window in windows:
                put(_pcm16(window.audio))
                if stop.is_set():
                    break
            put(end)
        except BaseException as err:  # handed to the consumer thread, which raises it
            put(err)
        finally:
            windows.close()

    thread = threading.Thread(target=pump, name=f"decode {path.name}", daemon=True)
    thread.start()
    try:
        while (item := chunks.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def clips(path: Path, segments: Sequence[Segment]) -> Iterator[np.ndarray]:
    """Each segment's int16 samples (segments in start order), cut from one streamed decode of `path`.

    Only audio from the current segment's start on is kept (decoded audio no segment needs is dropped as it
    arrives), so memory stays at about one segment plus the read-ahead. A segment past the end of the audio
    comes out short or empty.
    """
    per_ms = SAMPLE_RATE // 1000
    windows = _read_ahead(path)
    try:
        buffer, base = np.zeros(0, np.int16), 0  # buffer holds samples [base, base + len(buffer))
        for segment in segments:
            start, end = segment.start_ms * per_ms, segment.end_ms * per_ms
            parts, top = [buffer], base + len(buffer)
            while top < end and (chunk := next(windows, None)) is not None:
                if top + len(chunk) <= start:  # all of it (and of parts) is before this and every later segment
                    parts, base = [], top + len(chunk)
                else:
                    parts.append(chunk)
                top += len(chunk)
            buffer = np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else np.zeros(0, np.int16)
            cut = min(max(0, start - base), len(buffer))
            buffer, base = buffer[cut:], base + cut
            yield buffer[:max(0, end - base)]
    finally:
        windows.close()


def wav_bytes(samples: np.ndarray) -> bytes:
    """16-bit PCM WAV: Whisper's own input resolution, half the size of float, and soundfile decodes it."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _check_fits(recording: Recording, segment: Segment, samples: int) -> None:
    """Captions that run well past the audio are for another cut of the recording, or another file."""
    audio_ms = segment.start_ms + samples * 1000 // SAMPLE_RATE
    last = segment.cues[-1]
    if last.end > audio_ms + _LATE_MS:
        raise InputError(f"{recording.captions}: a cue ends at {caps.format_timestamp(last.end)} but the audio "
                         f"{recording.audio.name} stops at {caps.format_timestamp(audio_ms)}; wrong file?")


# ---------------------------------------------------------------------------- writing


def _check_output(path: Path) -> None:
    """Refuse to replace anything but a dataset we made (or an empty folder)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise InputError(f"{path} exists and is not a folder")
    if (path / MARKER).is_file() or not any(path.iterdir()):
        return
    raise InputError(f"{path} exists and is not a whisper-tui dataset; choose another output folder or remove it")


class _SplitWriter:
    """One split's rows, written while the audio decodes, batched into Arrow tables and rolled over into shards.

    Subclasses say what a shard is: `_ArrowSplit` (the layout `save_to_disk` writes; what `load_from_disk` opens)
    or `_ParquetSplit` (the layout of a Hub dataset repo, for inputs that outgrow one machine's disk copy).
    """

    def __init__(self, name: str, folder: Path, shard_bytes: int) -> None:
        self.name, self.folder, self.shard_bytes = name, folder, shard_bytes
        self.shards: list[Path] = []
        self.writer = None
        self.rows, self.seconds, self.bytes, self.pending = 0, 0.0, 0, 0
        self.batch: dict[str, list] = {column: [] for column in ("bytes", "path", "text", "start", "end", "source")}
        folder.mkdir(exist_ok=True)

    def _open(self) -> None:
        self.shards.append(self.folder / f".{self.name}-{len(self.shards):05d}.part")
        self.writer = self._open_shard(self.shards[-1])
        self.bytes = 0

    def _open_shard(self, path: Path):
        raise NotImplementedError

    def write(self, segment: Segment, samples: np.ndarray) -> None:
        start = segment.start_ms / 1000
        end = start + len(samples) / SAMPLE_RATE
        name = f"{Path(segment.source).stem}-{segment.start_ms:09d}-{segment.end_ms:09d}.wav"
        row = {"bytes": wav_bytes(samples), "path": name, "text": segment.text, "start": start, "end": end,
               "source": segment.source}
        for column, value in row.items():
            self.batch[column].append(value)
        self.rows, self.seconds = self.rows + 1, self.seconds + end - start
        self.pending += len(row["bytes"])
        if len(self.batch["text"]) >= _BATCH_ROWS or self.bytes + self.pending >= self.shard_bytes:
            self._flush()

    def _flush(self) -> None:
        """Arrow arrays straight from the byte strings: datasets' per-row encoding is slower than the decode."""
        import pyarrow as pa

        if not self.batch["text"]:
            return
        if self.writer is None or self.bytes >= self.shard_bytes:
            self._close()
            self._open()
        b = self.batch
        audio = pa.StructArray.from_arrays([pa.array(b["bytes"], pa.binary()), pa.array(b["path"], pa.string())],
                                           names=["bytes", "path"])
        table = pa.table({"audio": audio, "text": pa.array(b["text"], pa.string()),
                          "start": pa.array(b["start"], pa.float64()), "end": pa.array(b["end"], pa.float64()),
                          "source": pa.array(b["source"], pa.string())})
        self.writer.write_table(table)
        self.bytes += table.nbytes
        self.pending = 0
        for values in b.values():
            values.clear()

    def _close(self) -> None:
        if self.writer is not None:
            self._close_shard()
            self.writer = None

    def _close_shard(self) -> None:
        raise NotImplementedError

    def _shard_files(self) -> list[Path]:
        """Flush, close and name the shards; an empty split still gets one (empty) shard with the schema."""
        self._flush()
        if not self.shards:
            self._open()
        self._close()
        return self.shards

    def finish(self) -> SplitSummary:
        raise NotImplementedError


class _ArrowSplit(_SplitWriter):
    """A split as `save_to_disk` lays it out.

    `Dataset.save_to_disk` can only copy a finished dataset, which on a long recording costs more than the
    decode itself; so rows go straight into the shard files `save_to_disk` would write (the same
    ArrowWriter, rolled over at datasets' own shard size) and `finish` writes its two JSON files from the
    opened Dataset exactly as `save_to_disk` does. tests/test_dataset.py compares the result with a real
    `save_to_disk`, so a datasets upgrade that changes the layout fails a test rather than a user's run.
    """

    def _open_shard(self, path: Path):
        from datasets.arrow_writer import ArrowWriter

        return ArrowWriter(features=features(), path=str(path))

    def _close_shard(self) -> None:
        self.writer.finalize()

    def finish(self) -> SplitSummary:
        """Name the shards as save_to_disk does and write its state.json and dataset_info.json."""
        from datasets import Dataset, config
        from datasets.utils.py_utils import asdict as info_dict  # save_to_disk's: leaves out unset fields

        shards = self._shard_files()
        names = [f"data-{i:05d}-of-{len(shards):05d}.arrow" for i in range(len(shards))]
        for shard, name in zip(shards, names, strict=True):
            os.replace(shard, self.folder / name)
        dataset = Dataset.from_file(str(self.folder / names[0]), split=self.name)
        state = {key: dataset.__dict__[key] for key in
                 ("_fingerprint", "_format_columns", "_format_kwargs", "_format_type", "_output_all_columns")}
        state["_split"] = self.name
        state["_data_files"] = [{"filename": name} for name in names]
        info = info_dict(dataset.info)
        del dataset
        atomic_write_text(self.folder / config.DATASET_STATE_JSON_FILENAME, json.dumps(state, indent=2, sort_keys=True))
        atomic_write_text(self.folder / config.DATASET_INFO_FILENAME,
                          json.dumps({key: info[key] for key in sorted(info)}, indent=2))
        return SplitSummary(self.name, self.rows, round(self.seconds, 3))


class _ParquetSplit(_SplitWriter):
    """A split as parquet shards named as on the Hub (`data/train-00000-of-00003.parquet`): `load_dataset('parquet',
    data_dir=...)` and `train --dataset` find the splits by those names, and the schema carries the features, so
    `audio` reads back as Audio. Each batch is one row group, so a streaming reader holds one batch at a time."""

    def _open_shard(self, path: Path):
        import pyarrow.parquet as pq

        return pq.ParquetWriter(str(path), features().arrow_schema)

    def _close_shard(self) -> None:
        self.writer.close()

    def finish(self) -> SplitSummary:
        shards = self._shard_files()
        for i, shard in enumerate(shards):
            os.replace(shard, self.folder / f"{self.name}-{i:05d}-of-{len(shards):05d}.parquet")
        return SplitSummary(self.name, self.rows, round(self.seconds, 3))


def _write_rows(plans: Sequence[SourcePlan], folder: Path, options: PrepareOptions,
                job: Job) -> tuple[SplitSummary, ...]:
    """Decode each recording once and write its rows into `folder` as a saved DatasetDict or parquet shards; a
    cancel lands before the next row (the caller's atomic folder then throws the rows away)."""
    from datasets import config

    parquet = options.format == "parquet"
    writers = {name: (_ParquetSplit(name, folder / "data", options.shard_mb << 20) if parquet else
                      _ArrowSplit(name, folder / name, options.shard_mb << 20)) for name in SPLITS}
    total, done = sum(len(p.rows) for p in plans), 0
    job.emit(Progress(STAGE, 0, total, unit="rows"))
    for source in plans:
        segments = [row.segment for row in source.rows]
        with contextlib.closing(clips(source.recording.audio, segments)) as cut:  # on errors too: stops ffmpeg
            for row, samples in zip(source.rows, cut, strict=True):
                job.check(CANCELLED)
                _check_fits(source.recording, row.segment, len(samples))
                writers[row.split].write(row.segment, samples)
                done += 1
                job.emit(Progress(STAGE, done, total, unit="rows", message=source.recording.audio.name))
    splits = tuple(writer.finish() for writer in writers.values())
    if not parquet:
        atomic_write_text(folder / config.DATASETDICT_JSON_FILENAME, json.dumps({"splits": list(SPLITS)}))
    return splits


def _marker(plans: Sequence[SourcePlan], options: PrepareOptions, splits: Sequence[SplitSummary]) -> str:
    """What made this dataset: lets `prepare` know the folder is ours, and a reader trace rows to files."""
    data = {
        "created_by": "whisper-tui",
        "format": 1,
        "options": asdict(options),
        "sources": [{"audio": str(p.recording.audio), "captions": str(p.recording.captions)} for p in plans],
        "splits": {s.name: {"rows": s.rows, "seconds": s.seconds} for s in splits},
        "problems": [str(problem) for p in plans for problem in p.problems],
    }
    return json.dumps(data, indent=2) + "\n"


def prepare(train: Recording | Sequence[Recording], output: Path, validation: Recording | None = None,
            options: PrepareOptions = PrepareOptions(), job: Job = QUIET) -> PrepareResult:
    """Build the train/validation dataset for `train` (one or more recordings, and `validation`) and save it at
    `output` atomically.

    `output` is replaced only if it is a dataset made here (or an empty folder); `datasets.load_from_disk`
    opens the result (`load_dataset("parquet", data_dir=output)` with `format="parquet"`; `train --dataset` both).
    """
    output = Path(output)
    _check_output(output)
    if options.format not in FORMATS:
        raise InputError(f"unknown dataset format {options.format!r}: use {' or '.join(FORMATS)}")
    if options.shard_mb < 1:
        raise InputError(f"shard size must be at least 1 MB, got {options.shard_mb}")
    plans = plan(train, validation, options)
    for source in plans:  # a file that is not audio fails here, before any progress is shown
        probe(source.recording.audio)
    for problem in (problem for p in plans for problem in p.problems):
        job.emit(Log(str(problem), level="warning"))
    job.check(CANCELLED)
    with library_bars_off("datasets.utils"), atomic_directory(output) as tmp:
        splits = _write_rows(plans, tmp, options, job)
        atomic_write_text(tmp / MARKER, _marker(plans, options, splits))
    problems = tuple(str(problem) for p in plans for problem in p.problems)
    job.emit(Done(STAGE, output))
    return PrepareResult(output, splits, problems)


# ---------------------------------------------------------------------------- reading back


def load(dataset_dir: Path):
    """A prepared dataset as a DatasetDict, in either format."""
    import datasets

    if (Path(dataset_dir) / datasets.config.DATASETDICT_JSON_FILENAME).is_file():
        return datasets.load_from_disk(str(dataset_dir))
    return datasets.load_dataset("parquet", data_dir=str(dataset_dir))


# ---------------------------------------------------------------------------- Hub


def push_to_hub(dataset_dir: Path, repo_id: str, private: bool = True) -> str:
    """Upload a prepared dataset to the Hub (a private repo by default: recordings are often personal) as
    `datasets` does it: parquet shards per split under data/ and a README.md dataset card.

    Returns the dataset's URL on the Hub it went to (HF_ENDPOINT's, when set). Offline mode, an unreachable Hub or
    a refused upload is one JobError line.
    """
    from core.hub import no_hub_bars, one_line_errors, ready_to_push

    token = ready_to_push(repo_id)
    dataset = load(dataset_dir)
    with one_line_errors(repo_id, token), library_bars_off("datasets.utils"), no_hub_bars():
        commit = dataset.push_to_hub(repo_id, token=token, private=private)
    return str(commit.repo_url)
