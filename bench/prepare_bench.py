"""Prepare throughput: `prepare` on a 1-hour recording against a plain ffmpeg decode of the same file.

The recording is sample_data/train.mp3 looped (decoded, then re-encoded as one continuous mp3, so every
loop lasts exactly as long as the decoded sample) with train.vtt's cues shifted once per loop. It is
built once into bench/work/ (git-ignored). Then, in the same run, median of --repeat runs each:

  decode (null)  ffmpeg → 16 kHz mono f32 → /dev/null
  decode (pipe)  the same into a pipe that Python reads and drops (what any consumer of a decode pays)
  prepare        core.dataset.prepare() in this process (imports done before timing), one packing per recording
                 (`--no-views`: the rows are the audio once, so the ratio to a decode stays meaningful)
  prepare CLI    `python -m core.cli prepare --no-views ...` once: interpreter start and imports included

Wall times are medians of interleaved runs, with CPU seconds (process + ffmpeg) beside them: on a shared
machine wall time swings with other load, CPU time much less.

Usage: python bench/prepare_bench.py [--hours 1] [--repeat 5] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from common import (
    SAMPLE_DATA,
    WORK,
    ProcessStats,
    ffmpeg_binary,
    load_average,
    machine_summary,
    measure_process,
    run_ffmpeg,
    write_section,
)

from core import captions as caps
from core.audio import SAMPLE_RATE, duration_seconds, load_audio
from core.dataset import PrepareOptions, PrepareResult, Recording, features, prepare

# one packing per recording (`--no-views`): the throughput of cutting and writing rows, comparable across runs
PACKED = PrepareOptions(views=False)

SECTION = "## Prepare throughput"
SAMPLE_AUDIO = SAMPLE_DATA / "train.mp3"
SAMPLE_CAPTIONS = SAMPLE_DATA / "train.vtt"


def build_long_recording(hours: float) -> Recording:
    """Loop the sample to ~`hours`, with its cues shifted by the decoded sample's exact length per loop."""
    loop_ms = len(load_audio(SAMPLE_AUDIO)) * 1000 // SAMPLE_RATE
    loops = max(1, round(hours * 3_600_000 / loop_ms))
    audio = WORK / f"long-{loops}x.mp3"
    vtt = audio.with_suffix(".vtt")
    if not audio.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        partial = audio.with_name(f".{audio.name}.partial.mp3")
        run_ffmpeg("-stream_loop", str(loops - 1), "-i", str(SAMPLE_AUDIO), "-ac", "1", "-ar", str(SAMPLE_RATE),
                "-c:a", "libmp3lame", "-b:a", "32k", str(partial))
        os.replace(partial, audio)
    cues = caps.read(SAMPLE_CAPTIONS).cues
    shifted = [replace(c, start=c.start + k * loop_ms, end=c.end + k * loop_ms, id="") for k in range(loops)
               for c in cues]
    caps.write(caps.Captions(cues=shifted), vtt)
    return Recording(audio, vtt)


def _decode_cmd(path: Path) -> list[str]:
    return [ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
            "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "pipe:1"]


def decode_to_null(path: Path) -> None:
    subprocess.run(_decode_cmd(path), stdout=subprocess.DEVNULL, check=True)


def decode_to_pipe(path: Path) -> None:
    with subprocess.Popen(_decode_cmd(path), stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        while proc.stdout.read(1 << 20):
            pass
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)


def _cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (ffmpeg): steadier than wall time on a busy box."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _measure(jobs: dict[str, Callable[[], object]], repeat: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per job; the jobs take turns, so a load spike hits them alike."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
    for _ in range(repeat):
        for name, job in jobs.items():
            cpu, start = _cpu_s(), time.perf_counter()
            job()
            samples[name].append((time.perf_counter() - start, _cpu_s() - cpu))
    return {name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
            for name, runs in samples.items()}


def _cli_run(recording: Recording, output: Path) -> ProcessStats:
    """One cold `whisper-tui prepare` in a fresh interpreter: what a user waits for, imports included."""
    cmd = [sys.executable, "-m", "core.cli", "prepare", "--no-views", "--audio", str(recording.audio),
           "--captions", str(recording.captions), "-o", str(output)]
    stats = measure_process(cmd)
    if stats.returncode != 0:
        raise SystemExit(f"prepare CLI failed with exit code {stats.returncode}")
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()

    machine = f"{machine_summary()}; load average before the run {load_average()} (shared machine: wall times swing)"
    recording = build_long_recording(args.hours)
    hours = duration_seconds(recording.audio) / 3600
    decode_to_null(recording.audio)  # warm the page cache for everyone
    features()  # import datasets now: the in-process column times the work, the CLI column the imports
    out = Path(tempfile.mkdtemp(prefix="prepare-bench-", dir=WORK))
    results: list[PrepareResult] = []
    try:
        timings = _measure({"null": lambda: decode_to_null(recording.audio),
                            "pipe": lambda: decode_to_pipe(recording.audio),
                            "prepare": lambda: results.append(prepare(recording, out / "dataset", options=PACKED))},
                           args.repeat)
        cli = _cli_run(recording, out / "dataset")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    (null_s, null_cpu), (pipe_s, pipe_cpu), (prep_s, prep_cpu) = timings["null"], timings["pipe"], timings["prepare"]
    rows = ", ".join(f"{s.name} {s.rows}" for s in results[-1].splits)
    header = ("| audio | decode → /dev/null | decode → pipe | prepare | prepare ÷ decode (null; pipe) "
              "| CPU s: null / pipe / prepare | audio h per min | prepare CLI, cold (CPU, peak RSS) | rows |\n"
              "|---|---|---|---|---|---|---|---|---|")
    row = (f"| {hours:.2f} h mp3, 16 kHz mono | {null_s:.2f} s | {pipe_s:.2f} s | {prep_s:.2f} s "
           f"| {prep_s / null_s:.2f}×; {prep_s / pipe_s:.2f}× | {null_cpu:.1f} / {pipe_cpu:.1f} / {prep_cpu:.1f} "
           f"| {hours / (prep_s / 60):.1f} | {cli.wall_s:.2f} s ({cli.cpu_s:.1f} s, {cli.peak_rss_mb:.0f} MB) "
           f"| {rows} |")
    print(header)
    print(row)
    if not args.no_write:
        command = " ".join(["python bench/prepare_bench.py", *sys.argv[1:]])
        write_section(SECTION, f"Machine: {machine}.\nCommand: `{command}` (wall and CPU: medians of {args.repeat} "
                       "interleaved runs; the CLI column is one run including interpreter start and imports).\n\n"
                       f"{header}\n{row}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
