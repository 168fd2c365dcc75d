"""Fine-tune time to target: our default recipe against a plain LoRA recipe on the same sample data.

Both start from the bundled sample (tiny.en, CPU) and are prepared the same way, by `whisper-tui prepare`:

  ours    train.mp3 + plain.mp3 (plain speech mixed in), `--views`; `train` with its defaults
  plain   train.mp3 alone, packed ≤ 30 s rows (no views); `train --lora-layers all --speeds 1.0
          --batch-size 3 --lr 1e-3 --other-weight 1 --distill 0 --epochs 20 --eval-every 4` (LoRA on q/v
          everywhere, the encoder trained too: what a fine-tuning tutorial does, given more than
          Seq2SeqTrainer's default 3 epochs so that it can reach the mark at all)

Both score keyword recall on sample_data/validation (`prepare --val-audio`), a voice neither trains on, and a
run is stopped once it reaches the mark.

Each `train` runs in its own process (`python -m core.cli train … --keywords sample_data/keywords.txt`), one
after the other, with its whole process tree's RSS sampled. Every evaluation the run makes (step 0, then
once per epoch) is a row of RUN_DIR/metrics.jsonl with a wall-clock stamp; time to target = from spawning
the process (interpreter, imports, model load, encoder cache and evaluations included) to the first
evaluation with keyword recall ≥ the target. A run that never gets there is reported with its best recall
and when it first reached it. Checkpoints are not re-evaluated on other recordings: that is
`whisper-tui evaluate`'s job, and too slow for a benchmark.

Usage: python bench/train_bench.py [--target 0.9] [--timeout 900] [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import (
    ROOT,
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

from core.runs import read_metrics
from core.train import TrainConfig

SECTION = "## Fine-tune time to target (tiny.en, CPU)"
PACKAGES = ("torch", "transformers", "peft")
KEYWORDS = "sample_data/keywords.txt"
TRAIN_PAIR = ("--audio", "sample_data/train.mp3", "--captions", "sample_data/train.vtt")
PLAIN_PAIR = ("--audio", "sample_data/plain.mp3", "--captions", "sample_data/plain.vtt")
# recall is scored on sample_data/validation: a voice neither recipe trains on
VALIDATION = ("--val-audio", "sample_data/validation.mp3", "--val-captions", "sample_data/validation.vtt")
QUICK = ("--max-steps", "2", "--eval-every", "1")  # a smoke test: two steps, an evaluation after each
BENCH_DIR = WORK / "train-bench"
RATIO_TARGET = "≤ 0.33×"  # ours ÷ plain, time to target (issue 6)


def _defaults() -> str:
    """Our recipe in words, read from TrainConfig so the note follows the defaults."""
    d = TrainConfig(dataset=Path("."), output=Path("."))
    return (f"LoRA r {d.lora_r} on {'+'.join(d.target_modules)} of the {d.lora_layers} (encoder cached), "
            f"speeds {'/'.join(f'{s:g}' for s in d.speeds)}, batch {d.batch_size}, lr {d.learning_rate:g}, "
            f"other-weight {d.other_weight:g}, distill {d.distill:g}, {d.epochs:g} epochs")


@dataclass(frozen=True)
class Recipe:
    """A dataset preparation and a training command line."""

    name: str
    prepare_args: tuple[str, ...]
    train_args: tuple[str, ...]
    note: str


RECIPES = (
    Recipe("ours (defaults)", (*TRAIN_PAIR, *PLAIN_PAIR, *VALIDATION, "--views"), (),
           "train + plain, views; " + _defaults()),
    Recipe("plain LoRA", (*TRAIN_PAIR, *VALIDATION, "--no-views"),
           ("--lora-layers", "all", "--speeds", "1.0", "--batch-size", "3", "--lr", "1e-3", "--other-weight", "1",
            "--distill", "0", "--epochs", "20", "--eval-every", "4"),
           "train only, packed rows; LoRA on q/v of encoder + decoder, no speed copies, batch 3, lr 1e-3, "
           "up to 20 epochs (Seq2SeqTrainer's default 3 peaks at recall 0.25–0.45), evaluated every 2 epochs"),
)


@dataclass(frozen=True)
class Run:
    """One recipe's training process and the evaluations it logged, timed from its spawn."""

    recipe: Recipe
    rows: dict[str, int]  # dataset rows per split
    stats: ProcessStats
    evals: list[tuple[float, int, float]]  # (seconds since spawn, step, keyword recall)
    steps: int
    stopped_at_target: bool = False

    @property
    def finished(self) -> bool:
        return self.stats.returncode == 0 or self.stopped_at_target

    def first_at(self, recall: float) -> tuple[float, int] | None:
        """(seconds, step) of the first evaluation with keyword recall ≥ `recall`."""
        return next(((t, step) for t, step, r in self.evals if r >= recall - 1e-9), None)

    @property
    def best(self) -> float | None:
        return max((r for _, _, r in self.evals), default=None)

    @property
    def baseline(self) -> float | None:
        return self.evals[0][2] if self.evals and self.evals[0][1] == 0 else None


def prepare_dataset(recipe: Recipe, out: Path) -> dict[str, int]:
    """`whisper-tui prepare` for the recipe (not timed: both recipes start from a built dataset)."""
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run(cli_command("prepare", *recipe.prepare_args, "-o", out), cwd=ROOT, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"prepare for {recipe.name} failed:\n{done.stderr[-2000:]}")
    splits = json.loads((out / "whisper_tui_dataset.json").read_text())["splits"]
    return {name: split["rows"] for name, split in splits.items()}


def train_command(recipe: Recipe, dataset: Path, run_dir: Path, extra: tuple[str, ...]) -> list[str]:
    return cli_command("train", "--dataset", dataset, "--keywords", KEYWORDS, "-o", run_dir, *recipe.train_args,
                       *extra)


class StopAtTarget:
    """measure_process's on_poll: once an evaluation in RUN_DIR/metrics.jsonl reaches the recall mark, SIGINT the
    run (it saves a checkpoint and exits 130): the rest of its epochs would measure nothing more."""

    def __init__(self, run_dir: Path, recall: float) -> None:
        self.metrics, self.recall, self.stopped, self._next = run_dir / "metrics.jsonl", recall, False, 0.0

    def __call__(self, pid: int) -> None:
        now = time.monotonic()
        if self.stopped or now < self._next:
            return
        self._next = now + 1.0
        try:
            lines = self.metrics.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        for line in lines:
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if row.get("kind") == "eval" and float(row.get("keyword_recall", -1)) >= self.recall - 1e-9:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGINT)
                    self.stopped = True
                    return


def run_recipe(recipe: Recipe, slug: str, timeout_s: float, extra: tuple[str, ...], target: float) -> Run:
    """Prepare, then train in a fresh process until it reaches the target (or ends, or times out); read its
    evaluations back from metrics.jsonl."""
    folder = BENCH_DIR / slug
    rows = prepare_dataset(recipe, folder / "dataset")
    run_dir = folder / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    log = folder / "train.log"
    stopper = StopAtTarget(run_dir, target)
    spawned = time.time()
    with open(log, "wb") as sink:
        stats = measure_process(train_command(recipe, folder / "dataset", run_dir, extra), timeout_s=timeout_s,
                                poll_s=0.2, stdout=sink, stderr=sink, on_poll=stopper)
    if stats.returncode not in (0, None) and not stopper.stopped:
        print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
    metrics = read_metrics(run_dir)
    evals = [(m["time"] - spawned, int(m["step"]), float(m["keyword_recall"])) for m in metrics
             if m.get("kind") == "eval" and "keyword_recall" in m]
    steps = max((int(m["step"]) for m in metrics), default=0)
    return Run(recipe, rows, stats, evals, steps, stopper.stopped)


# ---------------------------------------------------------------------------- report


def _total(run: Run) -> str:
    return f"{'> ' if run.stats.timed_out else ''}{run.stats.wall_s:.0f}"


def _reached(run: Run, recall: float) -> str:
    hit = run.first_at(recall)
    return f"{hit[0]:.0f} s, step {hit[1]}" if hit else f"not reached in {_total(run)} s"


def time_ratio(ours: Run, plain: Run, recall: float) -> str:
    """ours ÷ plain seconds to the first evaluation at `recall`; a run that never got there bounds the ratio
    by its total time (ours missing: ≥; plain missing: ≤)."""
    mine, theirs = ours.first_at(recall), plain.first_at(recall)
    if mine and theirs:
        return times(mine[0], theirs[0])
    if mine:
        return times(mine[0], plain.stats.wall_s, "≤")
    if theirs:
        return times(ours.stats.wall_s, theirs[0], "≥")
    return f"n/a (neither reached {recall:g})"


def _cut_short(ours: Run, plain: Run) -> str:
    """The bound a timed-out run puts on an ours ÷ plain ratio of totals ('' when neither or both)."""
    if ours.stats.timed_out != plain.stats.timed_out:
        return "≥" if ours.stats.timed_out else "≤"
    return ""


def _run_row(run: Run, target: float) -> str:
    best = run.best
    best_text = "—" if best is None else f"{best:.2f} ({_reached(run, best)})"
    if run.stopped_at_target:
        state = " (stopped at the mark)"
    else:
        state = "" if run.finished else " (timed out)" if run.stats.timed_out else f" (exit {run.stats.returncode})"
    baseline = "—" if run.baseline is None else f"{run.baseline:.2f}"
    cells = [run.recipe.name, run.recipe.note, f"{run.rows.get('train', 0)} / {run.rows.get('validation', 0)}",
             f"{run.steps}{state}", baseline, _reached(run, target), best_text, _total(run), f"{run.stats.cpu_s:.0f}",
             f"{run.stats.peak_rss_mb:.0f}"]
    return "| " + " | ".join(cells) + " |"


def report(ours: Run, plain: Run, target: float, ratio_target: str) -> tuple[str, list[Headline]]:
    """The runs table, the ours ÷ plain table and the headline."""
    runs = ["| recipe | settings | rows train / validation | steps | recall at step 0 "
            f"| time to recall ≥ {target:g} | best recall (first reached) | total wall s | CPU s | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|---|---|", _run_row(ours, target), _run_row(plain, target)]
    ratios = ["| figure | ours ÷ plain |", "|---|---|",
              f"| time to keyword recall ≥ {target:g} | {time_ratio(ours, plain, target)} |"]
    plain_best = plain.best
    if plain_best is not None and plain.baseline is not None and plain_best > plain.baseline:
        ratios.append(f"| time to the plain recipe's best recall ({plain_best:.2f}) "
                      f"| {time_ratio(ours, plain, plain_best)} |")
    else:
        ratios.append("| time to the plain recipe's best recall | n/a (it never improved on step 0) |")
    bound = _cut_short(ours, plain)
    ratios += [f"| total wall time | {times(ours.stats.wall_s, plain.stats.wall_s, bound)} |",
               f"| CPU time | {times(ours.stats.cpu_s, plain.stats.cpu_s, bound)} |",
               f"| peak RSS | {times(ours.stats.peak_rss_mb, plain.stats.peak_rss_mb)} |"]
    headlines = [Headline(f"fine-tune: time to keyword recall ≥ {target:g}, ours ÷ plain LoRA",
                          time_ratio(ours, plain, target), ratio_target)]
    if plain_best is not None and plain.baseline is not None and plain_best > plain.baseline:
        # the mark both recipes reach: judged even when the plain recipe never gets to `target`
        headlines.append(Headline(f"fine-tune: time to the plain recipe's best keyword recall ({plain_best:.2f}), "
                                  "ours ÷ plain LoRA", time_ratio(ours, plain, plain_best), ratio_target))
    return "\n".join(runs) + "\n\n" + "\n".join(ratios), headlines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.9, help="keyword recall to reach (default 0.9)")
    parser.add_argument("--timeout", type=float, default=900.0, help="limit per training run in seconds")
    parser.add_argument("--quick", action="store_true", help=f"smoke test: train {' '.join(QUICK)}")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    extra = QUICK if args.quick else ()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    load_start, started = load_average(), time.perf_counter()
    runs = []
    for recipe, slug in zip(RECIPES, ("ours", "plain"), strict=True):
        print(f"training {recipe.name} …", file=sys.stderr, flush=True)
        runs.append(run_recipe(recipe, slug, args.timeout, extra, args.target))
        run = runs[-1]
        print(f"  wall {run.stats.wall_s:.0f} s, exit {run.stats.returncode}, RSS {run.stats.peak_rss_mb:.0f} MB, "
              f"evals (s, step, recall) {[(round(t), s, round(r, 2)) for t, s, r in run.evals]}",
              file=sys.stderr, flush=True)
    ours, plain = runs
    tables, headlines = report(ours, plain, args.target, RATIO_TARGET)
    print(tables + "\n\n" + headline_table(headlines))
    code = 0 if all(r.evals for r in runs) else 1  # a run without a single evaluation measured nothing
    if args.no_write:
        return code
    flags = "".join(f" --{k} {v:g}" for k, v in (("target", args.target), ("timeout", args.timeout))
                    if v != parser.get_default(k))
    commands = "\n".join(f"  - {r.recipe.name}: `whisper-tui prepare {' '.join(r.recipe.prepare_args)} -o DATASET` "
                         f"then `whisper-tui train --dataset DATASET --keywords {KEYWORDS} -o RUN"
                         f"{''.join(' ' + a for a in r.recipe.train_args)}`" for r in runs)
    body = (
        f"Machine: {machine_summary()}; {versions(PACKAGES)}.\n"
        f"Load average (1/5/15 min): {load_start} at start, {load_average()} at end.\n"
        f"Command: `python bench/train_bench.py{flags}` — two training runs, one after the other, "
        f"{(time.perf_counter() - started) / 60:.1f} min in all:\n{commands}\n\n"
        f"{tables}\n\n"
        "- Time is measured from spawning `train` (interpreter, imports, model load, encoder caching and every "
        "evaluation included) to the end of the first evaluation whose keyword recall reaches the mark; each run "
        "evaluates at step 0 and after every epoch, so a time is as fine as the run's epochs.\n"
        "- Both datasets come from the same `prepare` with `--val-audio sample_data/validation.mp3`: both runs score "
        "keyword recall on the same recording, a voice neither trains on (20 keyword occurrences, so recall moves in "
        "steps of 0.05). A run is stopped (SIGINT: it saves a checkpoint and exits) once an evaluation reaches the "
        "mark, since the rest of its epochs would not change the figure.\n"
        "- A ratio with ≤ or ≥ is a bound: the run on the other side never reached the mark, so its total time "
        "stands in for its time to target.\n"
        "- peak RSS: the largest sum of RSS over the training process tree, sampled every 0.2 s.\n")
    write_section(SECTION, body)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
