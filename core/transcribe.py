"""Audio → timestamped cues, with two engines behind one function.

- `ctranslate2`: faster-whisper on a CTranslate2 model (the fast drafting path; word probabilities).
- `transformers`: any `WhisperForConditionalGeneration` dir, including fine-tuned ones.
`auto` picks ctranslate2 when the model has a CTranslate2 form and faster-whisper is installed.

Long recordings are decoded in blocks (a few minutes each), so memory does not grow with length.
A cue that runs into a block's end is dropped and re-transcribed from its start in the next block,
so block seams never cut a cue.

With keywords, Whisper is prompted with them, and greedy decoding sometimes answers with the prompt itself
("Mixtral 8x7B, Phi-2, Trelis." as a cue; whether it does depends on the CPU's numerics). Such a cue is
decoded again without the prompt. A file that decodes much shorter than its header says gets a warning.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from core import audio as audio_io
from core.captions import Captions, Cue, Word, format_timestamp
from core.errors import Cancelled, InputError, JobError
from core.events import QUIET, Done, EventHandler, Job, Log, Progress
from core.languages import is_listed
from core.models import ResolvedModel, resolve, trained_language

ENGINES = ("auto", "ctranslate2", "transformers")
SEAM_MARGIN_S = 1.0  # a cue ending this close to a block's end may be cut: redo it in the next block
AUTO_BATCH = 8
AUTO_BATCH_FROM_S = 600.0  # batched loses ~4 WER points on the 5-minute bench (no context carried): long files only
MAX_CUE_MS = 7000  # the longest cue a batched draft keeps (longer segments are cut at word boundaries)
# When is a cue the prompt coming back rather than speech? Shares count letters and digits only (commas,
# periods and hyphens are the prompt's separators). Measured on tiny.en's drafts of sample_data/:
# - ECHO_SHARE: two or more keyword occurrences make up this share of the cue. "Mixtral 8x7B, Phi-2,
#   Trelis." is 100 %, a "Trelis, Trelis, …" loop ~99 %; a real sentence carries other words ("compare
#   Mixtral 8x7B and Llama 70B" is 19/29) and even a bare "Mixtral 8x7B and Llama 70B" is 86 %.
# - ECHO_RUN terms in the prompt's order with only separators between them, making up ECHO_RUN_SHARE of the
#   cue: the prompt echoed after a real start ("On MMLU, Mixtral 8x7B, Phi-2, Trelis.com." is 21/30), while
#   a real list names its terms among other words ("we compare Mixtral 8x7B, Llama 70B, Phi-2 and Trelis
#   models today": 23/52). A shorter run inside a sentence ("converts Phi-2, Trelis.com") goes unnoticed.
ECHO_SHARE = 0.9
ECHO_RUN = 3
ECHO_RUN_SHARE = 0.5
MIN_REDECODE_S = 0.5  # an echo shorter than this holds no speech worth decoding (Whisper hallucinates on it)


@dataclass(frozen=True)
class TranscribeOptions:
    """How to transcribe. `keywords` bias decoding (faster-whisper hotwords / transformers prompt)."""

    engine: str = "auto"
    language: str | None = None
    task: str = "transcribe"
    beam_size: int = 5
    keywords: tuple[str, ...] = ()
    word_timestamps: bool = True
    device: str = "auto"
    block_s: float = 300.0
    threads: int = 0  # 0: all cores
    # 0 (auto): faster-whisper's batched pipeline over speech found by VAD, AUTO_BATCH windows at a time, for a block
    # of at least AUTO_BATCH_FROM_S (long recordings; bench/RESULTS.md "Transcription"), sequential below it;
    # 1: always sequential; N > 1: always batched, N at a time (ctranslate2 engine)
    batch_size: int = 0


@dataclass
class BlockResult:
    cues: list[Cue] = field(default_factory=list)
    language: str | None = None


class Engine(Protocol):
    """Decodes one block; `prompt=False` leaves the keyword prompt out (to re-decode an echoed window)."""

    name: str
    options: TranscribeOptions

    def run(self, samples: np.ndarray, offset_ms: int, on_cue, prompt: bool = True) -> BlockResult: ...


def pick_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def keyword_prompt(keywords: tuple[str, ...] | list[str]) -> str:
    """The keywords as one short, natural prompt Whisper conditions on."""
    return ", ".join(k.strip() for k in keywords if k.strip()) + "." if keywords else ""


_ALNUM = re.compile(r"[^\W_]", re.UNICODE)


def is_prompt_echo(text: str, keywords: tuple[str, ...] | list[str]) -> bool:
    """True when a cue is the keyword prompt repeated rather than speech: its text is the prompt; or keyword
    terms make up nearly all of it (a list, a loop); or it holds a run of terms in the prompt's order, joined
    only by separators, that makes up most of it (see ECHO_SHARE and ECHO_RUN for the measured lines)."""
    terms = list(dict.fromkeys(k.strip() for k in keywords if k.strip()))
    if not terms or not text.strip():
        return False
    if _letters(text) == _letters(keyword_prompt(terms)):
        return True
    spans = _term_spans(text, terms)
    if len(spans) < 2:
        return False
    size = len(_ALNUM.findall(text))

    def share(found: list[tuple[int, int, int]]) -> float:
        return sum(len(_ALNUM.findall(text[start:end])) for start, end, _ in found) / size

    if share(spans) >= ECHO_SHARE:
        return True
    run_min = max(2, min(ECHO_RUN, len(terms)))
    run = [spans[0]]
    for span in spans[1:]:
        joined = not _ALNUM.search(text[run[-1][1]:span[0]])
        run = [*run, span] if joined and span[2] > run[-1][2] else [span]
        if len(run) >= run_min and share(run) >= ECHO_RUN_SHARE:
            return True
    return False


def _term_spans(text: str, terms: list[str]) -> list[tuple[int, int, int]]:
    """(start, end, index in `terms`) of each term in `text`, in order, never overlapping (longest wins).

    Looser than keyword matching (core.vocabulary): an echo may run on into junk ("Trelis.com"), which
    still shows the term was written; a space or hyphen inside a term matches either, as there."""
    found = []
    for index, term in enumerate(terms):
        parts = [re.escape(part) for part in re.split(r"[\s\-\u2010\u2011]+", term) if part]
        pattern = re.compile(r"(?<!\w)" + r"[\s\-\u2010\u2011]+".join(parts) + r"(?!\w)", re.IGNORECASE)
        found += [(m.start(), m.end(), index) for m in pattern.finditer(text) if m.end() > m.start()]
    found.sort(key=lambda span: (span[0], span[0] - span[1]))
    chosen: list[tuple[int, int, int]] = []
    for span in found:
        if not chosen or span[0] >= chosen[-1][1]:
            chosen.append(span)
    return chosen


def _letters(text: str) -> str:
    return "".join(_ALNUM.findall(text)).casefold()


def _check_options(model: ResolvedModel, options: TranscribeOptions) -> None:
    if options.engine not in ENGINES:
        raise InputError(f"unknown engine {options.engine!r} (choose from {', '.join(ENGINES)})")
    if options.task not in ("transcribe", "translate"):
        raise InputError(f"unknown task {options.task!r} (transcribe or translate)")
    if not model.multilingual and (options.language not in (None, "en") or options.task == "translate"):
        raise InputError(f"model {model.spec} is English-only: it cannot take language "
                         f"{options.language!r} or task {options.task!r}; use a multilingual model (base)")
    if options.beam_size < 1 or options.batch_size < 0:
        raise InputError("beam size must be at least 1 and batch size at least 0 (0: automatic)")
    if options.language is not None and not is_listed(options.language):
        from core.train_config import flag

        raise InputError(f"Whisper does not list the language {options.language!r}: a model fine-tuned for it (train "
                         f"{flag('language')} {options.language} {flag('language_token')} cy) decodes under the token "
                         "it was trained with; leave the language out")


class FasterWhisperEngine:
    """faster-whisper (CTranslate2) on the model's CTranslate2 directory."""

    name = "ctranslate2"

    def __init__(self, model: ResolvedModel, options: TranscribeOptions) -> None:
        import ctranslate2
        from faster_whisper import WhisperModel

        device = options.device
        if device == "auto":  # asked of CTranslate2: importing torch here would cost 2 s and 200 MB
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        self.options = options
        self.model = WhisperModel(
            str(model.ct2_dir), device=device, compute_type="int8" if device == "cpu" else "float16",
            cpu_threads=options.threads or (os.cpu_count() or 1), local_files_only=True)

    def run(self, samples: np.ndarray, offset_ms: int, on_cue, prompt: bool = True) -> BlockResult:
        opts = self.options
        hotwords = keyword_prompt(opts.keywords) if prompt else ""
        common = dict(language=opts.language, task=opts.task, beam_size=opts.beam_size, hotwords=hotwords or None)
        batch_size = opts.batch_size or (AUTO_BATCH if len(samples) >= AUTO_BATCH_FROM_S * audio_io.SAMPLE_RATE else 1)
        if batch_size > 1:
            # speech windows found by VAD, decoded `batch_size` at a time; each comes back as one segment of up to
            # 30 s, cut into readable cues at word boundaries (the words are needed for that, shown or not)
            segments, info = self._batched().transcribe(samples, batch_size=batch_size, word_timestamps=True,
                                                        **common)
        else:
            segments, info = self.model.transcribe(samples, word_timestamps=opts.word_timestamps,
                                                   condition_on_previous_text=True, **common)
        result = BlockResult(language=info.language)
        for segment in segments:
            words = tuple(
                Word(offset_ms + round(w.start * 1000), offset_ms + round(w.end * 1000), w.word.strip(),
                     round(float(w.probability), 4))
                for w in (segment.words or ()))
            cue = Cue(offset_ms + round(segment.start * 1000), offset_ms + round(segment.end * 1000),
                      segment.text.strip(), words=words)
            for part in readable_cues(cue) if batch_size > 1 else [cue]:
                part = part if opts.word_timestamps else Cue(part.start, part.end, part.text)
                result.cues.append(part)
                on_cue(part)
        return result

    def _batched(self):
        from faster_whisper import BatchedInferencePipeline

        if getattr(self, "_pipeline", None) is None:
            self._pipeline = BatchedInferencePipeline(self.model)
        return self._pipeline


class TransformersEngine:
    """transformers' own long-form generation (sequential 30 s windows with timestamp tokens)."""

    name = "transformers"

    def __init__(self, model: ResolvedModel, options: TranscribeOptions) -> None:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.torch = torch
        self.options = options
        self.device = pick_device(options.device)
        if options.threads:
            torch.set_num_threads(options.threads)
        self.processor = WhisperProcessor.from_pretrained(model.hf_dir)
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.model = WhisperForConditionalGeneration.from_pretrained(model.hf_dir, dtype=dtype)
        self.model.to(self.device).eval()
        self.multilingual = model.multilingual
        self.prompt_ids = None
        if options.keywords:
            self.prompt_ids = self.processor.get_prompt_ids(keyword_prompt(options.keywords),
                                                            return_tensors="pt").to(self.device)

    def run(self, samples: np.ndarray, offset_ms: int, on_cue, prompt: bool = True) -> BlockResult:
        torch, opts = self.torch, self.options
        inputs = self.processor(samples, sampling_rate=audio_io.SAMPLE_RATE, return_tensors="pt",
                                truncation=False, padding="longest", return_attention_mask=True)
        if inputs.input_features.shape[-1] < 3000:  # short input: pad to one 30 s window
            inputs = self.processor(samples, sampling_rate=audio_io.SAMPLE_RATE, return_tensors="pt",
                                    return_attention_mask=True)
        features = inputs.input_features.to(self.device, self.model.dtype)
        kwargs = dict(attention_mask=inputs.attention_mask.to(self.device), return_timestamps=True,
                      return_segments=True, num_beams=opts.beam_size,
                      return_token_timestamps=opts.word_timestamps, condition_on_prev_tokens=False)
        if self.multilingual:
            kwargs.update(task=opts.task, language=opts.language)
        if prompt and self.prompt_ids is not None:
            kwargs["prompt_ids"] = self.prompt_ids
        with torch.inference_mode():
            output = self.model.generate(features, **kwargs)
        result = BlockResult(language=opts.language or ("en" if not self.multilingual else None))
        segments = output["segments"][0] if isinstance(output, dict) else []
        for segment in segments:
            cue = self._cue(segment, offset_ms)
            if cue.text:
                result.cues.append(cue)
                on_cue(cue)
        return result

    def _cue(self, segment: dict, offset_ms: int) -> Cue:
        tokenizer = self.processor.tokenizer
        tokens = [int(t) for t in segment["tokens"]]
        text = tokenizer.decode(tokens, skip_special_tokens=True).strip()
        start = offset_ms + round(float(segment["start"]) * 1000)
        end = offset_ms + round(float(segment["end"]) * 1000)
        words: list[Word] = []
        stamps = segment.get("token_timestamps")
        if self.options.word_timestamps and stamps is not None:
            words = _words_from_tokens(tokenizer, tokens, [float(s) for s in stamps], offset_ms, end)
        return Cue(start, max(end, start + 1), text, words=tuple(words))


def _words_from_tokens(tokenizer, tokens: list[int], stamps: list[float], offset_ms: int,
                       end_ms: int) -> list[Word]:
    """Group text tokens into words (a word starts at a token with a leading space); a word ends
    where the token after its last one starts."""
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    pieces: list[list] = []  # [text, start_ms, end_ms]
    for index, (token, stamp) in enumerate(zip(tokens, stamps, strict=False)):
        if token >= eot:
            continue
        text = tokenizer.decode([token])
        start = offset_ms + round(stamp * 1000)
        end = offset_ms + round(stamps[index + 1] * 1000) if index + 1 < len(stamps) else end_ms
        if not pieces or text.startswith(" "):
            pieces.append([text, start, end])
        else:
            pieces[-1][0] += text
            pieces[-1][2] = end
    return [Word(start, max(end, start), text.strip(), None) for text, start, end in pieces if text.strip()]


def load_engine(model: ResolvedModel | str | None, options: TranscribeOptions = TranscribeOptions()) -> Engine:
    """Load a model once for many transcriptions (the TUI keeps one around)."""
    if not isinstance(model, ResolvedModel):
        model = resolve(model)
    if options.language is None and (trained := trained_language(model)) is not None:
        options = replace(options, language=trained)  # a model fine-tuned for one language decodes in it
    _check_options(model, options)
    engine = options.engine
    if engine == "auto":
        engine = "ctranslate2" if model.ct2_dir is not None and _has_faster_whisper() else "transformers"
    if engine == "ctranslate2":
        if model.ct2_dir is None:
            raise InputError(f"model {model.spec} has no CTranslate2 form; use --engine transformers "
                             "or export it first (whisper-tui export RUN_DIR --ct2)")
        return FasterWhisperEngine(model, options)
    if options.batch_size > 1:
        raise InputError(f"batched drafting (--batch-size) needs the ctranslate2 engine, and model {model.spec} "
                         "has no CTranslate2 form here (whisper-tui export RUN_DIR --ct2)")
    return TransformersEngine(model, options)


def _has_faster_whisper() -> bool:
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return False
    return True


def transcribe(path: Path, engine: Engine, job: Job = QUIET, block_s: float | None = None) -> Captions:
    """Transcribe an audio file block by block; progress in seconds of audio done; a cancel lands at the next cue.

    Progress never counts audio the file does not hold: a file whose size cannot hold its header's length
    is measured by its size, and one that decodes much shorter than its header ends at what decoded, with a
    warning (a Log) naming both lengths.
    """
    path = Path(path)
    info = audio_io.probe(path)
    total = audio_io.duration_seconds(path, info)
    suspect = audio_io.size_mismatch(info)
    shown = suspect.actual_s if suspect else total  # what the progress bar counts towards
    block_s = float(block_s or getattr(engine, "options", TranscribeOptions()).block_s)
    if block_s < 35:
        raise InputError("block length must be at least 35 s (one Whisper window plus a margin)")
    keywords = tuple(getattr(getattr(engine, "options", None), "keywords", ()) or ())
    cues: list[Cue] = []
    language = None
    start_s = decoded_s = 0.0
    job.emit(Progress("transcribe", 0.0, shown, "s", f"{engine.name} engine"))

    def keep_going(_cue: Cue | None = None) -> None:
        job.check("transcription cancelled")

    def on_cue(cue: Cue) -> None:
        keep_going()
        job.emit(Progress("transcribe", min(cue.end / 1000, shown), shown, "s"))

    while start_s < total - 0.05:
        keep_going()
        samples = audio_io.load_audio(path, start_s=start_s, duration_s=block_s)
        if samples.size == 0:
            break
        offset_ms = round(start_s * 1000)
        try:
            block = engine.run(samples, offset_ms, on_cue)
            if keywords:
                block = _without_echoes(engine, samples, offset_ms, block, keywords, keep_going, job.emit)
        except (Cancelled, InputError):
            raise
        except Exception as err:  # engine internals: report one line, keep the traceback for -v
            first_line = str(err).splitlines()[0] if str(err) else ""
            raise JobError(f"transcription failed ({type(err).__name__}: {first_line})") from err
        language = language or block.language
        block_end_s = start_s + samples.size / audio_io.SAMPLE_RATE
        decoded_s = max(decoded_s, block_end_s)
        # the header duration can overstate what decodes: a short read is the last block too
        final = block_end_s >= total - 0.05 or samples.size < int(block_s * audio_io.SAMPLE_RATE) - 1600
        kept = block.cues if final else [c for c in block.cues if c.end / 1000 <= block_end_s - SEAM_MARGIN_S]
        cues.extend(_clip(kept, round(block_end_s * 1000), cues[-1].end if cues else 0))
        if final:
            break
        next_start = kept[-1].end / 1000 if kept else block_end_s - SEAM_MARGIN_S
        start_s = max(next_start, start_s + 1.0)  # always move forward
    captions = Captions(cues=cues, language=language, source=None)
    if not info.duration_estimated and audio_io.looks_truncated(total, decoded_s):
        job.emit(Log(audio_io.LengthMismatch(path, total, decoded_s).message(), level="warning"))
        job.emit(Progress("transcribe", decoded_s, decoded_s, "s", "stopped where the audio ends"))
    else:
        job.emit(Progress("transcribe", shown, shown, "s"))
    return captions


def _without_echoes(engine: Engine, samples: np.ndarray, offset_ms: int, block: BlockResult,
                    keywords: tuple[str, ...], on_cue, on_event: EventHandler) -> BlockResult:
    """Decode each cue that echoes the keyword prompt again, without the prompt, over the cue's own span
    (where the model placed the speech it did not write down); the new cues take its place. `on_cue` sees
    the new cues (to cancel) but they make no progress events: the block's end was reported already."""
    if not any(is_prompt_echo(cue.text, keywords) for cue in block.cues):
        return block
    rate = audio_io.SAMPLE_RATE
    cues: list[Cue] = []
    for cue in block.cues:
        if not is_prompt_echo(cue.text, keywords):
            cues.append(cue)
            continue
        first = max(0, (cue.start - offset_ms) * rate // 1000)
        last = min(samples.size, (cue.end - offset_ms) * rate // 1000)
        again: list[Cue] = []
        if last - first >= MIN_REDECODE_S * rate:
            span_ms = offset_ms + first * 1000 // rate
            again = engine.run(samples[first:last], span_ms, on_cue, prompt=False).cues
            again = [_within(c, cue.start, cue.end) for c in again
                     if min(c.end, cue.end) > max(c.start, cue.start) and c.text.strip()]
        said = quoted(" ".join(c.text for c in again)) if again else "nothing"
        on_event(Log(f"the cue at {format_timestamp(cue.start)} repeated the keyword prompt ({quoted(cue.text)}); "
                     f"decoded again without it: {said}"))
        cues.extend(again)
    return BlockResult(cues=cues, language=block.language)


def quoted(text: str, limit: int = 60) -> str:
    """The text on one line, in quotes, cut with … past `limit` characters (for one-line messages)."""
    text = " ".join(text.split())
    return f'"{text}"' if len(text) <= limit else f'"{text[:limit].rstrip()}…"'


def _within(cue: Cue, start_ms: int, end_ms: int) -> Cue:
    """The cue (and its words) clamped to [start_ms, end_ms]."""
    def clamp(ms: int) -> int:
        return min(max(ms, start_ms), end_ms)

    words = tuple(Word(clamp(w.start), clamp(w.end), w.text, w.probability) for w in cue.words)
    return Cue(clamp(cue.start), clamp(cue.end), cue.text, cue.id, words)


def readable_cues(cue: Cue, max_ms: int = MAX_CUE_MS) -> list[Cue]:
    """A long cue cut at word boundaries into cues of at most `max_ms` (what the editor shows and a subtitle
    reader can follow): each cut falls after the last sentence end that fits, else the last comma, else the last
    word that fits, so a cue holds whole phrases when it can. A cue without word timings is kept whole."""
    if cue.duration <= max_ms or not cue.words:
        return [cue]
    out: list[Cue] = []
    words = list(cue.words)
    spans = _word_spans(cue.text, [w.text for w in words])
    while words:
        fits = [i for i, w in enumerate(words) if w.end - words[0].start <= max_ms] or [0]
        last = fits[-1]
        if last < len(words) - 1:  # not the rest: prefer a sentence end, then a comma, in the second half
            half = [i for i in fits if words[i].end - words[0].start >= max_ms / 2]
            last = next((i for ends in (".?!", ",;:") for i in reversed(half) if words[i].text.endswith(tuple(ends))),
                        last)
        part, words = words[:last + 1], words[last + 1:]
        # the cue's own text between the part's first and last word keeps its spacing ("8x7B", "Phi-2": word
        # timings split them into pieces that a join with spaces would turn into extra words)
        text = cue.text[spans[0][0]:spans[last][1]] if spans else " ".join(w.text for w in part)
        spans = spans[last + 1:]
        out.append(Cue(part[0].start, max(part[-1].end, part[0].start + 1), text.strip(), words=tuple(part)))
    return out


def _word_spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Where each word lies in `text`, in order ([] when they do not all appear there in order)."""
    spans, position = [], 0
    for word in words:
        found = text.find(word, position)
        if found < 0:
            return []
        spans.append((found, found + len(word)))
        position = found + len(word)
    return spans


def _clip(cues: list[Cue], limit_ms: int, floor_ms: int) -> list[Cue]:
    """Keep timings inside the audio and in order: start ≥ previous end, end ≤ audio end."""
    out = []
    for cue in cues:
        start = max(cue.start, floor_ms)
        end = min(cue.end, limit_ms)
        if end <= start:
            end = start + 1 if start + 1 <= limit_ms else start
            if end <= start:
                continue
        out.append(Cue(start, end, cue.text, cue.id, cue.words))
        floor_ms = end
    return out


def transcribe_file(path: Path, model: str | ResolvedModel | None = None,
                    options: TranscribeOptions = TranscribeOptions(), job: Job = QUIET) -> Captions:
    """Resolve, load and transcribe in one call (what the CLI's `transcribe` does)."""
    resolved = model if isinstance(model, ResolvedModel) else resolve(model, job.emit)
    engine = load_engine(resolved, options)
    captions = transcribe(path, engine, job)
    job.emit(Done("transcribe", captions))
    return captions
