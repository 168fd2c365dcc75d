"""Training memory and set-up time against dataset size: does `train` stay flat as the audio grows?

Each size is the sample's training recording (train.mp3, 104 s, two espeak-ng voices) looped to 5, 60 and 300
minutes, its captions shifted with every loop (looped audio: the same sentences again, which is what a memory and
time measure needs, not new speech). `whisper-tui prepare` with its defaults makes the dataset; then `whisper-tui
train --max-steps 2` (tiny.en, defaults otherwise) runs twice on it: first with an empty disk cache, then again,
reading the first run's cache. Each run is one process, its whole tree's RSS sampled; "first step" is the time from
launch to the Trainer's first step event. The 5-minute set is the baseline every ratio is taken against; the
second run's first step against the first run's on the same set.

Usage: python bench/train_memory_bench.py [--minutes 5 60 300] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import (
    SAMPLE_DATA,
    WORK,
    Headline,
    cli_command,
    headline_table,
    load_average,
    machine_summary,
    measure_process,
    run_ffmpeg,
    times,
    versions,
    write_section,
)

from core.audio import duration_seconds
from core.captions import Captions, Cue, read, write
from core.models import cache_root

SECTION = "## Training memory and set-up against dataset size (issue 13)"
FOLDER = WORK / "train-memory"
MODEL = "tiny.en"


@dataclass
class Run:
    minutes: float
    prepare_s: float
    prepare_mb: float
    rows: int
    first_step_s: float | None
    peak_mb: float
    wall_s: float
    warm_first_step_s: float | None
    warm_peak_mb: float


def looped(minutes: float) -> tuple[Path, Path]:
    """train.mp3 looped to `minutes` (16 kHz mono WAV) and its captions shifted by each loop (built once)."""
    audio, captions = FOLDER / f"train-{minutes:g}min.wav", FOLDER / f"train-{minutes:g}min.vtt"
    if audio.exists() and captions.exists():
        return audio, captions
    FOLDER.mkdir(parents=True, exist_ok=True)
    # one loop decoded once and padded to whole milliseconds, so loop k starts exactly at k × loop_ms (the MP3's
    # stated duration is a few ms off its decoded length: 34 loops of it put the last cues past the audio)
    import soundfile as sf

    source = FOLDER / "train-loop.wav"
    run_ffmpeg("-i", str(SAMPLE_DATA / "train.mp3"), "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(source))
    samples, rate = sf.read(source, dtype="int16")
    sf.write(source, np.pad(samples, (0, -len(samples) % (rate // 1000))), rate, subtype="PCM_16")
    loop_ms = round(duration_seconds(source) * 1000)
    loops = max(1, round(minutes * 60_000 / loop_ms))
    listing = FOLDER / f".list-{minutes:g}.txt"
    listing.write_text(f"file '{source}'\n" * loops)
    run_ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le",
               str(audio))
    listing.unlink()
    cues = read(SAMPLE_DATA / "train.vtt").cues
    shifted = [Cue(c.start + k * loop_ms, c.end + k * loop_ms, c.text) for k in range(loops) for c in cues]
    write(Captions(shifted), captions)
    return audio, captions


def fresh_cache(name: str) -> Path:
    """A cache root with the converted models of the real one but no encoder outputs or transcripts."""
    root = FOLDER / f"cache-{name}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for entry in cache_root().iterdir():
        if entry.name != "encoded":
            (root / entry.name).symlink_to(entry)
    return root


def first_step_after(events: Path, started: float, seen: list[float]) -> None:
    """Records (once) the time the first training step's event appeared."""
    if seen or not events.is_file():
        return
    for line in events.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "Progress" and event.get("stage") == "train" and event.get("done", 0) >= 1:
            seen.append(time.perf_counter() - started)
            return


def train_once(dataset: Path, run_dir: Path, cache: Path) -> tuple[float | None, float, float]:
    shutil.rmtree(run_dir, ignore_errors=True)
    events = run_dir.with_suffix(".events.jsonl")
    events.unlink(missing_ok=True)
    seen: list[float] = []
    started = time.perf_counter()
    stats = measure_process(cli_command("train", "--dataset", dataset, "-o", run_dir, "-m", MODEL, "--keywords",
                                        SAMPLE_DATA / "keywords.txt", "--max-steps", "2", "--events", events),
                            env={**os.environ, "WHISPER_TUI_CACHE": str(cache)}, timeout_s=3600,
                            on_poll=lambda pid: first_step_after(events, started, seen))
    if stats.returncode != 0:
        raise SystemExit(f"train failed on {dataset} (exit {stats.returncode})")
    first_step_after(events, started, seen)
    return (seen[0] if seen else None), stats.peak_rss_mb, stats.wall_s


def measure(minutes: float) -> Run:
    audio, captions = looped(minutes)
    dataset = FOLDER / f"dataset-{minutes:g}min"
    shutil.rmtree(dataset, ignore_errors=True)
    prepared = measure_process(cli_command("prepare", "--audio", audio, "--captions", captions, "-o", dataset),
                               timeout_s=3600)
    if prepared.returncode != 0:
        raise SystemExit(f"prepare failed on {audio} (exit {prepared.returncode})")
    from datasets import load_from_disk

    rows = len(load_from_disk(str(dataset))["train"])
    cache = fresh_cache(f"{minutes:g}")
    cold_step, cold_peak, wall = train_once(dataset, FOLDER / f"run-{minutes:g}min", cache)
    warm_step, warm_peak, _ = train_once(dataset, FOLDER / f"run-{minutes:g}min", cache)
    print(f"{minutes:g} min: prepare {prepared.wall_s:.1f} s {prepared.peak_rss_mb:.0f} MB, {rows} rows; train first "
          f"step {cold_step} s, peak {cold_peak:.0f} MB; warm first step {warm_step} s, peak {warm_peak:.0f} MB",
          flush=True)
    return Run(minutes, prepared.wall_s, prepared.peak_rss_mb, rows, cold_step, cold_peak, wall, warm_step, warm_peak)


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


LIBRARIES = "import torch, datasets, peft, transformers.trainer, transformers.models.whisper.modeling_whisper"


def import_floor_s(tries: int = 3) -> float:
    """Seconds a fresh Python process takes to import the libraries every training run needs (median of `tries`):
    the part of a second run's set-up that no cache can lower."""
    import statistics
    import subprocess

    times_s = []
    for _ in range(tries):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", LIBRARIES], check=True)
        times_s.append(time.perf_counter() - started)
    return statistics.median(times_s)


def report(runs: list[Run], floor_s: float | None = None) -> str:
    base = runs[0]
    lines = ["| audio | prepare s | prepare peak MB | training rows | train: first step s | train peak MB | "
             "second run: first step s | second run peak MB |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.minutes:g} min | {r.prepare_s:.1f} | {r.prepare_mb:.0f} | {r.rows} | {_s(r.first_step_s)} | "
              f"{r.peak_mb:.0f} | {_s(r.warm_first_step_s)} | {r.warm_peak_mb:.0f} |" for r in runs]
    headlines = []
    for r in runs[1:]:
        headlines.append(Headline(f"train peak RSS, {r.minutes:g} min ÷ {base.minutes:g} min",
                                  times(r.peak_mb, base.peak_mb), "≤ 1.25×"))
        if r.first_step_s and base.first_step_s:
            headlines.append(Headline(f"time to the first step, {r.minutes:g} min ÷ {base.minutes:g} min",
                                      times(r.first_step_s, base.first_step_s), "≤ 1.5×"))
    for r in runs:
        if r.first_step_s and r.warm_first_step_s:
            headlines.append(Headline(f"second run's time to the first step ÷ the first run's, {r.minutes:g} min",
                                      times(r.warm_first_step_s, r.first_step_s), "≤ 0.10×"))
    floor = []
    if floor_s is not None:
        floor = [f"Importing the libraries alone (`{LIBRARIES}`, a fresh process, median of 3) takes {floor_s:.1f} s: "
                 "of each second run's first step, " + ", ".join(
                     f"{r.minutes:g} min {r.warm_first_step_s - floor_s:.1f} s" for r in runs if r.warm_first_step_s)
                 + " are left for everything else (the model, the dataset, the cached baseline and replay labels, and "
                 "the first step's own forward and backward pass).", ""]
    return "\n".join([
        f"Generated by `python bench/train_memory_bench.py` on {time.strftime('%Y-%m-%d')}: {machine_summary()}; "
        f"{versions(['torch', 'transformers', 'datasets'])}; load average now {load_average()}. Model {MODEL}, CPU. "
        "Audio: sample_data/train.mp3 looped (captions shifted with it), `prepare` defaults; `train --max-steps 2`, "
        "defaults otherwise; the first run with an empty disk cache, the second reading it.", "",
        *lines, "", headline_table(headlines), "", *floor])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 60, 300])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    runs = [measure(m) for m in sorted(args.minutes)]
    body = report(runs, import_floor_s())
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
