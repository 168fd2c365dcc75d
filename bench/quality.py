"""The quality protocol: training recipes are compared on the TUNING sets only; the defaults are scored on the TEST
sets once per change; every figure comes from several seeds (mean and worst). `make bench-quality` runs it and
regenerates the "Quality protocol" section of bench/RESULTS.md from the runs.

Every run takes the user's path with one recording and nothing else: `whisper-tui prepare --audio
sample_data/train.mp3 --captions sample_data/train.vtt -o DS`, then `whisper-tui train --dataset DS --keywords
sample_data/keywords.txt -o RUN --seed S`, plus a recipe's own flags (none for the defaults). train.mp3 is two
espeak-ng voices; no evaluation voice below is heard in training.

Sets (sample_data/README.md; the real speech is built from Debian packages by tests/human_speech.py):
  tuning  espeak-klatt (validation.mp3), flite-slt, plain English read by those two, plain-voices (the same
          sentences read by three espeak-ng accents heard nowhere else; generated here), real-joe (the hero of
          Flight of the Amazon Queen)
  test    neural (Piper's "joe", a neural voice), espeak (en-029 + en-gb-scotland), flite (awb, rms, kal16),
          plain English read by test voices, real-cast (every other character of the game), real-asterisk
          (one woman), real-librivox (one man, 71 words); and test/neural re-transcribed whole (long form,
          timestamps on) by the fine-tuned model, scored like the per-cue figure

Runs and scores are kept in bench/work/quality/ (a run is redone only when its folder is deleted or --fresh is
given), so the table is regenerated from real runs and a new recipe costs only its own runs.

    python bench/quality.py                       # defaults on tuning + test, the other recipes on tuning
    python bench/quality.py --recipes defaults --part test --seeds 0,1,2
    python bench/quality.py --write-only          # rewrite the RESULTS section from the kept runs
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    RESULTS,
    ROOT,
    SAMPLE_DATA,
    WORK,
    git_commit,
    load_average,
    load_json,
    machine_summary,
    run_cli,
    save_json,
    versions,
    write_section,
)

QUALITY = WORK / "quality"
KEYWORDS = SAMPLE_DATA / "keywords.txt"
TRAIN_AUDIO, TRAIN_CAPTIONS = SAMPLE_DATA / "train.mp3", SAMPLE_DATA / "train.vtt"
SECTION = "## Quality protocol (issue 12)"
SEEDS = (0, 1, 2)
MODEL = "tiny.en"

SYNTHETIC = {
    "tuning": {"espeak-klatt": "validation", "flite-slt": "tuning/flite", "plain": "tuning/plain"},
    "test": {"neural": "test/neural", "espeak": "test/espeak", "flite": "test/flite", "plain": "test/plain"},
}
REAL = {"tuning": ("real-joe",), "test": ("real-cast", "real-asterisk", "real-librivox")}
LONGFORM = "neural"  # the held-out recording re-transcribed whole
TUNING_LONGFORM = "espeak-klatt"  # the same on the tuning part (recipes are compared on it, never on LONGFORM)
KEYWORD_SETS = {"espeak-klatt", "flite-slt", "neural", "espeak", "flite"}
# acceptance (issue 12), test part: recall ≥ bar (mean) and ≥ worst bar (worst seed); WER within +1 / +2 points
RECALL_BARS = {"neural": (0.90, 0.80), "espeak": (0.70, 0.60), "flite": (0.70, 0.60)}
WER_BARS = (0.010, 0.020)


@dataclass(frozen=True)
class Recipe:
    """Flags beyond the user's defaults, and why the recipe is here."""

    name: str
    note: str
    prepare: tuple[str, ...] = ()
    train: tuple[str, ...] = ()


# what each kept run of earlier code was, beside the commit the table gives
EARLIER = {
    "defaults-v1": "views + replay + guard; checkpoints chosen on validation at one speed",
    "defaults-v2": "as v1, validation at the three training speeds; every replay row without timestamps",
    "warps-distill": "`--warps 0.9,1.0,1.1 --distill 0.6` over the defaults of then (the recipe that replaced them: "
                     "these are now the defaults)",
    "warps-grid": "the defaults with every speed copy at warps 0.9/1.0/1.1 (9 copies of each row, `--warps "
                  "0.9,1.0,1.1` when warps multiplied the copies), 5/3 passes (the same 80 steps), evaluated every 16",
}

BEFORE_WARPS = ("--warps", "1.0", "--distill", "0.3")  # the defaults until warps-distill replaced them
RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("defaults", "the defaults: `prepare` + `train` with no flags"),
    Recipe("defaults-before", "the defaults before warps-distill replaced them: no warps, distillation 0.3",
           train=BEFORE_WARPS),
    Recipe("anchored", "non-keyword tokens learnt at 0.3 weight and pulled to the base model at full weight: "
                       "the captions' wording of ordinary words should not move the model",
           train=(*BEFORE_WARPS, "--other-weight", "0.3", "--distill", "1.0")),
    Recipe("anchored-wide", "anchored, with speed views 0.8–1.2: more pitch and pace variety from one recording",
           train=(*BEFORE_WARPS, "--other-weight", "0.3", "--distill", "1.0", "--speeds", "0.8,0.9,1.0,1.1,1.2")),
    Recipe("lr-half", "half the learning rate (5e-4): smaller steps move the decoder less on speech it was not "
                      "trained on", train=(*BEFORE_WARPS, "--lr", "5e-4")),
    Recipe("distill-0.6", "twice the pull of the base model's distributions on non-keyword tokens",
           train=(*BEFORE_WARPS, "--distill", "0.6")),
    Recipe("epochs-4", "one pass fewer (64 steps instead of 80): the best checkpoint often comes before the last",
           train=(*BEFORE_WARPS, "--epochs", "4")),
    Recipe("speeds-wide", "speed views 0.85/1.0/1.15 instead of 0.9/1.0/1.1: the same cost, more pitch and pace "
                          "spread between the copies of one recording's voices",
           train=(*BEFORE_WARPS, "--speeds", "0.85,1.0,1.15")),
    Recipe("warps", "vocal-tract warps 0.9/1.0/1.1 in turn (each pass hears every speed copy with its spectrum "
                    "moved along frequency, the pace kept: more voices from one recording, at the same cost)",
           train=("--warps", "0.9,1.0,1.1", "--distill", "0.3")),
)}


# ---------------------------------------------------------------------------- the sets


def plain_voices(folder: Path) -> tuple[Path, Path]:
    """The tuning part's plain sentences read by three more espeak-ng accents (Lancaster, West Midlands, New York
    City) that neither training nor the test part uses: tuning/plain has only the two tuning voices, too few to show
    the forgetting of voices a recipe never heard (the test part's plain set did, where the tuning one did not)."""
    audio, captions = folder / "plain-voices.mp3", folder / "plain-voices.vtt"
    if not captions.is_file():
        import tempfile

        sys.path.insert(0, str(SAMPLE_DATA))
        from make_samples import CONTROL, Voice, build, encode_mp3

        from core.captions import Captions, write

        voices = (Voice("en-gb-x-gbclan", 155), Voice("en-gb-x-gbcwmd", 155), Voice("en-us-nyc", 155))
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="plain-voices.") as tmp:
            recording = build(CONTROL + CONTROL[:4], voices, Path(tmp))  # 12 cues: every voice reads four
            encode_mp3(recording.samples, recording.rate, audio, Path(tmp))
            write(Captions(cues=recording.cues, language="en"), captions)
    return audio, captions


# sets built here: name → the function that builds it (once) into a folder and returns (audio, captions)
GENERATED: dict[str, dict[str, Callable[[Path], tuple[Path, Path]]]] = {
    "tuning": {"plain-voices": plain_voices}, "test": {}}


def sets(part: str) -> dict[str, tuple[Path, Path]]:
    """(audio, captions) of each set of a part; the real speech is built once into bench/work/quality/sets."""
    from tests.human_speech import real_speech_sets

    out = {name: (SAMPLE_DATA / f"{stem}.mp3", SAMPLE_DATA / f"{stem}.vtt") for name, stem in SYNTHETIC[part].items()}
    folder = QUALITY / "sets"
    out.update({name: build_set(folder) for name, build_set in GENERATED[part].items()})
    if not all((folder / f"{name}.vtt").is_file() for names in REAL.values() for name in names):
        real_speech_sets(folder)
    out.update({name: (folder / f"{name}.wav", folder / f"{name}.vtt") for name in REAL[part]})
    return out


def part_names(part: str) -> list[str]:
    return [*SYNTHETIC[part], *GENERATED[part], *REAL[part]]


def unscored(data: dict, part: str) -> bool:
    """A part not scored yet, or scored before one of its sets existed."""
    return part not in data or bool(set(part_names(part)) - set(data[part]))


def score_model(model: str, part: str) -> dict[str, dict]:
    """Per set: WER, recall and the counts behind them, decoding each reference cue's clip greedily."""
    from core.evaluate import evaluate
    from core.vocabulary import load_keywords

    named = sets(part)
    names = list(named)
    report = evaluate(model, *named[names[0]], load_keywords(KEYWORDS), baseline=model,
                      controls=[named[n] for n in names[1:]], prompted=False, mode="cues")
    results = report.variants[0].results
    return {name: _scores(r.scores) for name, r in zip(names, results, strict=True)}


def score_longform(model: str, part: str = "test") -> dict:
    """A held-out recording transcribed whole (timestamps on), scored like the per-cue figure, and whether its
    cues are in order and inside the audio."""
    from core.audio import duration_seconds
    from core.evaluate import evaluate
    from core.vocabulary import load_keywords

    audio, captions = sets(part)[LONGFORM if part == "test" else TUNING_LONGFORM]
    report = evaluate(model, audio, captions, load_keywords(KEYWORDS), baseline=model, prompted=False,
                      mode="longform", engine="transformers")
    result = report.variants[0].results[0]
    cues = result.hypothesis.cues
    end_ms = duration_seconds(audio) * 1000
    ordered = all(a.start <= b.start for a, b in zip(cues, cues[1:], strict=False))
    inside = all(0 <= c.start < c.end <= end_ms + 1 for c in cues)
    return {**_scores(result.scores), "cues": len(cues), "monotonic": ordered, "inside_audio": inside}


def _cue_count(captions: Path) -> int:
    from core.captions import read

    return len(read(captions).cues)


def _scores(scores) -> dict:
    return {"wer": scores.wer, "recall": scores.recall, "words": scores.reference_words,
            "errors": scores.substitutions + scores.deletions + scores.insertions,
            "keyword_hits": scores.keywords.hits, "keyword_refs": scores.keywords.reference}


# ---------------------------------------------------------------------------- runs


def base_scores(parts: list[str]) -> dict:
    """The base model on every set (computed once; decoding is deterministic)."""
    path = QUALITY / "base.json"
    data = load_json(path)
    for part in parts:
        if unscored(data, part):
            print(f"base {MODEL}: scoring the {part} sets", flush=True)
            data[part] = score_model(MODEL, part)
        _score_longform(data, MODEL, part)
        save_json(path, data)
    return data


def run(recipe: Recipe, seed: int, parts: list[str]) -> dict:
    """Prepare + train once per (recipe, seed), then score the parts not yet scored."""
    folder = QUALITY / "runs" / recipe.name / f"seed{seed}"
    path = folder / "scores.json"
    data = load_json(path)
    if "train_s" not in data:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.monotonic()
        run_cli(folder / "prepare.log", "prepare", "--audio", TRAIN_AUDIO, "--captions", TRAIN_CAPTIONS,
             "-o", folder / "dataset", *recipe.prepare)
        prepared = time.monotonic()
        run_cli(folder / "train.log", "train", "--dataset", folder / "dataset", "--keywords", KEYWORDS,
             "-o", folder / "run", "--seed", seed, "-m", MODEL, *recipe.train)
        report = load_json(folder / "run" / "report.json")
        data = {"recipe": recipe.name, "seed": seed, "commit": git_commit(), "load": load_average(),
                "prepare_s": prepared - started, "train_s": time.monotonic() - prepared,
                "best": report.get("best", {}), "steps": report.get("steps")}
        save_json(path, data)
    for part in parts:
        if unscored(data, part):
            print(f"{recipe.name} seed {seed}: scoring the {part} sets", flush=True)
            data[part] = score_model(str(folder / "run" / "merged"), part)
            save_json(path, data)
        if _score_longform(data, str(folder / "run" / "merged"), part):
            save_json(path, data)
    return data


def _score_longform(data: dict, model: str, part: str) -> bool:
    """Adds the part's long-form scores to a run's (or the base model's) scores when missing; True if it did."""
    scorers = {"longform": lambda: score_longform(model, "test")} if part == "test" else \
        {"longform-tuning": lambda: score_longform(model, "tuning"),
         "pipeline-tuning": lambda: pipeline_longform(model)}
    missing = [key for key in scorers if key not in data]
    if missing:
        print(f"  long form ({part}) of {model}", flush=True)
    for key in missing:
        data[key] = scorers[key]()
    return bool(missing)


def pipeline_longform(model: str) -> dict:
    """The tuning long-form recording through transformers' own ASR pipeline (chunk_length_s=30, timestamps on: what
    a user of the merged model may run): its WER and chunk count. Chunked decoding stitches windows at the timestamps
    the model writes, so a model that places them badly loses words."""
    from transformers import pipeline

    from core.audio import load_audio
    from core.captions import read
    from core.models import resolve
    from core.scores import score_texts

    audio, captions = sets("tuning")[TUNING_LONGFORM]
    asr = pipeline("automatic-speech-recognition", model=str(resolve(model).hf_dir), device="cpu")
    result = asr({"raw": load_audio(audio), "sampling_rate": 16000}, return_timestamps=True, chunk_length_s=30)
    return {"chunks": len(result["chunks"]), "wer": score_texts([read(captions).text], [result["text"]]).wer}


def rescore_earlier() -> None:
    """Earlier code's kept runs get the tuning long-form score they were made without (their models are kept)."""
    for path in sorted((QUALITY / "runs").glob("*/seed*/scores.json")):
        data = load_json(path)
        merged = path.parent / "run" / "merged"
        if path.parent.parent.name not in RECIPES and "tuning" in data and merged.is_dir() and \
                _score_longform(data, str(merged), "tuning"):
            save_json(path, data)


# ---------------------------------------------------------------------------- tables


@dataclass
class Summary:
    """One figure over seeds: mean and the worst seed (lowest recall, highest WER change)."""

    values: list[float] = field(default_factory=list)

    def text(self, kind: str) -> str:
        if not self.values:
            return "–"
        mean = statistics.fmean(self.values)
        worst = min(self.values) if kind == "recall" else max(self.values)
        if kind == "recall":
            return f"{mean:.2f} ({worst:.2f})"
        if kind == "delta":
            return f"{100 * mean:+.1f} ({100 * worst:+.1f})"
        return f"{mean:.0f} ({worst:.0f})"


def _kept_runs(recipe: str) -> list[dict]:
    runs = [load_json(p) for p in sorted((QUALITY / "runs" / recipe).glob("seed*/scores.json"))]
    return [r for r in runs if "train_s" in r]


def _tuning_runs(recipe: str) -> list[dict]:
    """A recipe's kept runs scored on every tuning set."""
    return [r for r in _kept_runs(recipe) if not unscored(r, "tuning")]


def tuning_table(base: dict) -> list[str]:
    names = part_names("tuning")
    header = ["recipe", "seeds", "train s"] + [f"{n} recall" for n in names if n in KEYWORD_SETS] + \
             [f"{TUNING_LONGFORM} long-form recall (cues)", "pipeline WER % (chunks)"] + \
             [f"{n} ΔWER pts ({base['tuning'][n]['words']} words)" for n in names if n not in KEYWORD_SETS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    tuning = base["tuning"]
    longform = base.get("longform-tuning")
    lines.append("| base tiny.en | – | – | " + " | ".join(
        [f"{tuning[n]['recall']:.2f}" for n in names if n in KEYWORD_SETS] +
        [f"{longform['recall']:.2f} ({longform['cues']})" if longform else "–", _pipeline_cell([base])] +
        [f"{100 * tuning[n]['wer']:.1f} % WER" for n in names if n not in KEYWORD_SETS]) + " |")
    earlier = sorted(p.name for p in (QUALITY / "runs").glob("*") if p.is_dir() and p.name not in RECIPES)
    for name in [*earlier, *RECIPES]:
        runs = _tuning_runs(name)
        if not runs:
            continue
        label = f"**{name}**" if name == "defaults" else name if name in RECIPES else \
            f"{name} (earlier code, commit {', '.join(sorted({r['commit'] for r in runs}))})"
        cells = [label, str(len(runs)),
                 Summary([r["train_s"] for r in runs]).text("s")]
        cells += [Summary([r["tuning"][n]["recall"] for r in runs]).text("recall") for n in names if n in KEYWORD_SETS]
        scored = [r["longform-tuning"] for r in runs if "longform-tuning" in r]
        cells.append(f"{Summary([lf['recall'] for lf in scored]).text('recall')} "
                     f"({'/'.join(str(lf['cues']) for lf in scored)})" if scored else "–")
        cells.append(_pipeline_cell(runs))
        cells += [Summary([r["tuning"][n]["wer"] - base["tuning"][n]["wer"] for r in runs]).text("delta")
                  for n in names if n not in KEYWORD_SETS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


RECALL_SLACK = 0.02  # a recipe may give up this much mean tuning recall for less forgetting


def _tuning_figures(runs: list[dict], base: dict) -> tuple[float, float, float]:
    """Mean recall over the tuning keyword sets, and the mean and worst-seed ΔWER over its forgetting sets."""
    names = part_names("tuning")
    recall = statistics.fmean(r["tuning"][n]["recall"] for r in runs for n in names if n in KEYWORD_SETS)
    deltas = {n: [r["tuning"][n]["wer"] - base["tuning"][n]["wer"] for r in runs] for n in names
              if n not in KEYWORD_SETS}
    return recall, statistics.fmean(statistics.fmean(d) for d in deltas.values()), max(max(d) for d in deltas.values())


def tuning_verdicts(base: dict) -> list[str]:
    """The rule that picks the defaults, applied to every recipe: it replaces them only with at least the defaults'
    recall (less RECALL_SLACK) and less forgetting, on the mean and on the worst seed."""
    kept = {name: _tuning_runs(name) for name in RECIPES}
    if len(kept["defaults"]) < len(SEEDS):
        return []
    recall, mean, worst = _tuning_figures(kept["defaults"], base)
    lines = [f"Choosing (tuning part only): a recipe replaces the defaults when its mean keyword recall is at least "
             f"theirs less {RECALL_SLACK} and its ΔWER over the forgetting sets is lower both on the mean and on the "
             f"worst seed. The defaults: recall {recall:.3f}, ΔWER mean {100 * mean:+.2f}, worst {100 * worst:+.1f}."]
    for name, runs in kept.items():
        if name == "defaults" or len(runs) < len(SEEDS):
            continue
        r, m, w = _tuning_figures(runs, base)
        better = r >= recall - RECALL_SLACK and m < mean and w < worst
        lines.append(f"- `{name}`: recall {r:.3f}, ΔWER mean {100 * m:+.2f}, worst {100 * w:+.1f}: "
                     + ("replaces the defaults" if better else "kept out"))
    return lines


def _pipeline_cell(runs: list[dict]) -> str:
    """Per seed: the pipeline's WER in % (its chunk count)."""
    scored = [r["pipeline-tuning"] for r in runs if "pipeline-tuning" in r]
    return " / ".join(f"{100 * p['wer']:.1f} ({p['chunks']})" for p in scored) or "–"


def test_table(base: dict, recipe: str = "defaults") -> tuple[list[str], list[str]]:
    """The test part for one recipe, and a line per acceptance bar (met or not)."""
    runs = [r for r in _kept_runs(recipe) if "test" in r]
    if not runs:
        return ["(no test runs yet)"], []
    lines = ["| set | what | base | fine-tuned, mean (worst seed) | bar (mean / worst) | met |",
             "|---|---|---|---|---|---|"]
    verdicts = []
    for name, base_set in base["test"].items():
        if name in KEYWORD_SETS:
            values = [r["test"][name]["recall"] for r in runs]
            bar, worst_bar = RECALL_BARS[name]
            met = statistics.fmean(values) >= bar and min(values) >= worst_bar
            lines.append(f"| {name} | keyword recall ({base_set['keyword_refs']} occurrences) | "
                         f"{base_set['recall']:.2f} | {Summary(values).text('recall')} | ≥ {bar:.2f} / "
                         f"{worst_bar:.2f} | {'yes' if met else 'NO'} |")
        else:
            deltas = [r["test"][name]["wer"] - base_set["wer"] for r in runs]
            met = statistics.fmean(deltas) <= WER_BARS[0] + 1e-9 and max(deltas) <= WER_BARS[1] + 1e-9
            lines.append(f"| {name} | WER ({base_set['words']} words), Δ points | {100 * base_set['wer']:.1f} % | "
                         f"{Summary(deltas).text('delta')} | ≤ +1.0 / +2.0 | {'yes' if met else 'NO'} |")
        verdicts.append(met)
    longform = [r["longform"] for r in runs]
    per_cue = [r["test"][LONGFORM]["recall"] for r in runs]
    gap = max(abs(lf["recall"] - pc) for lf, pc in zip(longform, per_cue, strict=True))
    ok = gap <= 0.05 and all(lf["monotonic"] and lf["inside_audio"] for lf in longform)
    lines.append(f"| {LONGFORM}, long form | keyword recall, whole recording with timestamps | "
                 f"{base['longform']['recall']:.2f} | {Summary([lf['recall'] for lf in longform]).text('recall')} "
                 f"(largest gap to per-cue {gap:.2f}; timestamps in order and inside the audio: "
                 f"{'yes' if all(lf['monotonic'] and lf['inside_audio'] for lf in longform) else 'NO'}) | "
                 f"gap ≤ 0.05 | {'yes' if ok else 'NO'} |")
    verdicts.append(ok)
    train_s = [r["train_s"] for r in runs]
    verdicts.append(max(train_s) <= 600)
    lines.append(f"| training time | `whisper-tui train` wall seconds for train.mp3 (104 s of audio) | – | "
                 f"{Summary(train_s).text('s')} | ≤ 600 | {'yes' if max(train_s) <= 600 else 'NO'} |")
    return lines, verdicts


def resolution(base: dict) -> str:
    """What one word is worth, in WER points, on each forgetting set the base model was scored on."""
    def per_word(part: str) -> str:
        return ", ".join(f"{name} {100 / base[part][name]['words']:.1f}" for name in part_names(part)
                         if name not in KEYWORD_SETS)

    text = f"Resolution: one word more or less moves a set's WER by 100 ÷ its words in points: {per_word('tuning')}"
    if "test" in base:
        text += (f" on the tuning part; {per_word('test')} on the test part, where the bar of +1.0 point is "
                 f"{base['test']['plain']['words'] / 100:.1f} words on plain")
    return text + "."


def write_results(parts: list[str]) -> None:
    base = load_json(QUALITY / "base.json")
    body = [
        f"Generated by `python bench/quality.py` (`make bench-quality`) on {time.strftime('%Y-%m-%d')}: "
        f"{machine_summary()}; {versions(['torch', 'transformers', 'peft'])}; load average now {load_average()}. "
        f"Model {MODEL}, CPU. Each run is the user's path with the defaults and one recording "
        "(`prepare --audio sample_data/train.mp3 --captions sample_data/train.vtt -o DS` then `train --dataset DS "
        "--keywords sample_data/keywords.txt --seed S`) plus a recipe's flags; seeds "
        f"{', '.join(map(str, SEEDS))}. Cells: mean over seeds (worst seed). ΔWER: percentage points against the "
        "base model on the same set (negative is better).",
        "",
        "### Tuning part (recipes are compared here, and only here)",
        "",
        *tuning_table(base),
        "",
        resolution(base),
        "",
        *tuning_verdicts(base),
        "",
        f"Long form: {TUNING_LONGFORM}'s recording transcribed whole with timestamps (transformers); in brackets the "
        "cues each seed wrote (the reference has "
        f"{_cue_count(sets('tuning')[TUNING_LONGFORM][1])} cues). Pipeline: the same recording through transformers' "
        "ASR pipeline (`chunk_length_s=30`, timestamps on: what a user of the merged model may run), per seed: WER in "
        "% and the number of timed chunks; the pipeline stitches its windows at the timestamps the model writes, and "
        "varies widely from seed to seed, the base model included (the project's own long-form path, the column "
        "before, does not).",
        "",
        *[f"- `{name}`: {note}" for name, note in EARLIER.items()],
        "",
        "Recipes: " + "; ".join(f"`{r.name}`: {r.note}" + (f" (`prepare {' '.join(r.prepare)}`)" if r.prepare else "")
                                + (f" (`train {' '.join(r.train)}`)" if r.train else "") for r in RECIPES.values()),
        "",
    ]
    if "test" in base:
        lines, verdicts = test_table(base)
        body += ["### Test part: the defaults, scored once", "", *lines, "",
                 f"Acceptance bars met: {sum(verdicts)} of {len(verdicts)}.", ""]
    write_section(SECTION, "\n".join(body), RESULTS)
    print(f"wrote {SECTION!r} into {RESULTS}")
    if "test" in base:
        write_readme_summary(base)


README = ROOT / "README.md"
README_MARKERS = ("<!-- quality:begin (bench/quality.py writes this) -->", "<!-- quality:end -->")


def readme_summary(base: dict, recipe: str = "defaults") -> str:
    """The test part in two sentences, for the README (mean over seeds, worst seed in brackets)."""
    runs = [r for r in _kept_runs(recipe) if "test" in r]
    if not runs:
        return ""

    def recall(name: str) -> str:
        values = [r["test"][name]["recall"] for r in runs]
        return f"{base['test'][name]['recall']:.2f} → {Summary(values).text('recall')}"

    def delta(name: str) -> str:
        return Summary([r["test"][name]["wer"] - base["test"][name]["wer"] for r in runs]).text("delta")

    train_s = Summary([r["train_s"] for r in runs]).text("s")
    return (f"On voices it never heard ({len(runs)} seeds, mean (worst seed); `make bench-quality`, "
            f"bench/RESULTS.md), the defaults take keyword recall from {recall('neural')} on a neural voice, "
            f"{recall('espeak')} on espeak-ng accents and {recall('flite')} on flite voices, while WER moves by "
            f"{delta('plain')} points on plain English, {delta('real-cast')} on acted speech (25 characters), "
            f"{delta('real-asterisk')} on telephone prompts and {delta('real-librivox')} on an audiobook reader "
            f"(real people; percentage points against the base model). Training takes {train_s} s for the "
            "104 s sample on 2 CPU cores.")


def write_readme_summary(base: dict) -> None:
    text = README.read_text()
    start, end = README_MARKERS
    if start not in text or end not in text:
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{start}\n{readme_summary(base)}\n{end}{tail}")
    print(f"wrote the quality summary into {README}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated recipe names")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--part", choices=("tuning", "test", "all"), default="all",
                        help="all: tuning for every recipe, and test for the defaults only")
    parser.add_argument("--fresh", action="store_true", help="redo the chosen runs instead of reusing them")
    parser.add_argument("--write-only", action="store_true", help="only rewrite the RESULTS section")
    args = parser.parse_args(argv)
    if not args.write_only:
        seeds = [int(s) for s in args.seeds.split(",")]
        names = [n.strip() for n in args.recipes.split(",") if n.strip()]
        unknown = [n for n in names if n not in RECIPES]
        if unknown:
            parser.error(f"unknown recipes {unknown}; known: {', '.join(RECIPES)}")
        base_scores(["tuning", "test"] if args.part == "all" else [args.part])
        rescore_earlier()
        for name in names:
            parts = ["tuning"] if args.part == "tuning" else ["test"] if args.part == "test" else \
                ["tuning", "test"] if name == "defaults" else ["tuning"]
            for seed in seeds:
                if args.fresh:
                    shutil.rmtree(QUALITY / "runs" / name / f"seed{seed}", ignore_errors=True)
                run(RECIPES[name], seed, parts)
    write_results([])
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
