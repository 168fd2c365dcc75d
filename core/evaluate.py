"""Before/after report: WER, CER, keyword recall, per-keyword hits and top substitutions, side by side for
the base model, the base model prompted with the keywords, and the fine-tuned model. The metrics are
core/scores.py's (the trainer computes its eval metrics with them); the `Report`, its tables and its files are
core/report.py's.

Two modes:
- `cues` (default): the audio is cut at each reference cue and each clip decoded on its own (batched greedy,
  no timestamps), so every reference cue has exactly one hypothesis and recall is counted per cue. This
  measures what fine-tuning changes (recognition), not segmentation.
- `longform`: the whole recording goes through core.transcribe (what a user gets) and is scored as one text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from core import audio as audio_io
from core import captions as caps
from core.captions import Captions, Cue, Recording
from core.errors import InputError
from core.events import QUIET, Done, Job, Progress
from core.languages import is_english
from core.models import DEFAULT_MODEL, ResolvedModel, resolve, trained_language
from core.report import (
    BASELINE,
    FINE_TUNED,
    PROMPTED,
    EvalSet,
    Report,
    SetResult,
    VariantResult,
    write_report,
)
from core.runs import MERGED, base_model, evaluation_dir, finished
from core.scores import normalize, score_texts
from core.vocabulary import Keyword, KeywordLike

MODES = ("cues", "longform")
DEFAULT_BATCH = 8


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
    """Progress of the whole evaluation in one unit (clips or recordings); each step is a safe point to cancel at
    (one batch of clips, one recording)."""

    job: Job
    total: int
    unit: str
    done: int = 0

    def advance(self, n: int, message: str = "") -> None:
        self.done += n
        self.job.emit(Progress("evaluate", self.done, self.total, self.unit, message))
        self.job.check("evaluation cancelled")


def _sets(audio: Path, captions: Path, controls: Iterable[Recording | tuple[Path, Path]]) -> tuple[EvalSet, ...]:
    """The main set then the controls, each named after its captions file (made unique), files checked; paths made
    absolute, so the report in memory does not depend on the cwd either."""
    pairs = [(Path(audio), Path(captions))]
    pairs += [(c.audio, c.captions) if isinstance(c, Recording) else (Path(c[0]), Path(c[1])) for c in controls]
    sets: list[EvalSet] = []
    for audio_path, captions_path in pairs:
        for path, what in ((audio_path, "audio"), (captions_path, "captions")):
            if not path.is_file():
                raise InputError(f"{what} file not found: {path}")
        name, n = captions_path.stem, 1
        while any(s.name == name for s in sets):
            n += 1
            name = f"{captions_path.stem}-{n}"
        sets.append(EvalSet(audio_path.absolute(), captions_path.absolute(), name))
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
    if not finished(path):
        return str(spec), None
    return str(path / MERGED), base_model(path)  # no report yet: None, the caller's default


def evaluate(model: str | Path, audio: Path, captions: Path, keywords: Iterable[KeywordLike] = (),
             baseline: str | None = None, controls: Iterable[Recording | tuple[Path, Path]] = (),
             prompted: bool = True, mode: str = "cues", out_dir: Path | None = None,
             job: Job = QUIET, *, engine: str = "auto", batch_size: int = DEFAULT_BATCH,
             device: str = "auto", language: str | None = None, longform: bool = False) -> Report:
    """Score `baseline` (default tiny.en), the baseline prompted with the keywords, and `model` on the main set
    and each control; write the report into `out_dir` when given. A model equal to the baseline is one row.

    `longform` (cues mode): also transcribe the main recording whole, timestamps on, with the baseline and the
    fine-tuned model, scored like the per-cue figure (the way the model will be used afterwards).
    `engine` applies to long-form transcription only; `language` (multilingual models) also picks the normaliser.
    A cancel (`job`) lands after the batch or recording being decoded; nothing is written then."""
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
    base = resolve(base_spec, job.emit)
    tuned = resolve(model, job.emit)
    if language is None and base.multilingual:  # both decode in the language the model was fine-tuned for
        language = trained_language(tuned)
    terms = tuple(k.term for k in keywords) if prompted else ()
    passes = [_Pass(base, ((BASELINE, ()),) + (((PROMPTED, terms),) if terms else ()))]
    if tuned.hf_dir.resolve() != base.hf_dir.resolve():
        passes.append(_Pass(tuned, ((FINE_TUNED, ()),)))
    options = _Options(engine, batch_size, device, language)
    run = _run_cues if mode == "cues" else _run_longform
    hypotheses = run(passes, sets, references, options, job)
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
        transcripts = _run_longform(unprompted, sets[:1], references[:1], options, job)
        whole = tuple((name, _score(sets[0], references[0], texts[0], keywords, english, "longform"))
                      for name, texts in transcripts.items())
    report = Report(mode, str(model), base_spec, sets[0], sets[1:], keywords, tuple(variants),
                    seconds=time.monotonic() - started, longform=whole)
    if out_dir is not None:
        write_report(report, out_dir)
    job.emit(Done("evaluate", report))
    return report


def _score(eval_set: EvalSet, reference: Captions, hypothesis: Captions, keywords: tuple[Keyword, ...],
           english: bool, mode: str) -> SetResult:
    if mode == "cues":  # aligned cue pairs
        scores = score_texts([c.text for c in reference.cues], [c.text for c in hypothesis.cues], keywords, english)
    else:
        scores = score_texts([reference.text], [hypothesis.text], keywords, english)
    return SetResult(eval_set.name, scores, hypothesis)


def _run_cues(passes: list[_Pass], sets: Sequence[EvalSet], references: Sequence[Captions], options: _Options,
              job: Job) -> dict[str, list[Captions]]:
    """Each reference cue's clip decoded by every variant; the hypothesis keeps the reference cue's timing."""
    from core.transcribe import keyword_prompt

    clips = []
    for s, ref in zip(sets, references, strict=True):
        samples = audio_io.load_audio(s.audio)  # one decode per file, then cut
        clips.append([audio_io.slice_ms(samples, c.start, c.end) for c in ref.cues])
    tally = _Tally(job, sum(len(p.variants) for p in passes) * sum(len(c) for c in clips), "clips")
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
                  options: _Options, job: Job) -> dict[str, list[Captions]]:
    """Each recording transcribed whole, as `whisper-tui transcribe` would (the prompted variant with the
    keywords as the engine's prompt/hotwords); one engine load per variant."""
    from core.transcribe import TranscribeOptions, load_engine, transcribe

    tally = _Tally(job, sum(len(p.variants) for p in passes) * len(sets), "recordings")
    tally.advance(0)
    out: dict[str, list[Captions]] = {}
    for p in passes:
        for name, terms in p.variants:
            engine = load_engine(p.model, TranscribeOptions(engine=options.engine, language=options.language,
                                                            keywords=terms, word_timestamps=False,
                                                            device=options.device))
            for s in sets:
                out.setdefault(name, []).append(transcribe(s.audio, engine, job))
                tally.advance(1, f"{name} on {s.name}")
            del engine
    return out


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

    merged = Path(run_dir) / MERGED
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
