"""`whisper-tui <subcommand>`: a thin layer over the core modules.

Progress goes to stderr as rich bars, results (paths, reports) to stdout, errors as one line on
stderr with exit code 2 (bad usage or input) or 1 (a job that failed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError, WhisperTuiError


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
    """Renders core events on stderr: a rich progress bar per stage, logs as dim lines."""

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
            self.console.print(f"[dim]{event.message}[/dim]", highlight=False)

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
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, subcommand in SUBCOMMANDS.items():
        subcommand.add_arguments(sub.add_parser(name, help=subcommand.help))
    return parser


def _run_job(job: Callable[[EventPrinter], object]) -> object:
    """Run a job with a progress printer that is always closed, even on errors."""
    printer = EventPrinter()
    try:
        return job(printer)
    finally:
        printer.close()


# ---------------------------------------------------------------------------- fetch


def _fetch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="URL_OR_FILE")
    p.add_argument("-o", "--output", metavar="DIR", default=".", type=Path)


def _fetch(args: argparse.Namespace) -> int:
    from core.fetch import fetch

    result = _run_job(lambda printer: fetch(args.source, args.output, printer))
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


def _transcribe(args: argparse.Namespace) -> int:
    from core import captions as caps
    from core.fetch import fetch, is_url
    from core.transcribe import TranscribeOptions, transcribe_file
    from core.vocabulary import load_keywords

    formats = caps.parse_formats(args.format)
    keywords = tuple(k.term for k in load_keywords(args.keywords)) if args.keywords else ()
    options = TranscribeOptions(engine=args.engine, language=args.language, task=args.task,
                                beam_size=args.beam_size, keywords=keywords,
                                word_timestamps=not args.no_words, device=args.device)

    def job(printer: EventPrinter):
        source = Path(fetch(args.source, args.output, printer).path) if is_url(args.source) else Path(args.source)
        return source, transcribe_file(source, args.model, options, printer)

    source, captions = _run_job(job)
    for fmt in formats:
        print(caps.write(captions, args.output / f"{source.stem}.{fmt}", fmt))
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
    if args.audio is not None:
        from core.audio import duration_seconds

        duration_ms = round(duration_seconds(args.audio) * 1000)
    extra = []
    if args.keywords is not None:
        from core.vocabulary import keyword_findings, load_keywords

        extra = keyword_findings(captions, load_keywords(args.keywords))
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
    p.add_argument("--audio", type=Path, required=True, help="the training recording")
    p.add_argument("--captions", type=Path, required=True, help="its corrected captions (.vtt, .srt or .json)")
    p.add_argument("--val-audio", type=Path, default=None, help="a separate validation recording")
    p.add_argument("--val-captions", type=Path, default=None, help="the validation recording's captions")
    p.add_argument("--holdout", type=float, default=0.15,
                   help="share of cues held out for validation when there is no --val-audio (default 0.15)")
    p.add_argument("--views", action="store_true",
                   help="more, varied training rows: one per cue plus packs of up to 10, 20 and 30 s")
    p.add_argument("-o", "--output", metavar="DATASET_DIR", type=Path, required=True)
    p.add_argument("--push-to-hub", metavar="REPO_ID", default=None,
                   help="also upload to this (private) Hub dataset repo; token from HF_TOKEN or `hf auth login`")


def _prepare(args: argparse.Namespace) -> int:
    from core.dataset import PrepareOptions, Recording, prepare, push_to_hub

    if (args.val_audio is None) != (args.val_captions is None):
        raise InputError("--val-audio and --val-captions go together")
    validation = Recording(args.val_audio, args.val_captions) if args.val_audio else None
    options = PrepareOptions(holdout=args.holdout, views=args.views)
    result = _run_job(lambda printer: prepare(Recording(args.audio, args.captions), args.output, validation,
                                              options, printer))
    print(result.path)
    print(result.summary())
    if args.push_to_hub:
        print(push_to_hub(result.path, args.push_to_hub))
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "fetch": Subcommand("download a URL (yt-dlp) or copy a local file into a folder", _fetch_arguments, _fetch),
    "transcribe": Subcommand("draft timestamped captions with Whisper", _transcribe_arguments, _transcribe),
    "prepare": Subcommand("cut recordings + captions into a train/validation dataset", _prepare_arguments,
                          _prepare),
    "check": Subcommand("validate captions: timing, overlaps, reading speed, parse problems", _check_arguments,
                        _check),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in argv or "--verbose" in argv or bool(os.environ.get("WHISPER_TUI_DEBUG"))
    if not verbose:
        _quiet_libraries()
    try:
        if not argv or (argv[0] not in SUBCOMMANDS and not argv[0].startswith("-")):
            return _open_tui(argv)
        args = build_parser().parse_args(argv)
        if args.command is None:
            return _open_tui([])
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


def _open_tui(argv: list[str]) -> int:
    try:
        from tui.app import run_app
    except ModuleNotFoundError as err:
        if err.name not in ("tui.app", "tui"):
            raise
        raise InputError("the TUI is not built yet; use a subcommand (whisper-tui --help)") from None
    return run_app(Path(argv[0]) if argv else None)


if __name__ == "__main__":
    raise SystemExit(main())
