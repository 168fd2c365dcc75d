"""Transcription speed and memory: whisper-tui against faster-whisper and the transformers pipeline (tiny.en, CPU).

A ~5-minute recording (sample_data train + validation + control, looped, 16 kHz mono WAV) is built once into
bench/work/. Each contender then runs once, in its own fresh Python process (so imports, model loading and
memory are its own), one after the other in the same run:

  ours (default)         `whisper-tui transcribe FILE -o DIR`: engine auto → faster-whisper int8, beam 5,
                         word timings on
  ours --no-words        the same without word timings
  ours transformers      `--engine transformers` (beam 5), and `--beam-size 1`
  faster-whisper direct  WhisperModel(ct2_dir, device="cpu", compute_type="int8").transcribe(path, beam_size=5),
                         all segments consumed
  transformers pipeline  pipeline("automatic-speech-recognition", model=hf_dir, chunk_length_s=30, device="cpu")
                         on the file (greedy, default batch size)

Measured per contender: wall time from spawn to exit (what a user waits for: interpreter, imports, model
load, decode, transcription, output), RTF = wall time / audio duration (lower is better; < 1 is faster than
real time), the load-excluded transcription time the child times itself, CPU time (user + system, child
and grandchildren), and peak RSS of the child's whole process tree (sampled every 50 ms).

"ours" runs as `python bench/transcribe_bench.py --child cli -- transcribe FILE -o DIR`, which calls
`core.cli.main` (the function the `whisper-tui` console script calls) with timers around model resolution,
engine load and transcription.

Usage: python bench/transcribe_bench.py [--seconds 300] [--timeout 600] [--only NAME ...] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import (
    RESULTS,
    SAMPLE_DATA,
    WORK,
    ProcessStats,
    load_average,
    machine_summary,
    measure_process,
    run_ffmpeg,
    versions,
    write_section,
)

SECTION = "## Transcription (tiny.en, CPU)"
MODEL = "tiny.en"
SOURCES = ("train.mp3", "validation.mp3", "control.mp3")
PACKAGES = ("torch", "ctranslate2", "faster-whisper", "transformers")
FW_DIRECT = "faster-whisper direct"
PIPELINE = "transformers pipeline"


@dataclass(frozen=True)
class Contender:
    """One way to transcribe the recording: a child mode of this script plus its arguments."""

    name: str
    child: str  # cli | faster-whisper | pipeline
    cli_args: tuple[str, ...] = ()
    note: str = ""

    def command(self, audio: Path, out: Path, timings: Path) -> list[str]:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", self.child, "--timings", str(timings)]
        if self.child == "cli":
            return [*cmd, "--", "transcribe", str(audio), "-o", str(out), *self.cli_args]
        return [*cmd, "--audio", str(audio)]

    def shown(self) -> str:
        """How the table names it: the CLI flags for ours."""
        flags = " ".join(self.cli_args)
        return f"{self.name} (`{flags}`)" if flags else self.name


CONTENDERS = (
    Contender(FW_DIRECT, "faster-whisper", note="int8, beam 5, no word timings"),
    Contender("ours, default", "cli", note="auto → ctranslate2 int8, beam 5, word timings; batched from 10 min"),
    Contender("ours", "cli", ("--batch-size", "8"), note="faster-whisper's batched pipeline over VAD windows, 8 at a "
                                                        "time, int8, beam 5, word timings, cues ≤ 7 s"),
    Contender("ours", "cli", ("--no-words",), note="ctranslate2 int8, beam 5"),
    Contender(PIPELINE, "pipeline", note="fp32, chunk_length_s=30, greedy"),
    Contender("ours", "cli", ("--engine", "transformers", "--beam-size", "1"), note="fp32, greedy, word timings"),
    Contender("ours", "cli", ("--engine", "transformers"), note="fp32, beam 5, word timings"),
)


# ---------------------------------------------------------------------------- the recording


def build_recording(seconds: float) -> Path:
    """train + validation + control looped and cut to `seconds`, as 16 kHz mono 16-bit WAV (built once)."""
    from core.audio import duration_seconds

    target = WORK / f"transcribe-{seconds:g}s.wav"
    if target.exists():
        return target
    WORK.mkdir(parents=True, exist_ok=True)
    sources = [SAMPLE_DATA / name for name in SOURCES]
    loop_s = sum(duration_seconds(p) for p in sources)
    listing = WORK / f".transcribe-{seconds:g}s.concat.txt"
    loops = int(seconds // loop_s) + 1
    listing.write_text("".join(f"file '{p}'\n" for _ in range(loops) for p in sources))
    partial = target.with_name(f".{target.name}.partial.wav")
    try:
        run_ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-t", f"{seconds:g}", "-ac", "1",
                   "-ar", "16000", "-c:a", "pcm_s16le", str(partial))
        os.replace(partial, target)
    finally:
        listing.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return target


def reference_text(seconds: float) -> str:
    """What the looped recording says: the sources' captions, loop after loop, up to the cut (a cue the cut
    falls in counts whole: the same for every contender)."""
    from core.audio import duration_seconds
    from core.captions import read

    words, offset = [], 0.0
    while offset < seconds:
        for name in SOURCES:
            audio = SAMPLE_DATA / name
            words += [cue.text for cue in read(audio.with_suffix(".vtt")).cues if offset + cue.start / 1000 < seconds]
            offset += duration_seconds(audio)
    return " ".join(words)


def warm_page_cache(paths: list[Path]) -> None:
    """Read the model files once so the first contender does not pay for a cold disk."""
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(16 << 20):
                pass


# ---------------------------------------------------------------------------- children


def _timed(marks: dict[str, float], key: str, func: Callable) -> Callable:
    """`func`, adding its run time to marks[key]."""

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            marks[key] = marks.get(key, 0.0) + time.perf_counter() - start

    return wrapper


def child_cli(argv: list[str], marks: dict[str, float]) -> int:
    """`whisper-tui …` exactly as the console script runs it, with timers around load and transcription."""
    import core.transcribe as tr
    from core.cli import main

    captured = []

    def transcribe(*args, **kwargs):
        captions = original(*args, **kwargs)
        captured.append(captions)
        return captions

    original = tr.transcribe
    tr.resolve = _timed(marks, "load_s", tr.resolve)
    tr.load_engine = _timed(marks, "load_s", tr.load_engine)
    tr.transcribe = _timed(marks, "transcribe_s", transcribe)
    code = main(argv)
    cues = [cue for captions in captured for cue in captions.cues]
    marks["words"] = sum(len(cue.text.split()) for cue in cues)
    marks["text"] = " ".join(cue.text for cue in cues)
    marks["longest_cue_s"] = max((cue.end - cue.start) / 1000 for cue in cues) if cues else 0.0
    return code


def child_faster_whisper(audio: Path, marks: dict[str, float]) -> int:
    """faster-whisper straight from its README: int8 on CPU, beam 5, every segment consumed."""
    from core.models import resolve

    ct2_dir = resolve(MODEL).ct2_dir
    start = time.perf_counter()
    from faster_whisper import WhisperModel

    model = WhisperModel(str(ct2_dir), device="cpu", compute_type="int8")
    marks["load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    segments, _ = model.transcribe(str(audio), beam_size=5)
    segments = list(segments)
    marks["transcribe_s"] = time.perf_counter() - start
    marks["words"] = sum(len(s.text.split()) for s in segments)
    marks["text"] = " ".join(s.text for s in segments)
    marks["longest_cue_s"] = max((s.end - s.start for s in segments), default=0.0)
    return 0


def child_pipeline(audio: Path, marks: dict[str, float]) -> int:
    """The transformers ASR pipeline on the same (converted) model, 30 s chunks, greedy."""
    from core.models import resolve

    hf_dir = resolve(MODEL).hf_dir
    start = time.perf_counter()
    from transformers import pipeline

    asr = pipeline("automatic-speech-recognition", model=str(hf_dir), chunk_length_s=30, device="cpu")
    marks["load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    result = asr(str(audio))
    marks["transcribe_s"] = time.perf_counter() - start
    marks["words"] = len(str(result["text"]).split())
    marks["text"] = str(result["text"])
    return 0


def run_child(args: argparse.Namespace) -> int:
    """Child mode: run one contender and write its own timings as JSON."""
    marks: dict[str, float] = {}
    if args.child == "cli":
        argv = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
        code = child_cli(argv, marks)
    elif args.child == "faster-whisper":
        code = child_faster_whisper(args.audio, marks)
    else:
        code = child_pipeline(args.audio, marks)
    args.timings.write_text(json.dumps(marks))
    return code


# ---------------------------------------------------------------------------- parent


@dataclass(frozen=True)
class Outcome:
    """A contender's measurements."""

    contender: Contender
    stats: ProcessStats
    marks: dict[str, float]
    load_at_start: str


def measure(contender: Contender, audio: Path, timeout_s: float) -> Outcome:
    """Run one contender in its own process and collect the parent's and the child's numbers."""
    out = Path(tempfile.mkdtemp(prefix="transcribe-bench-", dir=WORK))
    timings = out / "timings.json"
    try:
        load = load_average()
        log = out / "child.log"
        with open(log, "wb") as sink:
            stats = measure_process(contender.command(audio, out, timings), timeout_s=timeout_s, stdout=sink,
                                    stderr=sink)
        marks = json.loads(timings.read_text()) if timings.exists() else {}
        if stats.returncode not in (0, None):  # keep going: a failure is a row of the table too
            print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
            marks = {}
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return Outcome(contender, stats, marks, load)


def _seconds(value: float, timed_out: bool) -> str:
    return f"> {value:.1f}" if timed_out else f"{value:.1f}"


def _ratio(outcome: Outcome, reference: Outcome | None) -> str:
    """wall / reference wall (> 1: slower than the reference); bounds when either side timed out."""
    if reference is None or reference.stats.returncode not in (0, None):
        return "n/a"
    if outcome is reference:
        return "1.00×"
    value = outcome.stats.wall_s / reference.stats.wall_s
    mine, theirs = outcome.stats.timed_out, reference.stats.timed_out
    if mine and theirs:
        return "n/a (both timed out)"
    return f"{'≥ ' if mine else '≤ ' if theirs else ''}{value:.2f}×"


def _wer(marks: dict, reference: str) -> str:
    from core.scores import score_texts

    if "text" not in marks:
        return "—"
    return f"{100 * score_texts([reference], [marks['text']]).wer:.1f}"


def table(outcomes: list[Outcome], audio_s: float, reference: str) -> str:
    """The results as a Markdown table."""
    by_name = {o.contender.name: o for o in outcomes}
    fw, pipe = by_name.get(FW_DIRECT), by_name.get(PIPELINE)
    lines = ["| contender | settings | wall s | RTF | load s | transcribe s (RTF) | CPU s | peak RSS MB | words "
             "| WER % | longest cue s | × faster-whisper direct | × transformers pipeline | load avg at start |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        s, m, late = o.stats, o.marks, o.stats.timed_out
        if s.returncode not in (0, None):
            lines.append(f"| {o.contender.shown()} | {o.contender.note} | failed (exit {s.returncode}) after "
                         f"{s.wall_s:.1f} s |" + " |" * 11)
            continue
        load = f"{m['load_s']:.1f}" if "load_s" in m else "—"
        transcribe = f"{m['transcribe_s']:.1f} ({m['transcribe_s'] / audio_s:.3f})" if "transcribe_s" in m else "—"
        words = str(int(m["words"])) if "words" in m else "—"
        longest = f"{m['longest_cue_s']:.1f}" if "longest_cue_s" in m else "—"
        cells = [o.contender.shown(), o.contender.note, _seconds(s.wall_s, late),
                 f"{'> ' if late else ''}{s.wall_s / audio_s:.3f}", load, transcribe, _seconds(s.cpu_s, late),
                 f"{s.peak_rss_mb:.0f}", words, _wer(m, reference), longest, _ratio(o, fw), _ratio(o, pipe),
                 o.load_at_start]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="recording length (default 300)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per-contender limit in seconds (default 600)")
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME",
                        help="run only contenders whose table name contains one of these")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {RESULTS.name}")
    parser.add_argument("--child", choices=["cli", "faster-whisper", "pipeline"], help=argparse.SUPPRESS)
    parser.add_argument("--timings", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--audio", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(args)

    from core.audio import duration_seconds
    from core.models import resolve

    model = resolve(MODEL)  # converts and caches on first use, so no contender pays for it
    audio = build_recording(args.seconds)
    audio_s = duration_seconds(audio)
    warm_page_cache([audio, model.ct2_dir / "model.bin", model.hf_dir / "model.safetensors"])
    contenders = [c for c in CONTENDERS if args.only is None or any(k in c.shown() for k in args.only)]
    load_start, started = load_average(), time.perf_counter()
    outcomes = []
    for contender in contenders:
        print(f"running {contender.shown()} …", file=sys.stderr, flush=True)
        outcomes.append(measure(contender, audio, args.timeout))
        o = outcomes[-1]
        state = " (timed out)" if o.stats.timed_out else f" (exit {o.stats.returncode})" if o.stats.returncode else ""
        shown = {k: v for k, v in o.marks.items() if k != "text"}
        print(f"  wall {o.stats.wall_s:.1f} s{state}, RSS {o.stats.peak_rss_mb:.0f} MB, {shown}", file=sys.stderr,
              flush=True)
    total_s = time.perf_counter() - started
    result = table(outcomes, audio_s, reference_text(audio_s))
    print(result)
    if not args.no_write:
        command = "python bench/transcribe_bench.py" + "".join(
            f" --{k} {v:g}" for k, v in (("seconds", args.seconds), ("timeout", args.timeout))
            if v != parser.get_default(k)) + (" --only " + " ".join(f"'{k}'" for k in args.only) if args.only else "")
        body = (
            f"Machine: {machine_summary()}; {versions(PACKAGES)}.\n"
            f"Load average (1/5/15 min): {load_start} at start, {load_average()} at end "
            f"(other work was {'running' if os.getloadavg()[0] > 0.5 else 'idle'}; the table shows it per "
            f"contender).\n"
            f"Command: `{command}` — {len(outcomes)} contenders, one run each, {total_s / 60:.1f} min in all.\n"
            f"Audio: {audio_s:.1f} s, sample_data train + validation + control looped, 16 kHz mono WAV.\n\n"
            f"{result}\n\n"
            "- wall s: spawn to exit of a fresh process (interpreter, imports, model load, decode, transcription, "
            "output); RTF = wall s / audio s (lower is better, < 1 is faster than real time).\n"
            "- load s: model resolution + imports + model load, timed inside the child; transcribe s: the "
            "transcription call alone (decode included), with its RTF.\n"
            "- CPU s: user + system of the child and the processes it reaped (ffmpeg); under load it is steadier "
            "than wall time.\n"
            "- peak RSS MB: the largest sum of RSS over the child's process tree, sampled every 50 ms.\n"
            "- WER %: the whole transcript against the sources' captions looped the same way (Whisper's English "
            "normaliser); longest cue s: the longest cue (segment) it wrote.\n"
            "- × columns: wall s / the reference's wall s (> 1: slower than the reference).\n"
            f"- A '>' value hit the {args.timeout:g} s per-contender limit and was killed.\n")
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
