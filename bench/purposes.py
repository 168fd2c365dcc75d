"""Purposes (issue 14): which training defaults teach a language or an accent, measured the way the vocabulary
recipe is (bench/quality.py): recipes compared on the TUNING part only, the chosen defaults scored on the TEST part,
every figure over seeds as mean (worst seed).

Cases (sample_data/README.md, "Languages and accents"):
  welsh   `base`, --language cy: train welsh/train (espeak-ng cy, cy+f2); tuning welsh/tuning (cy+klatt); test
          welsh/test (cy+m3, cy+f4); the English control is the vocabulary sample's plain set of the same part,
          decoded in English (forgetting English is the cost of a language run)
  accent  `tiny.en`: train accent/train (espeak-ng de, es reading English); tuning accent/tuning (+klatt); test
          accent/test (de+m3, es+f4); control as above
Each run is the user's path: `prepare --audio TRAIN --captions TRAIN.vtt -o DS` then `train --dataset DS -m MODEL
[--language L] --seed S` plus the recipe's flags (none: the purpose's defaults). Scored per cue, greedy; WER with
Whisper's basic normaliser for Welsh, the English one for English; repetition loops counted (core/repetition.py).

    python bench/purposes.py --case welsh --recipes language words --seeds 0 --part tuning
    python bench/purposes.py --write-only
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import common
from common import ROOT, SAMPLE_DATA, WORK, load_json, run_cli, save_json, write_section

FOLDER = WORK / "purposes"
SECTION = "## Purposes: accents and languages (issue 14)"


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    language: str | None
    folder: str  # under sample_data/
    train_flags: tuple[str, ...] = ()


CASES = {c.name: c for c in (
    Case("welsh", "base", "cy", "welsh", ("--language", "cy")),
    Case("accent", "tiny.en", None, "accent"),
)}
# recipe → flags beyond the case's (none: the purpose's own defaults)
RECIPES: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "words": ("--purpose", "words"),
    "accent": ("--purpose", "accent"),
    "decoder": ("--lora-layers", "decoder"),  # the purpose's other defaults, encoder frozen and cached: CPU-cheap
}
CONTROL = {"tuning": "tuning/plain", "test": "test/plain"}


def _set(case: Case, part: str) -> tuple[Path, Path]:
    stem = SAMPLE_DATA / case.folder / part
    return stem.with_suffix(".mp3"), stem.with_suffix(".vtt")


def _control(part: str) -> tuple[Path, Path]:
    stem = SAMPLE_DATA / CONTROL[part]
    return stem.with_suffix(".mp3"), stem.with_suffix(".vtt")


def score(model: str, case: Case, part: str) -> dict:
    """The model on the case's part (in its language) and on the English control (in English)."""
    from core.evaluate import evaluate

    out = {}
    for name, (audio, captions), language in ((case.name, _set(case, part), case.language),
                                              ("control", _control(part), "en" if case.language else None)):
        report = evaluate(model, audio, captions, baseline=model, prompted=False, mode="cues", language=language)
        result = report.variants[0].results[0]
        out[name] = {"wer": result.scores.wer, "words": result.scores.reference_words, "loops": len(result.loops),
                     "cues": len(result.hypothesis.cues)}
    return out


def base_scores(case: Case, parts: list[str]) -> dict:
    path = FOLDER / case.name / "base.json"
    data = load_json(path)
    for part in parts:
        if part not in data:
            print(f"base {case.model}: scoring {case.name} {part}", flush=True)
            data[part] = score(case.model, case, part)
            save_json(path, data)
    return data


def run(case: Case, recipe: str, seed: int, parts: list[str]) -> dict:
    folder = FOLDER / case.name / recipe / f"seed{seed}"
    path = folder / "scores.json"
    data = load_json(path)
    if "train_s" not in data:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        audio, captions = _set(case, "train")
        run_cli(folder / "prepare.log", "prepare", "--audio", audio, "--captions", captions, "-o", folder / "dataset")
        started = time.monotonic()
        run_cli(folder / "train.log", "train", "--dataset", folder / "dataset", "-o", folder / "run", "-m",
                case.model, "--seed", seed, *case.train_flags, *RECIPES[recipe])
        settings = load_json(folder / "run" / "train_config.json")
        data = {"case": case.name, "recipe": recipe, "seed": seed, "commit": common.git_commit(),
                "load": common.load_average(), "train_s": time.monotonic() - started,
                "purpose": settings.get("purpose"), "steps": load_json(folder / "run" / "report.json").get("steps")}
        save_json(path, data)
    for part in parts:
        if part not in data:
            print(f"{case.name} {recipe} seed {seed}: scoring {part}", flush=True)
            data[part] = score(str(folder / "run" / "merged"), case, part)
            save_json(path, data)
    return data


# ---------------------------------------------------------------------------- the table


def _cell(values: list[float], scale: float = 100.0, digits: int = 1, worst=max) -> str:
    if not values:
        return "–"
    return f"{statistics.mean(values) * scale:.{digits}f} ({worst(values) * scale:.{digits}f})"


def table(case: Case, part: str) -> list[str]:
    base = load_json(FOLDER / case.name / "base.json").get(part)
    if not base:
        return []
    lines = [f"| recipe | seeds | train s | {case.name} WER % | {case.name} loops / cues | control WER % | "
             "control Δ pts |", "|---|---|---|---|---|---|---|",
             f"| base {case.model} | – | – | {100 * base[case.name]['wer']:.1f} | "
             f"{base[case.name]['loops']} / {base[case.name]['cues']} | {100 * base['control']['wer']:.1f} | – |"]
    for recipe in RECIPES:
        runs = [load_json(p) for p in sorted((FOLDER / case.name / recipe).glob("seed*/scores.json"))]
        runs = [r for r in runs if part in r]
        if not runs:
            continue
        wers = [r[part][case.name]["wer"] for r in runs]
        loops = [r[part][case.name]["loops"] for r in runs]
        deltas = [r[part]["control"]["wer"] - base["control"]["wer"] for r in runs]
        purpose = runs[0].get("purpose")
        lines.append(f"| {recipe} ({purpose}) | {len(runs)} | {_cell([r['train_s'] for r in runs], 1, 0)} | "
                     f"{_cell(wers)} | {statistics.mean(loops):.1f} / {base[case.name]['cues']} | "
                     f"{_cell([r[part]['control']['wer'] for r in runs])} | {_cell(deltas)} |")
    return lines


def write_results() -> None:
    machine, packages = common.machine_summary(), common.versions(("torch", "transformers", "peft"))
    body = [f"Generated by `python bench/purposes.py` on {time.strftime('%Y-%m-%d')}: {machine}; {packages}. CPU. "
            "Each run: `prepare` with its defaults on the case's training recording, then `train -m MODEL "
            "[--language L] --seed S` plus the recipe's flags. Cells: mean (worst seed); WER per cue, greedy; loops: "
            "hypotheses caught in a repetition loop (gzip ratio > 2.4 or a 3-gram 3 times). The control is English "
            "plain speech decoded in English.", ""]
    for case in CASES.values():
        for part in ("tuning", "test"):
            lines = table(case, part)
            if lines:
                body += [f"### {case.name} ({case.model}), {part} part", "", *lines, ""]
    write_section(SECTION, "\n".join(body))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=list(CASES), action="append")
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=["defaults"])
    parser.add_argument("--seeds", default="0", help="comma-separated (default 0)")
    parser.add_argument("--part", choices=("tuning", "test"), action="append")
    parser.add_argument("--write-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.write_only:
        parts = args.part or ["tuning"]
        for name in args.case or list(CASES):
            case = CASES[name]
            base_scores(case, parts)
            for recipe in args.recipes:
                for seed in (int(s) for s in args.seeds.split(",")):
                    run(case, recipe, seed, parts)
    write_results()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
