"""Before/after report: WER, CER, keyword recall, per-keyword hits and top substitutions, side by side for
the base model, the base model prompted with the keywords, and the fine-tuned model.

The metrics (`normalize`, `score_texts`) are pure and fast: the trainer computes its eval metrics with them,
so a number in the training table means the same as one in the report.

WER and CER are measured on Whisper's normalised text (its English normaliser with the spelling map, so
"colour" = "color" and "It's" = "it is"); keyword recall on the raw text (see core/vocabulary.py: the
normaliser would turn "Mixtral 8x7B" into "mixtral 8 x 7 b").

Two modes:
- `cues` (default): the audio is cut at each reference cue and each clip decoded on its own (batched greedy,
  no timestamps), so every reference cue has exactly one hypothesis and recall is counted per cue. This
  measures what fine-tuning changes (recognition), not segmentation.
- `longform`: the whole recording goes through core.transcribe (what a user gets) and is scored as one text.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from core import audio as audio_io
from core import captions as caps
from core.captions import Captions, Cue
from core.errors import InputError
from core.events import Done, EventHandler, Progress, ignore
from core.files import atomic_write_text
from core.languages import is_english
from core.models import DEFAULT_MODEL, ResolvedModel, resolve, trained_language
from core.repetition import is_loop
from core.vocabulary import Keyword, KeywordLike, KeywordRecall, KeywordScore, keyword_recall

MODES = ("cues", "longform")
BASELINE, PROMPTED, FINE_TUNED = "baseline", "prompted", "fine-tuned"
TOP_SUBSTITUTIONS = 15
DEFAULT_BATCH = 8
REPORT_VERSION = 1


# ---------------------------------------------------------------------------- metrics


@lru_cache(maxsize=2)
def _normalizer(english: bool) -> Callable[[str], str]:
    if english:
        from whisper_normalizer.english import EnglishTextNormalizer

        return EnglishTextNormalizer()
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer()


def normalize(text: str, english: bool = True) -> str:
    """Text as WER sees it: Whisper's English normaliser (numbers, contractions, US spelling), or its
    basic one for other languages; single spaces. Never for keyword matching."""
    return " ".join(_normalizer(english)(text).split())


@dataclass(frozen=True)
class Substitution:
    """A reference word the model wrote as another word, and how often (normalised text)."""

    reference: str
    hypothesis: str
    count: int


@dataclass(frozen=True)
class TextScores:
    """Word and character error rates (fractions) with their counts, keyword recall and top substitutions."""

    wer: float
    cer: float
    reference_words: int
    hypothesis_words: int
    substitutions: int
    deletions: int
    insertions: int
    keywords: KeywordRecall
    top_substitutions: tuple[Substitution, ...] = ()

    @property
    def recall(self) -> float | None:
        """Overall keyword recall; None when no keyword occurs in the references."""
        return self.keywords.overall

    def as_dict(self) -> dict:
        return {"wer": self.wer, "cer": self.cer, "recall": self.recall, "reference_words": self.reference_words,
                "hypothesis_words": self.hypothesis_words, "substitutions": self.substitutions,
                "deletions": self.deletions, "insertions": self.insertions, "keywords": self.keywords.as_dict(),
                "top_substitutions": [asdict(s) for s in self.top_substitutions]}


def _error_rate(errors: int, reference_units: int) -> float:
    """errors / reference length; with an empty reference, any output is 100 % wrong and none is 0 %."""
    if reference_units:
        return errors / reference_units
    return 1.0 if errors else 0.0


def score_texts(references: Sequence[str], hypotheses: Sequence[str], keywords: Iterable[KeywordLike] = (),
                english: bool = True, top: int = TOP_SUBSTITUTIONS) -> TextScores:
    """Score aligned (reference, hypothesis) pairs: WER/CER over all pairs on normalised text, keyword recall
    per pair on raw text, and the `top` most frequent word substitutions."""
    import jiwer

    if isinstance(references, str) or isinstance(hypotheses, str):
        raise TypeError("score_texts takes lists of texts (aligned pairs), not one string")
    if len(references) != len(hypotheses):
        raise InputError(f"cannot score {len(references)} references against {len(hypotheses)} hypotheses")
    recall = keyword_recall(list(references), list(hypotheses), keywords)
    refs = [normalize(t, english) for t in references]
    hyps = [normalize(t, english) for t in hypotheses]
    if not refs:
        return TextScores(0.0, 0.0, 0, 0, 0, 0, 0, recall)
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    ref_words = sum(len(r) for r in words.references)
    ref_chars = sum(len(r) for r in chars.references)
    word_errors = words.substitutions + words.deletions + words.insertions
    char_errors = chars.substitutions + chars.deletions + chars.insertions
    return TextScores(
        wer=_error_rate(word_errors, ref_words), cer=_error_rate(char_errors, ref_chars),
        reference_words=ref_words, hypothesis_words=sum(len(h) for h in words.hypotheses),
        substitutions=words.substitutions, deletions=words.deletions, insertions=words.insertions,
        keywords=recall, top_substitutions=_top_substitutions(words, top))


def _top_substitutions(output, top: int) -> tuple[Substitution, ...]:
    """Count (reference word → hypothesis word) pairs in jiwer's alignment; most frequent first, then A-Z."""
    pairs: Counter[tuple[str, str]] = Counter()
    for ref, hyp, chunks in zip(output.references, output.hypotheses, output.alignments, strict=True):
        for chunk in chunks:
            if chunk.type == "substitute":
                pairs.update(zip(ref[chunk.ref_start_idx:chunk.ref_end_idx],
                                 hyp[chunk.hyp_start_idx:chunk.hyp_end_idx], strict=True))
    ranked = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Substitution(r, h, n) for (r, h), n in ranked[:top])


# ---------------------------------------------------------------------------- report data


@dataclass(frozen=True)
class EvalSet:
    """A recording with its reference captions; `name` labels its report column and its VTT files."""

    name: str
    audio: Path
    captions: Path


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


# ---------------------------------------------------------------------------- decoding clips


class ClipDecoder:
    """One transformers Whisper, loaded once: batched greedy decoding of ≤ 30 s clips without timestamps.
    Each batch is encoded once and decoded once per prompt, so `baseline` and `prompted` share the encoder."""

    def __init__(self, model: ResolvedModel, device: str = "auto", language: str | None = None) -> None:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        from core.transcribe import pick_device

        self.torch = torch
        self.device = pick_device(device)
        self.processor = WhisperProcessor.from_pretrained(model.hf_dir)
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.model = WhisperForConditionalGeneration.from_pretrained(model.hf_dir, dtype=dtype)
        self.model.to(self.device).eval()
        self.generate_kwargs: dict = {"num_beams": 1, "do_sample": False, "return_timestamps": False}
        if model.multilingual:
            self.generate_kwargs.update(task="transcribe", language=language)

    def prompt_ids(self, prompt: str):
        """The prompt as decoder prefix ids, cut from the front to Whisper's limit (half the context)."""
        ids = self.processor.get_prompt_ids(prompt, return_tensors="pt")
        limit = self.model.config.max_target_positions // 2 - 1
        if len(ids) > limit:
            ids = self.torch.cat([ids[:1], ids[-(limit - 1):]])
        return ids.to(self.device)

    def decode(self, clips: Sequence[np.ndarray], prompts: Sequence[str | None], batch_size: int = DEFAULT_BATCH,
               on_batch: Callable[[int], None] = lambda n: None) -> list[list[str]]:
        """Texts per prompt (None: no prompt), each aligned with `clips`; an empty clip decodes to ""."""
        torch = self.torch
        prompt_ids = [self.prompt_ids(p) if p else None for p in prompts]
        texts = [[""] * len(clips) for _ in prompts]
        # longest first: a batch decodes as many steps as its longest clip needs, so batch alike lengths
        todo = sorted((i for i, clip in enumerate(clips) if clip.size), key=lambda i: -clips[i].size)
        for first in range(0, len(todo), batch_size):
            batch = todo[first:first + batch_size]
            features = self.processor([clips[i] for i in batch], sampling_rate=audio_io.SAMPLE_RATE,
                                      return_tensors="pt").input_features.to(self.device, self.model.dtype)
            with torch.inference_mode():
                encoded = self.model.get_encoder()(features)
                for k, ids in enumerate(prompt_ids):
                    kwargs = dict(self.generate_kwargs, prompt_ids=ids) if ids is not None else self.generate_kwargs
                    tokens = self.model.generate(encoder_outputs=encoded, **kwargs)
                    for i, text in zip(batch, self.processor.batch_decode(tokens, skip_special_tokens=True),
                                       strict=True):
                        texts[k][i] = caps.clean_text(text)
            on_batch(len(batch) * len(prompts))
        return texts


# ---------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class _Options:
    engine: str
    batch_size: int
    device: str
    language: str | None


@dataclass(frozen=True)
class _Pass:
    """One loaded model and the variants it produces: (name, keyword terms it is prompted with)."""

    model: ResolvedModel
    variants: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass
class _Tally:
    """Progress of the whole evaluation in one unit (clips or recordings)."""

    on_event: EventHandler
    total: int
    unit: str
    done: int = 0

    def advance(self, n: int, message: str = "") -> None:
        self.done += n
        self.on_event(Progress("evaluate", self.done, self.total, self.unit, message))


def _sets(audio: Path, captions: Path, controls: Iterable[EvalSet | tuple[Path, Path]]) -> tuple[EvalSet, ...]:
    """The main set then the controls, each named after its captions file (made unique), files checked; paths made
    absolute, so the report in memory does not depend on the cwd either."""
    pairs = [(Path(audio), Path(captions))]
    pairs += [(c.audio, c.captions) if isinstance(c, EvalSet) else (Path(c[0]), Path(c[1])) for c in controls]
    sets: list[EvalSet] = []
    for audio_path, captions_path in pairs:
        for path, what in ((audio_path, "audio"), (captions_path, "captions")):
            if not path.is_file():
                raise InputError(f"{what} file not found: {path}")
        name, n = captions_path.stem, 1
        while any(s.name == name for s in sets):
            n += 1
            name = f"{captions_path.stem}-{n}"
        sets.append(EvalSet(name, audio_path.absolute(), captions_path.absolute()))
    return tuple(sets)


def _reference(eval_set: EvalSet) -> Captions:
    """Reference captions; a block that could not be read would silently skew every number, so it stops here."""
    captions = caps.read(eval_set.captions)
    errors = [p for p in captions.problems if p.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(f"{eval_set.captions}: {errors[0]}{more}; fix it first (whisper-tui check)")
    if not captions.cues:
        raise InputError(f"{eval_set.captions}: no cues to evaluate against")
    return captions


def resolve_run(spec: str | Path) -> tuple[str, str | None]:
    """A `whisper-tui train` run directory → (its merged model, the base model named in its report.json);
    anything else → (spec, None)."""
    path = Path(spec).expanduser()
    if not (path / "merged").is_dir():
        return str(spec), None
    base = None
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no report yet: the caller's default
        base = json.loads((path / "report.json").read_text(encoding="utf-8")).get("base_model")
    return str(path / "merged"), str(base) if base else None


def evaluate(model: str | Path, audio: Path, captions: Path, keywords: Iterable[KeywordLike] = (),
             baseline: str | None = None, controls: Iterable[EvalSet | tuple[Path, Path]] = (),
             prompted: bool = True, mode: str = "cues", out_dir: Path | None = None,
             on_event: EventHandler = ignore, *, engine: str = "auto", batch_size: int = DEFAULT_BATCH,
             device: str = "auto", language: str | None = None, longform: bool = False) -> Report:
    """Score `baseline` (default tiny.en), the baseline prompted with the keywords, and `model` on the main set
    and each control; write the report into `out_dir` when given. A model equal to the baseline is one row.

    `longform` (cues mode): also transcribe the main recording whole, timestamps on, with the baseline and the
    fine-tuned model, scored like the per-cue figure (the way the model will be used afterwards).
    `engine` applies to long-form transcription only; `language` (multilingual models) also picks the normaliser."""
    from core.transcribe import keyword_prompt

    if mode not in MODES:
        raise InputError(f"unknown evaluation mode {mode!r} (choose from {', '.join(MODES)})")
    if batch_size < 1:
        raise InputError("batch size must be at least 1")
    started = time.monotonic()
    unique: dict[str, Keyword] = {}  # one row per keyword, as keywords.txt merges them
    for k in keywords:
        k = k if isinstance(k, Keyword) else Keyword(" ".join(str(k).split()))
        unique.setdefault(k.term.casefold(), k)
    keywords = tuple(unique.values())
    sets = _sets(audio, captions, controls)
    references = [_reference(s) for s in sets]
    base_spec = str(baseline or DEFAULT_MODEL)
    base = resolve(base_spec, on_event)
    tuned = resolve(model, on_event)
    if language is None and base.multilingual:  # both decode in the language the model was fine-tuned for
        language = trained_language(tuned)
    terms = tuple(k.term for k in keywords) if prompted else ()
    passes = [_Pass(base, ((BASELINE, ()),) + (((PROMPTED, terms),) if terms else ()))]
    if tuned.hf_dir.resolve() != base.hf_dir.resolve():
        passes.append(_Pass(tuned, ((FINE_TUNED, ()),)))
    options = _Options(engine, batch_size, device, language)
    run = _run_cues if mode == "cues" else _run_longform
    hypotheses = run(passes, sets, references, options, on_event)
    english = is_english(language)
    variants = []
    for p in passes:
        for name, variant_terms in p.variants:
            results = tuple(_score(s, ref, hyp, keywords, english, mode)
                            for s, ref, hyp in zip(sets, references, hypotheses[name], strict=True))
            variants.append(VariantResult(name, p.model.spec, keyword_prompt(variant_terms) or None, results))
    whole: tuple[tuple[str, SetResult], ...] = ()
    if longform and mode == "cues":
        unprompted = [_Pass(p.model, tuple(v for v in p.variants if not v[1])) for p in passes]
        transcripts = _run_longform(unprompted, sets[:1], references[:1], options, on_event)
        whole = tuple((name, _score(sets[0], references[0], texts[0], keywords, english, "longform"))
                      for name, texts in transcripts.items())
    report = Report(mode, str(model), base_spec, sets[0], sets[1:], keywords, tuple(variants),
                    seconds=time.monotonic() - started, longform=whole)
    if out_dir is not None:
        write_report(report, out_dir)
    on_event(Done("evaluate", report))
    return report


def _score(eval_set: EvalSet, reference: Captions, hypothesis: Captions, keywords: tuple[Keyword, ...],
           english: bool, mode: str) -> SetResult:
    if mode == "cues":  # aligned cue pairs
        scores = score_texts([c.text for c in reference.cues], [c.text for c in hypothesis.cues], keywords, english)
    else:
        scores = score_texts([reference.text], [hypothesis.text], keywords, english)
    return SetResult(eval_set.name, scores, hypothesis)


def _run_cues(passes: list[_Pass], sets: Sequence[EvalSet], references: Sequence[Captions], options: _Options,
              on_event: EventHandler) -> dict[str, list[Captions]]:
    """Each reference cue's clip decoded by every variant; the hypothesis keeps the reference cue's timing."""
    from core.transcribe import keyword_prompt

    clips = []
    for s, ref in zip(sets, references, strict=True):
        samples = audio_io.load_audio(s.audio)  # one decode per file, then cut
        clips.append([audio_io.slice_ms(samples, c.start, c.end) for c in ref.cues])
    tally = _Tally(on_event, sum(len(p.variants) for p in passes) * sum(len(c) for c in clips), "clips")
    tally.advance(0)
    out: dict[str, list[Captions]] = {}
    for p in passes:
        decoder = ClipDecoder(p.model, options.device, options.language)
        names = [name for name, _ in p.variants]
        prompts = [keyword_prompt(terms) or None for _, terms in p.variants]
        for s, ref, set_clips in zip(sets, references, clips, strict=True):
            texts = decoder.decode(set_clips, prompts, options.batch_size,
                                   partial(tally.advance, message=f"{' + '.join(names)} on {s.name}"))
            for name, hyps in zip(names, texts, strict=True):
                cues = [Cue(c.start, c.end, text, c.id) for c, text in zip(ref.cues, hyps, strict=True)]
                out.setdefault(name, []).append(Captions(cues=cues, language=ref.language))
        del decoder  # free one model before loading the next
    return out


def _run_longform(passes: list[_Pass], sets: Sequence[EvalSet], references: Sequence[Captions],
                  options: _Options, on_event: EventHandler) -> dict[str, list[Captions]]:
    """Each recording transcribed whole, as `whisper-tui transcribe` would (the prompted variant with the
    keywords as the engine's prompt/hotwords); one engine load per variant."""
    from core.transcribe import TranscribeOptions, load_engine, transcribe

    tally = _Tally(on_event, sum(len(p.variants) for p in passes) * len(sets), "recordings")
    tally.advance(0)
    out: dict[str, list[Captions]] = {}
    for p in passes:
        for name, terms in p.variants:
            engine = load_engine(p.model, TranscribeOptions(engine=options.engine, language=options.language,
                                                            keywords=terms, word_timestamps=False,
                                                            device=options.device))
            for s in sets:
                out.setdefault(name, []).append(transcribe(s.audio, engine, on_event))
                tally.advance(1, f"{name} on {s.name}")
            del engine
    return out


# ---------------------------------------------------------------------------- reading a report back (the TUI)


def list_runs(runs_dir: Path) -> list[Path]:
    """Run folders under `runs_dir` that hold a merged model (what can be evaluated), newest first."""
    try:
        runs = [p for p in Path(runs_dir).iterdir() if (p / "merged").is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(runs, key=lambda p: ((p / "merged").stat().st_mtime, p.name), reverse=True)


def evaluation_dir(run_dir: Path) -> Path:
    """Where a run's evaluation goes: beside train's report.json, as `whisper-tui evaluate -m RUN_DIR` puts it."""
    return Path(run_dir) / "evaluation"


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
        sets = [EvalSet(s["name"], _located(s["audio"], out_dir), _located(s["captions"], out_dir))
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


# ---------------------------------------------------------------------------- reference beside hypothesis

DiffOp = str  # "equal", "substitute", "delete" (reference words only) or "insert" (hypothesis words only)


@dataclass(frozen=True)
class WordMark:
    """One raw word of a text (its character span) and what the word alignment made of it."""

    start: int
    end: int
    op: DiffOp


@dataclass(frozen=True)
class WordDiff:
    """Both texts' words marked: what a view highlights (substitutions, deletions, insertions)."""

    reference: tuple[WordMark, ...]
    hypothesis: tuple[WordMark, ...]

    def count(self, op: DiffOp) -> int:
        marks = self.hypothesis if op == "insert" else self.reference
        return sum(m.op == op for m in marks)

    @property
    def errors(self) -> int:
        return self.count("substitute") + self.count("delete") + self.count("insert")


_WORD = re.compile(r"\S+")


@lru_cache(maxsize=65536)
def _word_key(word: str, english: bool) -> str:
    return normalize(word, english).replace(" ", "")


def diff_words(reference: str, hypothesis: str, english: bool = True) -> WordDiff:
    """Align the raw words of two texts with jiwer, each word compared as WER sees it (normalised on its own, so
    "Colour," equals "color"), keeping character spans so the raw text can be highlighted. Words the normaliser
    drops (fillers, lone punctuation) are never errors. Approximate where normalising splits or joins words
    ("it's" / "it is"); the report's WER is the exact number."""
    import jiwer

    def words(text: str) -> tuple[list[tuple[int, int]], list[str]]:
        found = [(m.start(), m.end(), _word_key(m.group(), english)) for m in _WORD.finditer(text)]
        return [(s, e) for s, e, _ in found], [key for _, _, key in found]

    ref_spans, ref_keys = words(reference)
    hyp_spans, hyp_keys = words(hypothesis)
    ref_ops = ["equal"] * len(ref_spans)
    hyp_ops = ["equal"] * len(hyp_spans)
    ref_index = [i for i, k in enumerate(ref_keys) if k]
    hyp_index = [i for i, k in enumerate(hyp_keys) if k]
    if not ref_index or not hyp_index:
        for i in ref_index:
            ref_ops[i] = "delete"
        for i in hyp_index:
            hyp_ops[i] = "insert"
    else:
        chunks = jiwer.process_words(" ".join(ref_keys[i] for i in ref_index),
                                     " ".join(hyp_keys[i] for i in hyp_index)).alignments[0]
        for chunk in chunks:
            for k in range(chunk.ref_start_idx, chunk.ref_end_idx):  # empty for an insertion
                ref_ops[ref_index[k]] = chunk.type
            for k in range(chunk.hyp_start_idx, chunk.hyp_end_idx):  # empty for a deletion
                hyp_ops[hyp_index[k]] = chunk.type
    return WordDiff(tuple(WordMark(s, e, op) for (s, e), op in zip(ref_spans, ref_ops, strict=True)),
                    tuple(WordMark(s, e, op) for (s, e), op in zip(hyp_spans, hyp_ops, strict=True)))


@dataclass(frozen=True)
class Comparison:
    """A reference text beside one variant's re-transcription: a cue (cues mode) or the whole recording."""

    index: int
    start: int
    end: int
    reference: str
    hypothesis: str
    diff: WordDiff


def reference_captions(report: Report, set_name: str | None = None) -> Captions:
    """The reference captions a report was scored against (read again from where the report says they are)."""
    eval_set = next((s for s in (report.main, *report.controls) if s.name == (set_name or report.main.name)),
                    report.main)
    return _reference(eval_set)


def compare(report: Report, variant: str, reference: Captions, set_name: str | None = None,
            english: bool = True) -> list[Comparison]:
    """Each reference cue beside the variant's text for it (paired by timing, which cues mode keeps; a cue
    with no hypothesis compares against ""), or in longform mode the whole texts as one comparison."""
    found = report.variant(variant)
    if found is None:
        raise InputError(f"the report has no {variant!r} row")
    hypothesis = found.on(set_name or report.main.name).hypothesis
    if report.mode != "cues":
        end = reference.cues[-1].end if reference.cues else 0
        return [Comparison(0, 0, end, reference.text, hypothesis.text,
                           diff_words(reference.text, hypothesis.text, english))]
    by_time = {(c.start, c.end): c.text for c in hypothesis.cues}
    return [Comparison(i, c.start, c.end, c.text, by_time.get((c.start, c.end), ""),
                       diff_words(c.text, by_time.get((c.start, c.end), ""), english))
            for i, c in enumerate(reference.cues)]


# ---------------------------------------------------------------------------- Hub


def push_model(run_dir: Path, repo_id: str, private: bool = True) -> str:
    """Upload a run's merged model (weights, config and processor files, as `save_pretrained` wrote them) and its
    evaluation report (as evaluation.md, when there is one) to a private Hub model repo; returns the repo's URL.
    Offline, no token, or a refused upload is one JobError/InputError line (the token never shown)."""
    from huggingface_hub import HfApi

    from core.hub import no_hub_bars, one_line_errors, ready_to_push

    merged = Path(run_dir) / "merged"
    if not (merged / "config.json").is_file():
        raise InputError(f"{run_dir}: no merged model to push (train the run to the end first)")
    token = ready_to_push(repo_id)
    api = HfApi(token=token)
    with one_line_errors(repo_id, token), no_hub_bars():
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        full_id = url.repo_id or repo_id  # a bare name lands in the token owner's namespace: upload there
        api.upload_folder(repo_id=full_id, folder_path=str(merged), commit_message="whisper-tui: fine-tuned model")
        report = evaluation_dir(run_dir) / "report.md"
        if report.is_file():
            api.upload_file(path_or_fileobj=str(report), path_in_repo="evaluation.md", repo_id=full_id,
                            commit_message="whisper-tui: evaluation report")
    return str(url)
