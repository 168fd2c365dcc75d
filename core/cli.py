"""`whisper-tui <subcommand>`: a thin layer over the core modules.

Progress goes to stderr as rich bars, results (paths, reports) to stdout, errors as one line on
stderr with exit code 2 (bad usage or input) or 1 (a job that failed).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError, WhisperTuiError
from core.events import Job


def _quiet_libraries() -> None:
    """Library progress bars and advice would bury our own one-line messages (env vars: no imports)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("transformers", "datasets", "huggingface_hub", "faster_whisper", "peft", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)


class EventPrinter:
    """Renders core events on stderr: a rich progress bar per stage, logs as dim lines, warnings as
    `warning: …` lines in yellow."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.quiet = quiet
        self._progress = None
        self._tasks: dict[str, int] = {}

    def __call__(self, event) -> None:
        from core.events import Log, Progress

        if self.quiet:
            return
        if isinstance(event, Progress):
            self._update(event)
        elif isinstance(event, Log):
            from rich.markup import escape

            # one line however long (soft_wrap: a pipe is 80 columns to rich); a warning must not look dim
            if event.level == "warning":
                self.console.print(f"[bold yellow]warning:[/bold yellow] {escape(event.message)}", highlight=False,
                                   soft_wrap=True)
            else:
                self.console.print(f"[dim]{escape(event.message)}[/dim]", highlight=False, soft_wrap=True)

    def _update(self, event) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if self._progress is None:
            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                      TextColumn("{task.fields[amount]}"), TimeElapsedColumn(),
                                      TimeRemainingColumn(), console=self.console, transient=False)
            self._progress.start()
        if event.stage not in self._tasks:
            self._tasks[event.stage] = self._progress.add_task(event.stage, total=event.total, amount="")
        if event.unit == "B":
            amount = DownloadColumn().render(type("T", (), {"completed": event.done, "total": event.total})())
        else:
            amount = f"{event.done:.0f}/{event.total:.0f} {event.unit}" if event.total else f"{event.done:.0f}"
        self._progress.update(self._tasks[event.stage], completed=event.done, total=event.total,
                              amount=str(amount))

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: how it parses its arguments and the function that runs it (returns exit code)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2, like every other error."""

    def error(self, message: str):  # type: ignore[override]
        raise InputError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="whisper-tui", description="Teach Whisper new words, by keyboard. "
                     "Without a subcommand, opens the workbench on WORKSPACE.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks and library logs")
    parser.add_argument("--sample", action="store_true", help="open the bundled sample project in the workbench")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, subcommand in SUBCOMMANDS.items():
        subcommand.add_arguments(sub.add_parser(name, help=subcommand.help))
    return parser


def _run_job(work: Callable[[Job], object]) -> object:
    """Run `work` as a job whose events a progress printer shows (closed even on errors). Ctrl-C is Python's
    KeyboardInterrupt here (main: exit 130); only `train` turns it into cancelling its job."""
    printer = EventPrinter()
    try:
        return work(Job(printer))
    finally:
        printer.close()


# ---------------------------------------------------------------------------- fetch


def _fetch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="URL_OR_FILE")
    p.add_argument("-o", "--output", metavar="DIR", default=".", type=Path)


def _fetch(args: argparse.Namespace) -> int:
    from core.fetch import fetch

    result = _run_job(lambda job: fetch(args.source, args.output, job))
    print(result.path)
    return 0


# ---------------------------------------------------------------------------- transcribe


def _transcribe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="AUDIO_OR_URL")
    p.add_argument("-m", "--model", default=None, help="tiny.en (default), base, a directory or a Hub id")
    p.add_argument("-o", "--output", metavar="DIR", default=".", type=Path)
    p.add_argument("-f", "--format", default="vtt", help="vtt,srt,txt,json or all (default vtt)")
    p.add_argument("--language", default=None, help="language code for multilingual models (default: detect)")
    p.add_argument("--task", default="transcribe", choices=["transcribe", "translate"])
    p.add_argument("--engine", default="auto", choices=["auto", "ctranslate2", "transformers"])
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--keywords", type=Path, default=None, help="keywords.txt to bias decoding (prompt)")
    p.add_argument("--no-words", action="store_true", help="skip word timings")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--batch-size", type=int, default=0, metavar="N",
                   help="0 (default): recordings of 10 minutes or more are decoded in speech windows found by VAD, 8 "
                        "at a time (faster-whisper's batched pipeline, ctranslate2 engine; cues cut at word boundaries "
                        "to ≤ 7 s), shorter ones window after window; 1: always window after window; N > 1: always "
                        "batched, N at a time")


def _transcribe(args: argparse.Namespace) -> int:
    from core import captions as caps
    from core.audio import probe
    from core.fetch import fetch, is_url
    from core.files import check_writable_dir
    from core.transcribe import TranscribeOptions, transcribe_file
    from core.vocabulary import load_keywords

    formats = caps.parse_formats(args.format)
    keywords = tuple(k.term for k in load_keywords(args.keywords)) if args.keywords else ()
    options = TranscribeOptions(engine=args.engine, language=args.language, task=args.task,
                                beam_size=args.beam_size, keywords=keywords,
                                word_timestamps=not args.no_words, device=args.device,
                                batch_size=args.batch_size)

    check_writable_dir(args.output)  # before the model loads and the audio decodes, not after

    def work(job: Job):
        if is_url(args.source):
            source = Path(fetch(args.source, args.output, job).path)
        else:
            source = probe(Path(args.source)).path  # not audio: say so before loading a model
        return source, transcribe_file(source, args.model, options, job)

    source, captions = _run_job(work)
    for fmt in formats:
        print(caps.write(captions, args.output / f"{source.stem}.{fmt}", fmt))
    return 0


# ---------------------------------------------------------------------------- script


def _script_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("keywords", metavar="KEYWORDS", type=Path, help="keywords.txt: one term per line")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", metavar="SCRIPT", type=Path, help="where the new script goes (.txt)")
    out.add_argument("--check", metavar="SCRIPT", type=Path,
                     help="report the coverage of a script you wrote or edited, writing nothing")
    p.add_argument("--min", dest="min_occurrences", type=int, default=4, metavar="N",
                   help="times each keyword is read (default 4)")
    p.add_argument("--seed", type=int, default=0, help="another seed, another script")
    p.add_argument("--templates", type=Path, default=None,
                   help="your own sentences ([keyword] lines with {k}, [plain] lines), added to the shipped ones")


def _script(args: argparse.Namespace) -> int:
    from core.reading_script import ScriptOptions, coverage, coverage_table, make_script, read_script, write_script
    from core.vocabulary import load_keywords

    keywords = load_keywords(args.keywords)
    options = ScriptOptions(min_occurrences=args.min_occurrences, seed=args.seed, extra_templates=args.templates)
    if args.check is not None:
        sentences = read_script(args.check)
    else:
        sentences = make_script(keywords, options)
        print(write_script(args.output, sentences), file=sys.stderr)
    print(coverage_table(coverage(sentences, keywords, options)), end="")
    return 0


# ---------------------------------------------------------------------------- align


def _align_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", metavar="AUDIO", type=Path)
    p.add_argument("script", metavar="SCRIPT", type=Path,
                   help="the text that was read: .txt (one cue per line) or captions (.vtt/.srt/.json: re-timed)")
    p.add_argument("-o", "--output", metavar="CAPTIONS", type=Path, required=True,
                   help="where the timed captions go (.vtt, .srt, .json or .txt)")
    p.add_argument("-m", "--model", default=None, help="tiny.en (default), base, a directory or a Hub id")
    p.add_argument("--language", default=None, help="language code for multilingual models (default: detect)")
    p.add_argument("--keywords", type=Path, default=None,
                   help="keywords.txt: words the draft may mishear, not counted when judging a line as changed")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def _align(args: argparse.Namespace) -> int:
    from core import captions as caps
    from core.align import AlignOptions, align_file
    from core.audio import probe
    from core.events import Log
    from core.files import check_writable_dir
    from core.vocabulary import load_keywords
    from core.workspace import draft_words_path

    caps.parse_formats(args.output.suffix.lstrip(".").lower() or "?")  # a bad extension fails before any work
    check_writable_dir(args.output.parent)
    keywords = tuple(k.term for k in load_keywords(args.keywords)) if args.keywords else ()
    options = AlignOptions(language=args.language, keywords=keywords, device=args.device)

    def work(job: Job):
        result = align_file(probe(args.audio).path, args.script, args.model, options, job)
        for deviation in result.deviations:
            job.emit(Log(deviation.describe(), level="warning"))
        return result

    result = _run_job(work)
    # the words and their probabilities (a VTT cannot hold them): the editor flags the unsure ones
    caps.write(result.captions, draft_words_path(args.output), "json")
    print(caps.write(result.captions, args.output))
    return 0


# ---------------------------------------------------------------------------- check


def _check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("captions", metavar="CAPTIONS", type=Path, help="a .vtt, .srt or whisper-tui .json file")
    p.add_argument("--audio", type=Path, default=None, help="the recording: flags cues past its end")
    p.add_argument("--keywords", type=Path, default=None,
                   help="keywords.txt: also warn about spans that look like mis-heard keywords")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")


def _check(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from core import captions as caps

    captions = caps.read(args.captions)
    duration_ms = None
    extra = []
    if args.audio is not None:
        from core.audio import duration_seconds, probe, size_mismatch

        info = probe(args.audio)  # the header only: a 3-hour file takes as long as a short one
        duration_s = duration_seconds(args.audio, info)
        cut = size_mismatch(info)
        if cut is not None:  # the header's length is not in the file: check the cues against what its bytes hold
            duration_s = cut.actual_s
            extra.append(caps.Finding("warning", "truncated-audio", cut.message()))
        duration_ms = round(duration_s * 1000)
    if args.keywords is not None:
        from core.vocabulary import keyword_findings, load_keywords

        extra += keyword_findings(captions, load_keywords(args.keywords))
    findings = caps.validate(captions, audio_duration_ms=duration_ms, extra=extra)
    errors = sum(f.severity == "error" for f in findings)
    if args.json:
        print(json.dumps({"path": str(args.captions), "cues": len(captions), "errors": errors,
                          "warnings": len(findings) - errors, "findings": [asdict(f) for f in findings]},
                         ensure_ascii=False, indent=2))
    else:
        for finding in findings:
            print(finding.format(args.captions))
        print(f"{args.captions}: {caps.summarize(findings, len(captions))}")
    return 1 if errors else 0


# ---------------------------------------------------------------------------- prepare


def _prepare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audio", type=Path, required=True, action="append",
                   help="a training recording (repeat with --captions for several, e.g. plain speech to mix in)")
    p.add_argument("--captions", type=Path, required=True, action="append",
                   help="its corrected captions (.vtt, .srt or .json), in the same order as --audio")
    p.add_argument("--val-audio", type=Path, default=None, help="a separate validation recording")
    p.add_argument("--val-captions", type=Path, default=None, help="the validation recording's captions")
    p.add_argument("--holdout", type=float, default=0.15,
                   help="share of cues held out for validation when there is no --val-audio (default 0.15)")
    from core.dataset import FORMATS, PrepareOptions

    p.add_argument("--views", action=argparse.BooleanOptionalAction, default=PrepareOptions.views,
                   help="varied training rows: each cue alone plus packs of up to 10, 20 and 30 s (the default, "
                        "what train's defaults are measured on); --no-views packs each recording once")
    p.add_argument("-o", "--output", metavar="DATASET_DIR", type=Path, required=True)
    p.add_argument("--format", choices=FORMATS, default=PrepareOptions.format,
                   help="arrow: a saved DatasetDict (load_from_disk); parquet: shards named as in a Hub dataset repo "
                        "(DATASET_DIR/data/train-00000-of-0000N.parquet), for hours of audio (default arrow)")
    p.add_argument("--shard-mb", type=int, default=PrepareOptions.shard_mb,
                   help="start a new shard after this many MB of audio (default %(default)s)")
    p.add_argument("--push-to-hub", metavar="REPO_ID", default=None,
                   help="also upload to this (private) Hub dataset repo; token from HF_TOKEN or `hf auth login`")


def _prepare(args: argparse.Namespace) -> int:
    from core.dataset import PrepareOptions, Recording, prepare, push_to_hub

    if (args.val_audio is None) != (args.val_captions is None):
        raise InputError("--val-audio and --val-captions go together")
    validation = Recording(args.val_audio, args.val_captions) if args.val_audio else None
    options = PrepareOptions(holdout=args.holdout, views=args.views, format=args.format, shard_mb=args.shard_mb)
    if len(args.audio) != len(args.captions):
        raise InputError("give one --captions for each --audio")
    recordings = [Recording(a, c) for a, c in zip(args.audio, args.captions, strict=True)]
    result = _run_job(lambda job: prepare(recordings, args.output, validation, options, job))
    print(result.path)
    print(result.summary())
    if args.push_to_hub:
        print(push_to_hub(result.path, args.push_to_hub))
    return 0


# ---------------------------------------------------------------------------- evaluate


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", required=True,
                   help="the model to evaluate: a train run directory (its merged/), a model directory, tiny.en, "
                        "base or a Hub id")
    p.add_argument("--audio", type=Path, required=True, help="the evaluation recording")
    p.add_argument("--captions", type=Path, required=True, help="its reference captions (.vtt, .srt or .json)")
    p.add_argument("--keywords", type=Path, default=None, help="keywords.txt: recall per keyword, and the prompted row")
    p.add_argument("--baseline", default=None,
                   help="the model to compare with (default: the run's base model, else tiny.en)")
    p.add_argument("--control-audio", type=Path, action="append", default=[],
                   help="a recording the model should still get right (forgetting check); repeatable")
    p.add_argument("--control-captions", type=Path, action="append", default=[],
                   help="the captions of each --control-audio, in the same order")
    p.add_argument("--no-prompted", action="store_true", help="skip the baseline prompted with the keywords")
    p.add_argument("--longform", action=argparse.BooleanOptionalAction, default=True,
                   help="in cues mode, also transcribe the main recording whole (timestamps on) with the baseline and "
                        "the fine-tuned model, scored like the per-cue figure (default on)")
    p.add_argument("--mode", default="cues", choices=["cues", "longform"],
                   help="cues: decode each reference cue's clip (default); longform: transcribe whole recordings")
    p.add_argument("--engine", default="auto", choices=["auto", "ctranslate2", "transformers"],
                   help="transcription engine in longform mode")
    p.add_argument("--batch-size", type=int, default=8, help="clips decoded together in cues mode (default 8)")
    p.add_argument("--language", default=None, help="language code for multilingual models (default: detect)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("-o", "--output", metavar="OUT", type=Path, default=None,
                   help="report folder (default: RUN_DIR/evaluation for a run directory, else ./evaluation)")


def _evaluate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from core.evaluate import evaluate, resolve_run
    from core.files import check_writable_dir
    from core.report import first_sections, overall_table, write_report
    from core.runs import evaluation_dir
    from core.vocabulary import load_keywords

    if len(args.control_audio) != len(args.control_captions):
        raise InputError("give one --control-captions for each --control-audio")
    model, run_base = resolve_run(args.model)
    is_run = model != str(args.model)
    # a run's own report.json is train's: the evaluation goes beside it, not over it
    output = args.output or (evaluation_dir(args.model) if is_run else Path("evaluation"))
    check_writable_dir(output)  # before the models run, not after
    keywords = load_keywords(args.keywords) if args.keywords else []
    controls = list(zip(args.control_audio, args.control_captions, strict=True))
    report = _run_job(lambda job: evaluate(
        model, args.audio, args.captions, keywords, args.baseline or run_base, controls,
        prompted=not args.no_prompted, mode=args.mode, job=job, engine=args.engine, longform=args.longform,
        batch_size=args.batch_size, device=args.device, language=args.language))
    paths = write_report(report, output)
    console = Console(highlight=False)
    if not console.is_terminal:  # piped: no terminal width to respect, keep each row on one line
        console.width = 240
    overall = (f"{report.main.name}: {report.mode} mode, {len(report.keywords)} keywords", overall_table(report))
    for title, (headers, rows) in [*first_sections(report), overall]:
        table = Table(*headers, title=title)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for path in paths:
        print(path)
    return 0


# ---------------------------------------------------------------------------- train / export


def _train_arguments(p: argparse.ArgumentParser) -> None:
    from core import train_config

    train_config.add_arguments(p)  # one option per TrainConfig field, generated from the field
    p.add_argument("--events", type=Path, default=None, metavar="FILE",
                   help="also write every event as a JSON line to FILE (how the TUI follows a run)")


class TrainPrinter(EventPrinter):
    """Progress bar for steps plus one printed line per log and evaluation row."""

    def __call__(self, event) -> None:
        from core.events import Metrics

        if isinstance(event, Metrics):
            v = event.values
            if event.kind == "eval":
                recall, drift = v.get("keyword_recall"), v.get("drift")
                guard = "" if drift is None else f"  drift {drift:.1%}" + (
                    "" if v.get("within_guard", 1.0) else " [yellow](over the guard: not chosen)[/yellow]")
                self.console.print(
                    f"[bold]eval[/bold] step {event.step:>5}  loss {v.get('loss', 0):.3f}  WER {v.get('wer', 0):.1%}  "
                    f"CER {v.get('cer', 0):.1%}  keyword recall {'n/a' if recall is None else f'{recall:.1%}'}{guard}",
                    highlight=False)
            else:
                self.console.print(f"[dim]train step {event.step:>5}  epoch {event.epoch:5.2f}  "
                                   f"loss {v.get('loss', 0):.4f}  lr {v.get('learning_rate', 0):.2e}[/dim]",
                                   highlight=False)
            return
        super().__call__(event)


class JsonEventWriter(TrainPrinter):
    """Prints like TrainPrinter and appends every event as one JSON line to a file, flushed at once, so
    a reader (the TUI, possibly restarted) can follow the run without being its parent."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def __call__(self, event) -> None:
        from core.events import to_json

        self.handle.write(to_json(event) + "\n")
        self.handle.flush()
        super().__call__(event)

    def close(self) -> None:
        self.handle.close()
        super().close()


def _train(args: argparse.Namespace) -> int:
    from core import train_config
    from core.files import check_writable_dir
    from core.runs import RUN_CONFIG
    from core.train import train
    from core.training_data import kind_of

    # Ctrl-C / the TUI's Stop is how a run is asked to checkpoint and stop; a process started in the background of a
    # shell without job control (a script's `cmd &`, `nohup … &`) inherits SIGINT ignored, and would never hear it
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    config = train_config.from_args(args)
    check_writable_dir(config.output)  # both before torch and the model load, and before RUN_DIR is made
    kind_of(config.dataset)
    printer = JsonEventWriter(args.events) if args.events else TrainPrinter()
    try:
        result = train(config, Job(printer))  # Ctrl-C cancels this job: a checkpoint, then exit 130
    finally:
        printer.close()
    if result.interrupted:
        settings = Path(result.run_dir) / RUN_CONFIG
        print(f"stopped at step {result.steps}; continue with: whisper-tui train --config {settings} --resume",
              file=sys.stderr)
        return 130
    base, best = result.baseline, result.best
    if base and best:
        print(f"baseline: WER {base.get('wer', 0):.1%}, keyword recall {base.get('keyword_recall', 0):.1%}; "
              f"best (step {best.get('step')}): WER {best.get('wer', 0):.1%}, "
              f"keyword recall {best.get('keyword_recall', 0):.1%}", file=sys.stderr)
    print(result.merged)
    return 0


def _export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path)
    p.add_argument("--ct2", action="store_true", required=True, help="CTranslate2 model for faster-whisper")
    p.add_argument("--quantization", default=None, help="e.g. int8, int8_float16, float16 (default: as saved)")


def _export(args: argparse.Namespace) -> int:
    from core.models import check_hf_dir
    from core.runs import MERGED, finished
    from core.train import export_ct2

    if finished(args.run_dir):  # a half-written merged/ is bad input, not a failed export
        check_hf_dir(args.run_dir / MERGED)
    print(_run_job(lambda job: export_ct2(args.run_dir, args.quantization)))
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "fetch": Subcommand("download a URL (yt-dlp) or copy a local file into a folder", _fetch_arguments, _fetch),
    "transcribe": Subcommand("draft timestamped captions with Whisper", _transcribe_arguments, _transcribe),
    "script": Subcommand("write a reading script: every keyword several times, in varied sentences, with plain ones",
                         _script_arguments, _script),
    "align": Subcommand("time a script that was read aloud: one cue per line, skipped or repeated lines reported",
                        _align_arguments, _align),
    "prepare": Subcommand("cut recordings + captions into a train/validation dataset", _prepare_arguments,
                          _prepare),
    "check": Subcommand("validate captions: timing, overlaps, reading speed, parse problems", _check_arguments,
                        _check),
    "train": Subcommand("LoRA fine-tune on a prepared dataset; best checkpoint by keyword recall, then WER",
                        _train_arguments, _train),
    "export": Subcommand("export a run's merged model to CTranslate2 for faster-whisper", _export_arguments,
                         _export),
    "evaluate": Subcommand("score models on reference captions: WER, keyword recall, forgetting", _evaluate_arguments,
                           _evaluate),
}


def _no_workbench(workspace: Path | None, sample: bool) -> int:
    raise InputError("the workbench opens with the `whisper-tui` command; `python -m core.cli` runs subcommands")


def _near_subcommand(word: str) -> str | None:
    """The subcommand `word` is a typo of (at most two letters off, a swap counting as one), if any."""
    from rapidfuzz.distance import OSA

    distance, name = min((OSA.distance(word.lower(), name), name) for name in SUBCOMMANDS)
    return name if distance <= 2 else None


def _workspace_word(argv: list[str]) -> tuple[Path | None, bool] | None:
    """(workspace, sample) when the command line asks for the workbench rather than a subcommand, else None.

    The first word that is not an option is a subcommand or a workspace folder. A word that is neither an
    existing folder nor a plain new name (a near-miss of a subcommand, or one followed by more arguments)
    is a mistyped command: an error, not a new folder named after the typo."""
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return (None, "--sample" in argv) if all(a in ("-v", "--verbose", "--sample") for a in argv) else None
    word = words[0]
    if word in SUBCOMMANDS:
        return None
    path = Path(word).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{word} is a file, not a workspace folder (commands: {', '.join(SUBCOMMANDS)})")
    extra = [a for a in argv if a != word and a not in ("-v", "--verbose")]
    if not path.exists():
        plain = os.sep not in word and not word.startswith((".", "~"))
        near = _near_subcommand(word) if plain else None
        if near is not None:
            raise InputError(f"unknown command {word!r}: did you mean `whisper-tui {near}`? (to create a workspace "
                             f"folder by that name, write ./{word})")
        if extra:
            raise InputError(f"unknown command {word!r} (commands: {', '.join(SUBCOMMANDS)})")
    elif extra:
        raise InputError(f"unexpected arguments after the workspace folder {word}: {' '.join(extra)}")
    return path, False


def main(argv: Sequence[str] | None = None,
         workbench: Callable[[Path | None, bool], int] = _no_workbench) -> int:
    """Run a subcommand; without one, `workbench(workspace, sample)` opens the TUI (workspace None: the current
    folder). core never imports the TUI: the `whisper-tui` entry point (tui/launch.py) passes it in."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in argv or "--verbose" in argv or bool(os.environ.get("WHISPER_TUI_DEBUG"))
    if not verbose:
        _quiet_libraries()
    try:
        if "-h" not in argv and "--help" not in argv:
            target = _workspace_word(argv)
            if target is not None:
                return workbench(*target)
        args = build_parser().parse_args(argv)
        if args.command is None:
            return workbench(None, args.sample)
        return SUBCOMMANDS[args.command].run(args)
    except WhisperTuiError as err:
        print(f"whisper-tui: error: {_one_line(str(err))}", file=sys.stderr)
        if verbose:
            raise
        return err.exit_code
    except KeyboardInterrupt:
        print("whisper-tui: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # the last net: never a traceback for the user unless asked
        if verbose:
            raise
        print(f"whisper-tui: error: unexpected {type(err).__name__}: {_one_line(str(err))} "
              "(run with -v for details)", file=sys.stderr)
        return 1


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "failed"


if __name__ == "__main__":
    raise SystemExit(main())
