"""The evaluation report: what core/evaluate.py measured (`Report`: each variant on the main set and the controls,
with its scores and the captions it re-transcribed), its tables (report.md and the CLI show the same ones), and
report.json with its VTTs written and read back, so the TUI shows an existing report without re-running anything.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core import captions as caps
from core.captions import Captions, Recording
from core.errors import InputError
from core.files import atomic_write_text
from core.repetition import is_loop
from core.scores import Substitution, TextScores
from core.vocabulary import Keyword, KeywordRecall, KeywordScore

BASELINE, PROMPTED, FINE_TUNED = "baseline", "prompted", "fine-tuned"
REPORT_VERSION = 1


# ---------------------------------------------------------------------------- report data


@dataclass(frozen=True)
class EvalSet(Recording):
    """A recording with its reference captions, named: `name` labels its report column and its VTT files."""

    name: str


@dataclass(frozen=True)
class SetResult:
    """One variant on one set: its scores and the re-transcribed captions they were computed from."""

    set: str
    scores: TextScores
    hypothesis: Captions

    @property
    def loops(self) -> tuple[str, ...]:
        """The hypotheses caught in a repetition loop (core.repetition)."""
        return tuple(c.text for c in self.hypothesis.cues if is_loop(c.text))


@dataclass(frozen=True)
class VariantResult:
    """One row of the report: a model (with or without the keyword prompt) on the main set and controls."""

    name: str
    model: str
    prompt: str | None
    results: tuple[SetResult, ...]  # main set first, then the controls in order

    @property
    def main(self) -> SetResult:
        return self.results[0]

    def on(self, set_name: str) -> SetResult:
        return next(r for r in self.results if r.set == set_name)


@dataclass(frozen=True)
class Report:
    """Everything `write_report` writes; variants in the order baseline, prompted, fine-tuned."""

    mode: str
    model: str
    base_model: str
    main: EvalSet
    controls: tuple[EvalSet, ...]
    keywords: tuple[Keyword, ...]
    variants: tuple[VariantResult, ...]
    seconds: float = 0.0
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # the main recording transcribed whole (timestamps on) as well, per variant: what the user will run afterwards
    longform: tuple[tuple[str, SetResult], ...] = ()

    def variant(self, name: str) -> VariantResult | None:
        return next((v for v in self.variants if v.name == name), None)

    def delta(self, variant: str, metric: str, set_name: str | None = None) -> float | None:
        """`metric` ("wer", "cer", "recall") of a variant minus the baseline's, on the main set or a control."""
        base, other = self.variant(BASELINE), self.variant(variant)
        if base is None or other is None:
            return None
        set_name = set_name or self.main.name
        a, b = getattr(other.on(set_name).scores, metric), getattr(base.on(set_name).scores, metric)
        return None if a is None or b is None else a - b

    def vtt_name(self, variant: str, set_name: str) -> str:
        return f"{set_name}.{variant}.vtt"

    def longform_vtt(self, variant: str) -> str:
        return f"{self.main.name}.{variant}.longform.vtt"

    def as_dict(self, folder: Path | None = None) -> dict:
        """report.json: the overall numbers per variant up front, full scores per set below them. With `folder`
        (where report.json goes) the sets' paths are stored relative to it where they can be (see `_stored`)."""
        sets = (self.main, *self.controls)
        variants = []
        for v in self.variants:
            main = v.main.scores
            variants.append({
                "name": v.name, "model": v.model, "prompt": v.prompt,
                "wer": main.wer, "cer": main.cer, "recall": main.recall,
                "control_wer": {s.name: v.on(s.name).scores.wer for s in self.controls},
                "delta": {"wer": self.delta(v.name, "wer"), "cer": self.delta(v.name, "cer"),
                          "recall": self.delta(v.name, "recall"),
                          "control_wer": {s.name: self.delta(v.name, "wer", s.name) for s in self.controls}},
                "sets": {r.set: {**r.scores.as_dict(), "loops": len(r.loops), "vtt": self.vtt_name(v.name, r.set)}
                         for r in v.results},
            })
        return {"version": REPORT_VERSION, "created": self.created, "seconds": round(self.seconds, 2),
                "mode": self.mode, "model": self.model, "base_model": self.base_model,
                "main": _set_dict(self.main, folder), "controls": [_set_dict(s, folder) for s in self.controls],
                "sets": [s.name for s in sets], "keywords": [asdict(k) for k in self.keywords],
                "variants": variants,
                "longform": {name: {**r.scores.as_dict(), "vtt": self.longform_vtt(name)} for name, r in self.longform}}


def _set_dict(eval_set: EvalSet, folder: Path | None) -> dict:
    return {"name": eval_set.name, "audio": _stored(eval_set.audio, folder),
            "captions": _stored(eval_set.captions, folder)}


def _stored(path: Path, folder: Path | None) -> str:
    """How report.json records an input file: relative to the report's folder when both lie under one folder
    other than the filesystem root (a workspace moves as a whole, and reading it back never depends on the cwd),
    else absolute. Computed on resolved paths, so a `..` climbs the same folders the OS will."""
    if folder is None:
        return str(path)
    target, base = Path(path).resolve(), Path(folder).resolve()
    if Path(os.path.commonpath([target, base])) == Path(target.anchor):
        return str(target)
    return Path(os.path.relpath(target, base)).as_posix()


def _located(stored: str, folder: Path) -> Path:
    """A path read from report.json: an absolute one as it is, a relative one against the report's folder. Reports
    written before that rule held paths relative to the cwd of `whisper-tui evaluate`; such a path is used when
    it exists and the folder-relative one does not."""
    path = Path(stored).expanduser()
    if path.is_absolute():
        return path
    beside = Path(os.path.normpath(Path(folder).resolve() / path))  # the folder resolved: `..` lexically is exact
    return path.absolute() if not beside.exists() and path.exists() else beside


# ---------------------------------------------------------------------------- tables (markdown and CLI)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _points(value: float | None) -> str:
    return "–" if value is None or math.isclose(value, 0, abs_tol=5e-4) else f"{100 * value:+.1f}"


def overall_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the overall table; Δ columns are percentage points against the baseline."""
    headers = ["variant", "model", "WER", "ΔWER", "CER", "keyword recall", "Δrecall"]
    for s in report.controls:
        headers += [f"{s.name} WER", f"Δ{s.name}"]
    rows = []
    for v in report.variants:
        main = v.main.scores
        recall = main.keywords
        recall_text = _pct(recall.overall) + (f" ({recall.hits}/{recall.reference})" if recall.reference else "")
        row = [v.name, v.model, _pct(main.wer), _points(report.delta(v.name, "wer")), _pct(main.cer),
               recall_text, _points(report.delta(v.name, "recall"))]
        for s in report.controls:
            row += [_pct(v.on(s.name).scores.wer), _points(report.delta(v.name, "wer", s.name))]
        rows.append(row)
    return headers, rows


def keyword_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """Per keyword: occurrences in the main set's reference and hits per variant."""
    headers = ["keyword", "in reference", *(v.name for v in report.variants)]
    rows = []
    for keyword in report.keywords:
        scores = [v.main.scores.keywords[keyword.term] for v in report.variants]
        reference = scores[0].reference if scores else 0
        rows.append([keyword.term, str(reference), *(str(s.hits) for s in scores)])
    return headers, rows


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(headers), "|" + "---|" * len(headers), *(line(r) for r in rows), ""]


def keyword_change_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """Per keyword: hits of the baseline → the fine-tuned model out of the occurrences (the prompted baseline
    beside it, when there is one)."""
    base, tuned, prompted = report.variant(BASELINE), report.variant(FINE_TUNED), report.variant(PROMPTED)
    headers = ["keyword", "in reference", "baseline → fine-tuned", *(["prompted"] if prompted else [])]
    rows = []
    for keyword in report.keywords:
        before = base.main.scores.keywords[keyword.term] if base else None
        after = tuned.main.scores.keywords[keyword.term] if tuned else None
        reference = (before or after).reference if (before or after) else 0
        change = f"{before.hits if before else '–'} → {after.hits if after else '–'}"
        rows.append([keyword.term, str(reference), change,
                     *([str(prompted.main.scores.keywords[keyword.term].hits)] if prompted else [])])
    return headers, rows


def forgetting_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """Per control set: the baseline's WER, the fine-tuned model's, and the change in points (what got worse)."""
    tuned = report.variant(FINE_TUNED)
    base = report.variant(BASELINE)
    headers = ["set", "words", "baseline WER", "fine-tuned WER", "Δ points"]
    rows = []
    for s in report.controls:
        if base is None or tuned is None:
            break
        rows.append([s.name, str(base.on(s.name).scores.reference_words), _pct(base.on(s.name).scores.wer),
                     _pct(tuned.on(s.name).scores.wer), _points(report.delta(FINE_TUNED, "wer", s.name)) or "0.0"])
    return headers, rows


def longform_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """The main recording transcribed whole, per variant, beside the per-cue figures."""
    headers = ["variant", "WER whole recording", "WER per cue", "keyword recall whole", "recall per cue", "cues"]
    rows = []
    for name, result in report.longform:
        per_cue = report.variant(name)
        recall = result.scores.keywords
        rows.append([name, _pct(result.scores.wer), _pct(per_cue.main.scores.wer) if per_cue else "–",
                     _pct(recall.overall) + (f" ({recall.hits}/{recall.reference})" if recall.reference else ""),
                     _pct(per_cue.main.scores.recall) if per_cue else "–", str(len(result.hypothesis.cues))])
    return headers, rows


def loops_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """Per set: hypotheses caught in a repetition loop, per variant (no rows when there are none anywhere)."""
    headers = ["set", "hypotheses", *(v.name for v in report.variants)]
    rows = []
    for s in (report.main, *report.controls):
        counts = [len(v.on(s.name).loops) for v in report.variants]
        rows.append([s.name, str(len(report.variants[0].on(s.name).hypothesis.cues)), *map(str, counts)])
    return (headers, rows) if any(r[2:] != ["0"] * len(report.variants) for r in rows) else (headers, [])


def first_sections(report: Report) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
    """What a user asks first, in that order, as (title, table), the empty ones left out: each keyword before →
    after, whether ordinary speech got worse, the whole recording re-transcribed. The report and the CLI show these."""
    sections = [("Your keywords, before → after (hits on the main set)", keyword_change_table(report)),
                ("Did ordinary speech get worse? (the control sets)", forgetting_table(report)),
                ("The whole recording, re-transcribed (timestamps on)", longform_table(report)),
                ("Repetition loops (gzip ratio > 2.4 or a 3-gram 3 times)", loops_table(report))]
    return [(title, table) for title, table in sections if table[1]]


def to_markdown(report: Report) -> str:
    """report.md, what a user asks first, first: each keyword before → after, whether ordinary speech got worse,
    the whole recording re-transcribed; then the overall table, top substitutions and the VTT files."""
    controls = ", ".join(s.name for s in report.controls) or "none"
    out = [f"# Evaluation of {report.model}", "",
           f"Mode `{report.mode}` · main set `{report.main.name}` ({report.variants[0].main.scores.reference_words} "
           f"words) · "
           f"controls: {controls} · {len(report.keywords)} keywords · baseline `{report.base_model}`", "",
           "WER and CER on Whisper-normalised text; keyword recall on the raw text. Δ: percentage points "
           "against the baseline (lower WER is better, higher recall is better).", ""]
    for title, table in first_sections(report):
        out += [f"## {title}", "", *_markdown_table(*table)]
    out += ["## Overall", ""]
    out += _markdown_table(*overall_table(report))
    out += ["## Top substitutions (reference → hypothesis, main set)", ""]
    for v in report.variants:
        out += [f"### {v.name}", ""]
        subs = v.main.scores.top_substitutions
        out += _markdown_table(["reference", "hypothesis", "count"],
                               [[s.reference, s.hypothesis, str(s.count)] for s in subs]) if subs else ["none", ""]
    out += ["## Re-transcribed captions", ""]
    out += [f"- `{report.vtt_name(v.name, r.set)}`" for v in report.variants for r in v.results]
    out += [f"- `{report.longform_vtt(name)}` (whole recording)" for name, _ in report.longform]
    return "\n".join(out) + "\n"


def write_report(report: Report, out_dir: Path) -> list[Path]:
    """report.json, report.md and `<set>.<variant>.vtt` per variant and set, each written atomically."""
    out_dir = Path(out_dir)
    paths = [atomic_write_text(out_dir / "report.json",
                               json.dumps(report.as_dict(out_dir), ensure_ascii=False, indent=2) + "\n"),
             atomic_write_text(out_dir / "report.md", to_markdown(report))]
    for v in report.variants:
        for r in v.results:
            paths.append(caps.write(r.hypothesis, out_dir / report.vtt_name(v.name, r.set), "vtt"))
    for name, r in report.longform:
        paths.append(caps.write(r.hypothesis, out_dir / report.longform_vtt(name), "vtt"))
    return paths


# ---------------------------------------------------------------------------- reading a report back (the TUI)


def _scores_from(data: dict) -> TextScores:
    recall = KeywordRecall(tuple(KeywordScore(k["term"], int(k["reference"]), int(k["hypothesis"]), int(k["hits"]))
                                 for k in data["keywords"]["per_keyword"]))
    return TextScores(float(data["wer"]), float(data["cer"]), int(data["reference_words"]),
                      int(data["hypothesis_words"]), int(data["substitutions"]), int(data["deletions"]),
                      int(data["insertions"]), recall,
                      tuple(Substitution(s["reference"], s["hypothesis"], int(s["count"]))
                            for s in data.get("top_substitutions", ())))


def load_report(out_dir: Path) -> Report:
    """A report `write_report` wrote (report.json and its VTTs), read back so it can be shown without
    re-running; its sets' paths resolved against `out_dir` (see `_located`). One InputError line when it is
    missing, unreadable or from another version."""
    out_dir = Path(out_dir)
    path = out_dir / "report.json"
    if not path.is_file():
        raise InputError(f"no evaluation report in {out_dir}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: cannot read it ({err})") from None
    if not isinstance(data, dict) or data.get("version") != REPORT_VERSION:
        raise InputError(f"{path}: not a version {REPORT_VERSION} evaluation report; evaluate again")
    try:
        sets = [EvalSet(_located(s["audio"], out_dir), _located(s["captions"], out_dir), s["name"])
                for s in (data["main"], *data["controls"])]
        variants = tuple(
            VariantResult(v["name"], v["model"], v["prompt"],
                          tuple(SetResult(s.name, _scores_from(v["sets"][s.name]),
                                          caps.read(out_dir / v["sets"][s.name]["vtt"])) for s in sets))
            for v in data["variants"])
        longform = tuple((name, SetResult(sets[0].name, _scores_from(lf), caps.read(out_dir / lf["vtt"])))
                         for name, lf in data.get("longform", {}).items())
        return Report(data["mode"], data["model"], data["base_model"], sets[0], tuple(sets[1:]),
                      tuple(Keyword(k["term"], tuple(k.get("misheard", ()))) for k in data["keywords"]),
                      variants, float(data.get("seconds", 0.0)), str(data.get("created", "")), longform)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise InputError(f"{path}: malformed report ({type(err).__name__}: {err}); evaluate again") from None


def leaders(values: dict[str, float | None], higher_is_better: bool) -> set[str]:
    """The names holding the best value, ties included; none when nothing differs (emphasis means a difference)."""
    known = {name: value for name, value in values.items() if value is not None}
    if len(set(known.values())) < 2:
        return set()
    best = (max if higher_is_better else min)(known.values())
    return {name for name, value in known.items() if math.isclose(value, best, abs_tol=1e-9)}
