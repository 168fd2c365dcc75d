"""Every benchmark in one command (`make bench`): regenerates bench/RESULTS.md within 30 minutes on 2 cores.

The benches run one after the other, each in its own process with its own time limit (and never past the
overall budget), so one that fails or hangs costs its own slot only: the rest still run, its old section is
marked as not refreshed, and the summary says what happened. Each bench writes its own `## …` section; this
script then writes `## Summary` at the top: one row per headline figure (metric, ratio, target, met?, the
command that measured it), read back from the tables each bench prints.

Sizes are chosen to fit the budget (on an idle 2-core machine, roughly: prepare 1.5 min, editor 1, transcribe
4, train 9, memory 10.5): the transcription bench compares ours with faster-whisper and the transformers
pipeline on 2 minutes of audio, 3 minutes at most each (its full 6-contender, 5-minute run alone takes ~30
minutes: `python bench/transcribe_bench.py`), and prepare takes medians of 3.

Usage: python bench/run_all.py [--quick] [--only NAME ...] [--budget-min 29] [--no-write]
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from common import (
    HEADLINE_HEADER,
    ROOT,
    WORK,
    Headline,
    ProcessStats,
    load_average,
    machine_summary,
    measure_process,
    met_text,
    read_section,
    write_section,
)

LOGS = WORK / "run_all"
STALE = "**Last `make bench`:"  # starts the note on a failed bench's section
# Targets this project set itself; a figure that has none is shown for the record and judged by nothing.
PREPARE_TARGET = "≤ 1.20×"  # prepare ÷ plain ffmpeg decode of the same audio (issue 6)
VS_FASTER_WHISPER = "≤ 1.05×"  # ours ÷ faster-whisper itself, wall time (issue 6)
VS_PIPELINE = "≤ 0.33×"  # ours ÷ the transformers pipeline, wall time (issue 6)

Table = list[dict[str, str]]


def markdown_tables(text: str) -> list[Table]:
    """Every Markdown table in `text`, as rows of {header: cell}."""
    tables, lines = [], text.splitlines()
    for i in range(len(lines) - 1):
        head, rule = lines[i].strip(), lines[i + 1].strip()
        if head.startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", rule) and (i == 0 or not
                                                                                      lines[i - 1].startswith("|")):
            names = _cells(head)
            rows = []
            for line in lines[i + 2:]:
                if not line.strip().startswith("|"):
                    break
                rows.append(dict(zip(names, _cells(line), strict=False)))
            tables.append(rows)
    return tables


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table_with(tables: list[Table], column: str) -> Table:
    return next((t for t in tables if t and column in t[0]), [])


# ---------------------------------------------------------------------------- what each bench is judged by


def own_headlines(tables: list[Table]) -> list[Headline]:
    """Benches written with run_all in mind print a headline table (common.headline_table)."""
    names = _cells(HEADLINE_HEADER[0])
    return [Headline(row[names[0]], row[names[1]], row[names[2]]) for row in _table_with(tables, names[0])]


def prepare_headlines(tables: list[Table]) -> list[Headline]:
    """prepare_bench prints 'prepare ÷ decode (null; pipe)' as '1.69×; 1.20×': judged against the pipe."""
    rows = _table_with(tables, "prepare ÷ decode (null; pipe)")
    out = []
    for row in rows:
        null, pipe = (part.strip() for part in row["prepare ÷ decode (null; pipe)"].split(";"))
        out.append(Headline(f"prepare {row['audio']} ÷ ffmpeg decode into a pipe (into /dev/null: {null})", pipe,
                            PREPARE_TARGET))
    return out


def editor_headlines(tables: list[Table]) -> list[Headline]:
    """editor_bench's table already has a target per row (times, not ratios)."""
    return [Headline(f"editor: {row['what']}", row["wall"], row["target"]) for row in _table_with(tables, "what")]


def transcribe_headlines(tables: list[Table]) -> list[Headline]:
    """Our default against faster-whisper and against the transformers pipeline."""
    row = next((r for r in _table_with(tables, "contender") if r["contender"] == "ours, default"), None)
    if row is None:
        return []
    return [Headline("transcribe: ours (default) ÷ faster-whisper direct, wall", row["× faster-whisper direct"],
                     VS_FASTER_WHISPER),
            Headline("transcribe: ours (default) ÷ transformers pipeline, wall", row["× transformers pipeline"],
                     VS_PIPELINE)]


@dataclass(frozen=True)
class Bench:
    """One bench script: its arguments at full and at smoke-test size, its time limit, its section."""

    name: str
    script: str
    args: tuple[str, ...]
    quick_args: tuple[str, ...]
    limit_s: float
    section: str
    headlines: Callable[[list[Table]], list[Headline]]

    def command(self, quick: bool, write: bool) -> list[str]:
        return [sys.executable, str(ROOT / "bench" / self.script), *(self.quick_args if quick else self.args),
                *(() if write else ("--no-write",))]

    def shown(self, quick: bool) -> str:
        """The command as a reader would type it from the repository root."""
        return shlex.join(["python", f"bench/{self.script}", *(self.quick_args if quick else self.args)])


TRANSCRIBE_CONTENDERS = ("--only", "faster-whisper direct", "ours, default", "transformers pipeline")
BENCHES = (
    Bench("prepare", "prepare_bench.py", ("--repeat", "3"), ("--hours", "0.05", "--repeat", "1"), 300,
          "## Prepare throughput", prepare_headlines),
    Bench("editor", "editor_bench.py", (), ("--presses", "5"), 240, "## Editor", editor_headlines),
    Bench("transcribe", "transcribe_bench.py", ("--seconds", "120", "--timeout", "180", *TRANSCRIBE_CONTENDERS),
          ("--seconds", "15", "--timeout", "120", *TRANSCRIBE_CONTENDERS[:3]), 360,
          "## Transcription (tiny.en, CPU)", transcribe_headlines),
    # the inner timeouts sit below the limits, so a slow run still writes its section with a '>' figure
    Bench("train", "train_bench.py", ("--timeout", "600"), ("--quick",), 900,
          "## Fine-tune time to target (tiny.en, CPU)", own_headlines),
    Bench("memory", "memory_bench.py", ("--timeout", "660"), ("--quick",), 780,
          "## Transcription memory vs length (tiny.en, CPU)", own_headlines),
)


@dataclass(frozen=True)
class Outcome:
    """How one bench went."""

    bench: Bench
    stats: ProcessStats | None  # None: skipped, the budget was spent
    headlines: list[Headline]
    limit_s: float

    @property
    def ok(self) -> bool:
        return self.stats is not None and self.stats.returncode == 0

    def state(self) -> str:
        if self.stats is None:
            return "skipped: the overall time budget was spent"
        if self.stats.timed_out:
            return f"timed out after {self.stats.wall_s:.0f} s (limit {self.limit_s:.0f} s)"
        if self.stats.returncode:
            return f"failed (exit {self.stats.returncode}) after {self.stats.wall_s:.0f} s"
        return f"ok in {self.stats.wall_s:.0f} s"


def run_bench(bench: Bench, quick: bool, write: bool, limit_s: float) -> Outcome:
    """Run one bench in its own process; its stdout (tables) and stderr go to bench/work/run_all/NAME.*."""
    LOGS.mkdir(parents=True, exist_ok=True)
    out, err = LOGS / f"{bench.name}.out", LOGS / f"{bench.name}.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        stats = measure_process(bench.command(quick, write), timeout_s=limit_s, poll_s=0.5, stdout=stdout,
                                stderr=stderr)
    headlines = bench.headlines(markdown_tables(out.read_text(errors="replace")))
    return Outcome(bench, stats, headlines, limit_s)


def mark_failure(outcome: Outcome, before: str | None) -> None:
    """Say at the top of a failed bench's section what happened: an old section was not refreshed, a new
    one (the bench wrote it before failing) may miss figures."""
    body = read_section(outcome.bench.section)
    if body is None:
        return
    kept = "\n".join(line for line in body.splitlines() if not line.startswith(STALE))
    what = ("the figures below are from an earlier run" if body == before else
            "the bench wrote this section but did not finish cleanly: figures may be missing")
    write_section(outcome.bench.section, f"{STALE} {outcome.state()}; {what}.**\n{kept}")


def summary(outcomes: list[Outcome], quick: bool, total_s: float, load_start: str, command: str) -> str:
    """The ## Summary body: machine, total time, one row per headline (or per bench that gave none)."""
    lines = [f"Machine: {machine_summary()}; load average {load_start} at start, {load_average()} at end.",
             f"Command: `{command}` — {len(outcomes)} benches one after the other, {total_s / 60:.1f} min in all "
             "(wall time, start to finish). Each bench's own section below has the details and its exact command.",
             "", "| metric | ratio | target | met? | command |", "|---|---|---|---|---|"]
    for o in outcomes:
        shown = f"`{o.bench.shown(quick)}`"
        if not o.ok:
            lines.append(f"| {o.bench.name}: {o.state()} | — | — | n/a | {shown} |")
        for h in o.headlines:
            lines.append(f"| {h.metric} | {h.ratio} | {h.target} | {met_text(h.met)} | {shown} |")
        if o.ok and not o.headlines:
            lines.append(f"| {o.bench.name}: no headline figure found in its output | — | — | n/a | {shown} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, nothing written: a smoke test")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[b.name for b in BENCHES],
                        help="run only these benches")
    parser.add_argument("--budget-min", type=float, default=29.0,
                        help="overall limit in minutes; a bench gets at most what is left (default 29)")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone (implied by --quick)")
    args = parser.parse_args()
    write = not (args.quick or args.no_write)
    benches = [b for b in BENCHES if args.only is None or b.name in args.only]
    load_start, started = load_average(), time.perf_counter()
    deadline = started + args.budget_min * 60
    outcomes = []
    for bench in benches:
        left, before = deadline - time.perf_counter(), read_section(bench.section)
        if left < 30:
            outcomes.append(Outcome(bench, None, [], 0))
        else:
            print(f"{bench.name:<10} running: {bench.shown(args.quick)}", file=sys.stderr, flush=True)
            outcomes.append(run_bench(bench, args.quick, write, min(bench.limit_s, left)))
        o = outcomes[-1]
        figures = "; ".join(f"{h.metric}: {h.ratio} (target {h.target}: {met_text(h.met)})" for h in o.headlines)
        print(f"{bench.name:<10} {o.state()}" + (f" — {figures}" if figures else "")
              + ("" if o.ok or o.stats is None else f" — see {LOGS.relative_to(ROOT)}/{bench.name}.err"), flush=True)
        if write and not o.ok:
            mark_failure(o, before)
    total_s = time.perf_counter() - started
    command = shlex.join(["python", "bench/run_all.py", *sys.argv[1:]])
    text = summary(outcomes, args.quick, total_s, load_start, command)
    print(f"\n{text}")
    if write:
        write_section("## Summary", text, first=True)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
