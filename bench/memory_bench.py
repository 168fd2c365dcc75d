"""Transcription memory against recording length: `whisper-tui transcribe` on 10 and 60 minutes (tiny.en, CPU).

Peak memory must not grow with the recording: core.transcribe decodes and transcribes blocks of a few
minutes, so a 60-minute recording should peak where a 10-minute one does. Each length is one recording of
sample_data train + validation + control looped (16 kHz mono WAV, built once into bench/work/, the same
recipe as the transcription bench). Each run is a fresh `python -m core.cli transcribe FILE -m tiny.en -o DIR`
process (default engine and settings), one after the other, with its whole process tree's RSS sampled
(ffmpeg included); the shortest recording is the baseline every ratio is taken against.

Usage: python bench/memory_bench.py [--minutes 10 60] [--timeout 900] [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import (
    WORK,
    Headline,
    ProcessStats,
    cli_command,
    headline_table,
    load_average,
    machine_summary,
    measure_process,
    times,
    versions,
    write_section,
)
from transcribe_bench import MODEL, build_recording, warm_page_cache

from core.audio import duration_seconds
from core.models import resolve
from core.transcribe import TranscribeOptions

SECTION = "## Transcription memory vs length (tiny.en, CPU)"
PACKAGES = ("ctranslate2", "faster-whisper")
QUICK_MINUTES = (0.25, 0.5)
RSS_TARGET = "≤ 1.10×"  # "does not grow with length": 1.0 plus sampling noise


@dataclass(frozen=True)
class Measured:
    """One recording's transcription."""

    minutes: float
    audio_s: float
    stats: ProcessStats
    load_at_start: str

    @property
    def rtf(self) -> float:
        return self.stats.wall_s / self.audio_s


def transcribe_once(minutes: float, timeout_s: float) -> Measured:
    """Build (once) and transcribe a recording of `minutes` in a fresh process."""
    audio = build_recording(minutes * 60)
    warm_page_cache([audio])
    out = Path(tempfile.mkdtemp(prefix="memory-bench-", dir=WORK))
    load = load_average()
    try:
        log = out / "child.log"
        with open(log, "wb") as sink:
            stats = measure_process(cli_command("transcribe", audio, "-m", MODEL, "-o", out), timeout_s=timeout_s,
                                    poll_s=0.1, stdout=sink, stderr=sink)
        if stats.returncode not in (0, None):
            print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return Measured(minutes, duration_seconds(audio), stats, load)


def table(runs: list[Measured]) -> str:
    """The runs as a Markdown table, each against the first (shortest) one."""
    base = runs[0]
    lines = ["| recording | wall s | RTF | CPU s | peak RSS MB | peak RSS ÷ baseline | RTF ÷ baseline "
             "| load avg at start |", "|---|---|---|---|---|---|---|---|"]
    for run in runs:
        s = run.stats
        late = "> " if s.timed_out else ""
        state = " (timed out)" if s.timed_out else f" (failed, exit {s.returncode})" if s.returncode else ""
        lines.append(f"| {run.minutes:g} min ({run.audio_s:.0f} s){state} | {late}{s.wall_s:.1f} "
                     f"| {late}{run.rtf:.3f} | {late}{s.cpu_s:.1f} | {s.peak_rss_mb:.0f} "
                     f"| {times(s.peak_rss_mb, base.stats.peak_rss_mb)} | {times(run.rtf, base.rtf)} "
                     f"| {run.load_at_start} |")
    return "\n".join(lines)


def headlines(runs: list[Measured]) -> list[Headline]:
    """Peak RSS of the longest recording ÷ the shortest (only meaningful when both finished)."""
    base, longest = runs[0], runs[-1]
    ok = all(r.stats.returncode == 0 for r in (base, longest))
    ratio = times(longest.stats.peak_rss_mb, base.stats.peak_rss_mb) if ok else "n/a (a run failed)"
    return [Headline(f"transcribe memory: peak RSS, {longest.minutes:g} min ÷ {base.minutes:g} min recording", ratio,
                     RSS_TARGET)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0],
                        help="recording lengths; the shortest is the baseline (default 10 60)")
    parser.add_argument("--timeout", type=float, default=900.0, help="limit per run in seconds (default 900)")
    parser.add_argument("--quick", action="store_true", help=f"smoke test: {' and '.join(map(str, QUICK_MINUTES))} min")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    lengths = sorted(QUICK_MINUTES if args.quick else args.minutes)
    model = resolve(MODEL)  # converts and caches on first use, so no run pays for it
    warm_page_cache([model.ct2_dir / "model.bin"])
    load_start, started = load_average(), time.perf_counter()
    runs = []
    for minutes in lengths:
        print(f"transcribing {minutes:g} min …", file=sys.stderr, flush=True)
        runs.append(transcribe_once(minutes, args.timeout))
        s = runs[-1].stats
        print(f"  wall {s.wall_s:.1f} s, exit {s.returncode}, RSS {s.peak_rss_mb:.0f} MB", file=sys.stderr, flush=True)
    result, heads = table(runs), headlines(runs)
    print(result + "\n\n" + headline_table(heads))
    code = 0 if all(r.stats.returncode == 0 for r in runs) else 1
    if args.no_write:
        return code
    flags = " --minutes " + " ".join(f"{m:g}" for m in args.minutes) if args.minutes != [10.0, 60.0] else ""
    flags += f" --timeout {args.timeout:g}" if args.timeout != parser.get_default("timeout") else ""
    body = (
        f"Machine: {machine_summary()}; {versions(PACKAGES)}.\n"
        f"Load average (1/5/15 min): {load_start} at start, {load_average()} at end.\n"
        f"Command: `python bench/memory_bench.py{flags}` — `whisper-tui transcribe FILE -m {MODEL} -o DIR` (default "
        f"engine: ctranslate2 int8, beam 5, word timings) once per length, {(time.perf_counter() - started) / 60:.1f}"
        " min in all.\n"
        "Audio: sample_data train + validation + control looped, 16 kHz mono WAV.\n\n"
        f"{result}\n\n"
        "- peak RSS MB: the largest sum of RSS over the process tree (Python + ffmpeg), sampled every 0.1 s; "
        f"transcription works in blocks of {TranscribeOptions().block_s:g} s, so the baseline already spans "
        "several blocks.\n"
        "- wall s: spawn to exit (interpreter, imports, model load, transcription, output); RTF = wall s / audio s "
        "(lower is better); CPU s: user + system of the process and the ffmpeg it ran.\n"
        "- ÷ baseline: against the shortest recording in the same run; RTF ÷ baseline near 1 means the time per "
        "audio second does not grow either.\n")
    write_section(SECTION, body)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
