"""Known text → timed cues: forced alignment of a script the user read aloud, with the Whisper model itself.

Two passes. A fast greedy draft of the recording gives anchors: `core.script_match` matches its words to the
script's and says where each line was read, and where the reader left the script (a line skipped, said twice,
added to, read differently). Then, window by window (≤ 30 s, cut in the pauses between lines), the script's own
tokens are forced through the decoder and each token's time is read off the alignment heads' cross-attention by
dynamic time warping (CTranslate2's `align`, the mechanism behind Whisper's word timestamps). A line becomes one
cue with its words timed; a cue's edges are then moved to where the sound starts and stops, since the warping
path gives a pause to the word beside it.

Deviations are reported (`Deviation`) and mark the affected words as unsure, so the editor flags their cues.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core import audio as audio_io
from core.captions import Captions, Cue, Word, format_timestamp
from core.editing import EditOp, Splice
from core.errors import InputError, JobError
from core.events import QUIET, EventHandler, Job, Log, Progress, ignore
from core.models import ResolvedModel, resolve
from core.script_match import Stretch, plan_items
from core.transcribe import quoted

if TYPE_CHECKING:
    from core.workspace import Workspace

WINDOW_S = 30.0  # one Whisper window
FRAME_S = 0.02  # the encoder's time step: one alignment frame
EDGE_S = 0.6  # audio kept before the first and after the last line of a window, when the pause allows
UNSURE = 0.3  # the probability given to the words of a deviating cue (below the editor's flag line); others get 1.0
SILENCE_DB = -48.0  # relative to the loud level: quieter frames are pause (at -40 dB faint word tails were cut,
# cue ends up to 0.14 s early on the sample; at -48 dB within 0.06 s)
MIN_PAUSE_MS = 80  # a quiet run this long is a pause (shorter ones are stops inside words)
PAD_MS = 30  # a cue starts this long before its first sound and ends this long after its last


@dataclass(frozen=True)
class AlignOptions:
    """How to align. `keywords` are left out when judging whether a line was read as written (the draft
    mishears exactly those)."""

    language: str | None = None
    keywords: tuple[str, ...] = ()
    threads: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class Deviation:
    """Where the recording leaves the script. kind: skipped | repeated | added | changed | unsure."""

    kind: str
    line: int | None  # 0-based index into the script's lines (None for speech the script does not have)
    start: int  # ms: where it is (for a skipped line, where it was expected)
    end: int
    text: str

    def describe(self) -> str:
        where = format_timestamp(self.start) + (f"–{format_timestamp(self.end)}" if self.end > self.start else "")
        line = f"line {self.line + 1}" if self.line is not None else "speech not in the script"
        what = {"skipped": "not read (expected near {where})", "repeated": "read again at {where}",
                "added": "at {where}", "changed": "read differently at {where}",
                "unsure": "aligned with low confidence at {where}"}[self.kind]
        return f"{line} {what.format(where=where)}: {quoted(self.text)}"


@dataclass(frozen=True)
class Alignment:
    captions: Captions
    deviations: tuple[Deviation, ...] = ()


# ---------------------------------------------------------------------------- script text


def script_lines(path: Path) -> list[str]:
    """A script's lines: a .txt file (one cue per non-blank line, `#` comments skipped) or captions (.vtt, .srt,
    .json: their cue texts, in order; the times are replaced)."""
    path = Path(path)
    if path.suffix.lower() in (".vtt", ".srt", ".json"):
        from core import captions as caps

        lines = [" ".join(cue.text.split()) for cue in caps.read(path).cues]
    else:
        from core.reading_script import read_script

        lines = read_script(path)
    lines = [line for line in lines if line]
    if not lines:
        raise InputError(f"{path}: the script has no text to align")
    return lines


def _cut(items: list[Stretch], draft: Sequence[Word], pauses: Pauses) -> None:
    """Give each item the audio it owns: neighbours are divided in the pause between them (the longest quiet run
    between the one's last draft word and the other's first, or, in silence-free audio, the longest gap between
    draft words there); a pause longer than two edges is left out but for an edge on each side."""
    edge = round(EDGE_S * 1000)
    for previous, item in zip([None, *items], items, strict=False):
        if previous is None:
            start = draft[item.first].start
            run = pauses.longest(max(0, start - 2000), draft[item.first].end)
            item.start_ms = max(run[0], run[1] - edge) if run else max(0, start - edge)
            continue
        low, high = draft[previous.last].start, draft[item.first].end
        run = pauses.longest(low, high)
        if run is None:
            gaps = [(draft[k + 1].start - draft[k].end, k) for k in range(previous.last, item.first)]
            _, k = max(gaps) if gaps else (0, previous.last)
            run = (draft[k].end, max(draft[k].end, draft[min(k + 1, len(draft) - 1)].start))
        if run[1] - run[0] > 2 * edge:
            previous.end_ms, item.start_ms = run[0] + edge, run[1] - edge
        else:
            previous.end_ms = item.start_ms = (run[0] + run[1]) // 2
    if items:
        end = draft[items[-1].last].end
        run = pauses.longest(draft[items[-1].last].start, end + 2000)
        items[-1].end_ms = min(pauses.end_ms, min(run[1], run[0] + edge) if run else end + edge)


def _windows(items: list[Stretch]) -> list[list[Stretch]]:
    """Consecutive items to force-align together, each group within one 30 s window."""
    groups: list[list[Stretch]] = []
    for item in items:
        if item.kind == "added":
            groups.append([item])
            continue
        group = groups[-1] if groups and groups[-1][0].kind != "added" else None
        if group is not None and item.end_ms - group[0].start_ms <= WINDOW_S * 1000 - 500 \
                and group[-1].end_ms == item.start_ms:
            group.append(item)
        else:
            groups.append([item])
    return groups


# ---------------------------------------------------------------------------- forced alignment


class Aligner:
    """A loaded model that drafts and force-aligns (CTranslate2: the draft engine's own model, reused)."""

    def __init__(self, model: ResolvedModel | str | None = None, options: AlignOptions = AlignOptions()) -> None:
        from core.transcribe import FasterWhisperEngine, TranscribeOptions, load_engine

        resolved = model if isinstance(model, ResolvedModel) else resolve(model)
        if resolved.ct2_dir is None:
            raise InputError(f"model {resolved.spec} has no CTranslate2 form, which alignment uses; export it first "
                             "(whisper-tui export RUN_DIR --ct2)")
        self.options = options
        engine = load_engine(resolved, TranscribeOptions(engine="ctranslate2", language=options.language,
                                                         beam_size=1, word_timestamps=True, batch_size=1,
                                                         threads=options.threads, device=options.device))
        assert isinstance(engine, FasterWhisperEngine)
        self.engine = engine
        self.language = engine.options.language or ("en" if not resolved.multilingual else None)
        self._tokenizers: dict[str, object] = {}

    def draft(self, path: Path, job: Job = QUIET) -> Captions:
        from core.transcribe import transcribe

        return transcribe(path, self.engine, job)

    def _tokenizer(self, language: str | None):
        """faster-whisper's tokenizer for the language (made once per language: every window asks for it)."""
        from faster_whisper.tokenizer import Tokenizer

        language = language or "en"
        if language not in self._tokenizers:
            whisper = self.engine.model
            self._tokenizers[language] = Tokenizer(whisper.hf_tokenizer, whisper.model.is_multilingual,
                                                   task="transcribe", language=language)
        return self._tokenizers[language]

    def force(self, samples: np.ndarray, words: Sequence[Sequence[str]], offset_ms: int,
              language: str | None = None) -> list[list[Word]]:
        """Time each word of each group of words (lines, in order) inside `samples` (≤ 30 s at 16 kHz)."""
        import ctranslate2

        whisper = self.engine.model
        tokenizer = self._tokenizer(language or self.language)
        pieces = [[tokenizer.encode(" " + word) for word in line] for line in words]
        tokens = [t for line in pieces for piece in line for t in piece]
        if not tokens:
            return [[] for _ in words]
        features = whisper.feature_extractor(samples)
        frames = min(features.shape[-1], whisper.feature_extractor.nb_max_frames)
        padded = np.zeros((features.shape[0], whisper.feature_extractor.nb_max_frames), dtype=np.float32)
        padded[:, :frames] = features[:, :frames]
        view = ctranslate2.StorageView.from_array(padded[None])
        encoded = whisper.model.encode(view, to_cpu=False)
        result = whisper.model.align(encoded, [*tokenizer.sot_sequence, tokenizer.no_timestamps], [tokens], frames,
                                     median_filter_width=7)[0]
        token_starts = _token_starts(result.alignments, len(tokens) + 1)  # + the end of text
        probabilities = list(result.text_token_probs)
        out: list[list[Word]] = []
        position = 0
        for line in pieces:
            timed = []
            for word, piece in zip(words[len(out)], line, strict=True):
                start, end = token_starts[position], token_starts[position + len(piece)]
                probability = float(np.mean(probabilities[position:position + len(piece)])) if piece else 0.0
                timed.append(Word(offset_ms + round(start * FRAME_S * 1000), offset_ms + round(end * FRAME_S * 1000),
                                  word, round(probability, 4)))
                position += len(piece)
            out.append(_apart(timed))
        return out


def _apart(words: list[Word]) -> list[Word]:
    """Every word at least one frame long and after the one before it (the warping path can give two words the
    same frame)."""
    out: list[Word] = []
    for word in words:
        start = max(word.start, out[-1].end if out else word.start)
        out.append(replace(word, start=start, end=max(word.end, start + round(FRAME_S * 1000))))
    return out


def _token_starts(alignments: Sequence[Sequence[int]], count: int) -> list[int]:
    """The frame at which each text token (and the end-of-text token) starts along the warping path."""
    starts = [-1] * count
    for text_index, time_index in alignments:
        if 0 <= text_index < count and starts[text_index] < 0:
            starts[text_index] = int(time_index)
    for index in range(count):  # a token the path never reached starts where the one before it did
        if starts[index] < 0:
            starts[index] = starts[index - 1] if index else 0
    return starts


class Pauses:
    """Where a recording is quiet, per 10 ms frame (one streamed pass: a few bytes per second of audio).

    Quiet is below SILENCE_DB under the recording's loud level (its 99th-percentile frame) and at least twice the
    noise floor (its 5th-percentile frame), so a hiss does not count as speech and breathing is not a pause."""

    def __init__(self, chunks: Iterable[np.ndarray], offset_ms: int = 0) -> None:
        hop = audio_io.SAMPLE_RATE // 100
        levels = []
        for chunk in chunks:  # each a whole number of 10 ms frames but the last
            frames = len(chunk) // hop
            levels.append(np.sqrt(np.mean(chunk[:frames * hop].reshape(frames, hop).astype(np.float64) ** 2, axis=1)))
        energy = np.concatenate(levels) if levels else np.zeros(0)
        self.offset_ms = offset_ms
        self.end_ms = offset_ms + len(energy) * 10
        if energy.size < 3:
            self.quiet = np.zeros(energy.size, dtype=bool)
            return
        line = max(float(np.percentile(energy, 99)) * 10 ** (SILENCE_DB / 20), float(np.percentile(energy, 5)) * 2)
        self.quiet = energy <= line

    @classmethod
    def of_file(cls, path: Path) -> Pauses:
        return cls(window.audio for window in audio_io.iter_windows(path, window_s=60.0))

    def longest(self, start_ms: int, end_ms: int) -> tuple[int, int] | None:
        """The longest quiet run (start, end in ms) inside [start_ms, end_ms), at least MIN_PAUSE_MS long."""
        low = max(0, (start_ms - self.offset_ms) // 10)
        high = min(len(self.quiet), max(0, end_ms - self.offset_ms) // 10)
        if high - low < MIN_PAUSE_MS // 10:
            return None
        span = np.concatenate(([False], self.quiet[low:high], [False])).astype(np.int8)
        edges = np.flatnonzero(np.diff(span))
        starts, ends = edges[0::2], edges[1::2]
        if starts.size == 0:
            return None
        best = int(np.argmax(ends - starts))
        if (ends[best] - starts[best]) * 10 < MIN_PAUSE_MS:
            return None
        return self.offset_ms + (low + int(starts[best])) * 10, self.offset_ms + (low + int(ends[best])) * 10


def snap_to_pauses(lines: list[list[Word]], pauses: Pauses) -> list[list[Word]]:
    """Each line's edges moved into the pause beside it: the warping path gives a pause to a word next to it
    (measured: edges 0.1–0.8 s off on the sample), while the sound itself shows where speech stops and starts.

    Between two lines the pause is the longest quiet run from the one's last word start to the next one's first
    word end; the first and last line look outwards as far as the window goes. Where nothing is quiet (noise,
    speech running on), the aligner's times stay."""
    spoken = [index for index, words in enumerate(lines) if words]
    out = [list(words) for words in lines]
    if not spoken:
        return out
    window_start, window_end = lines[spoken[0]][0].start, lines[spoken[-1]][-1].end
    for position, index in enumerate(spoken):
        words = out[index]
        previous = lines[spoken[position - 1]] if position > 0 else None
        following = lines[spoken[position + 1]] if position + 1 < len(spoken) else None
        run = pauses.longest(previous[-1].start if previous else window_start - 1000, words[0].end)
        if run is not None:
            words[0] = replace(words[0], start=min(run[1] - PAD_MS, words[0].end - 1))
        run = pauses.longest(words[-1].start, following[0].end if following else window_end + 1000)
        if run is not None:
            words[-1] = replace(words[-1], end=max(run[0] + PAD_MS, words[-1].start + 1))
    return out


# ---------------------------------------------------------------------------- the whole job


def align(path: Path, lines: Sequence[str], aligner: Aligner, job: Job = QUIET) -> Alignment:
    """Time the script's lines in the recording at `path`: one cue per line read, deviations reported; a cancel
    lands in the draft or between windows."""
    path = Path(path)
    if not lines:
        raise InputError("the script has no text to align")
    draft = aligner.draft(path, job)
    draft_words = [w for cue in draft.cues for w in cue.words if w.text.strip()]
    if not draft_words:
        raise JobError(f"{path.name}: no speech found to align the script to")
    items, skipped = plan_items(lines, draft_words, aligner.options.keywords)
    pauses = Pauses.of_file(path)
    _cut(items, draft_words, pauses)
    groups = _windows(items)
    for number, group in enumerate(groups, start=1):
        job.check("alignment cancelled")
        job.emit(Progress("align", number - 1, len(groups), "windows"))
        if group[0].kind == "added":
            group[0].timed = [replace(w, probability=UNSURE) for w in draft_words[group[0].first:group[0].last + 1]]
            continue
        start_ms, end_ms = group[0].start_ms, group[-1].end_ms
        samples = audio_io.load_audio(path, start_s=start_ms / 1000, duration_s=(end_ms - start_ms) / 1000)
        if end_ms - start_ms > WINDOW_S * 1000 or samples.size == 0:
            for item in group:  # longer than a window: keep the draft's times for it
                item.timed, item.unsure = _draft_times(item, draft_words), True
            job.emit(Log(f"{format_timestamp(start_ms)}: a line longer than 30 s keeps the draft's timing",
                         level="warning"))
            continue
        try:
            timed = aligner.force(samples, [item.words for item in group], start_ms)
        except (ValueError, RuntimeError) as err:
            raise JobError(f"alignment failed at {format_timestamp(start_ms)} ({str(err).splitlines()[0]})") from err
        timed = snap_to_pauses(timed, pauses)
        for item, words in zip(group, timed, strict=True):
            item.timed = words
    job.emit(Progress("align", len(groups), len(groups), "windows"))
    return _result(lines, items, skipped, draft, draft_words)


def _draft_times(item: Stretch, draft: Sequence[Word]) -> list[Word]:
    """The item's words spread over its draft span (when it could not be force-aligned)."""
    start, end = draft[item.first].start, draft[item.last].end
    step = (end - start) / max(1, len(item.words))
    return [Word(round(start + k * step), round(start + (k + 1) * step), word, UNSURE)
            for k, word in enumerate(item.words)]


def _result(lines: Sequence[str], items: list[Stretch], skipped: list[int], draft: Captions,
            draft_words: Sequence[Word]) -> Alignment:
    cues: list[Cue] = []
    deviations: list[Deviation] = []
    for item in items:
        if not item.timed:
            continue
        # a word's probability says how sure the text is right (what the editor flags), not how likely the model
        # found it: the script's words are known, so only a deviating cue's words are unsure
        sure = UNSURE if item.kind != "line" or item.changed or item.unsure else 1.0
        words = [replace(w, probability=sure) for w in item.timed]
        floor = cues[-1].end if cues else 0  # never before the cue before it, nor its words before the cue
        words = _apart([replace(w, start=max(w.start, floor)) for w in words])
        cue = Cue(words[0].start, words[-1].end, item.text, words=tuple(words))
        cues.append(cue)
        kind = {"repeat": "repeated", "added": "added"}.get(item.kind, "changed" if item.changed else
                                                            "unsure" if item.unsure else "")
        if kind:
            deviations.append(Deviation(kind, item.line, cue.start, cue.end, item.text))
    placed = {item.line: item for item in items if item.kind == "line"}
    for line in skipped:
        before = [placed[i] for i in range(line - 1, -1, -1) if i in placed][:1]
        after = [placed[i] for i in range(line + 1, len(lines)) if i in placed][:1]
        start = before[0].end_ms if before else 0
        end = after[0].start_ms if after else (draft_words[-1].end if draft_words else start)
        deviations.append(Deviation("skipped", line, start, max(start, end), lines[line]))
    deviations.sort(key=lambda d: (d.start, d.line if d.line is not None else -1))
    return Alignment(Captions(cues=cues, language=draft.language), tuple(deviations))


def align_file(audio: Path, script: Path, model: str | ResolvedModel | None = None,
               options: AlignOptions = AlignOptions(), job: Job = QUIET) -> Alignment:
    """Read the script, load the model and align (what the CLI's `align` does)."""
    lines = script_lines(script)
    aligner = Aligner(model if isinstance(model, ResolvedModel) else resolve(model, job.emit), options)
    return align(audio, lines, aligner, job)



# ---------------------------------------------------------------------------- re-timing edited cues

RETIME_MARGIN_MS = 300  # audio taken beyond the neighbours' outer edges (never past the cues beyond them)
RETIME_REACH_MS = 1500  # and beyond an edge of the edited cue itself that has no neighbour to hold it


@dataclass(frozen=True)
class Retime(EditOp):
    """Cues `first`..`first + len(cues) - 1` replaced by the same cues re-timed (`retime` plans it); refused when
    their text changed since, so an undo step never swaps in a stale re-timing."""

    first: int
    before: tuple[Cue, ...]
    after: tuple[Cue, ...]

    def plan(self, cues: Sequence[Cue]) -> Splice:
        current = tuple(cues[self.first:self.first + len(self.before)])
        if [c.text for c in current] != [c.text for c in self.before]:
            raise InputError("the cues changed while they were re-timed: press t again")
        return Splice(self.first, current, self.after)

    def describe(self) -> str:
        return f"re-time cue {self.first + 1}" + (f"-{self.first + len(self.after)}" if len(self.after) > 1 else "")


def retime(audio: Path, cues: Sequence[Cue], index: int, aligner: Aligner) -> Retime:
    """Align cue `index`'s text (after an edit) and its neighbours' again: the cue's start and end and the
    boundaries it shares with them move; their outer edges stay. The text is never touched."""
    if not 0 <= index < len(cues):
        raise InputError(f"there is no cue {index + 1} (there are {len(cues)})")
    first, last = max(0, index - 1), min(len(cues) - 1, index + 1)
    low = cues[first - 1].end if first > 0 else 0
    high = cues[last + 1].start if last + 1 < len(cues) else None
    # the edited cue's own edge with no neighbour beside it may be far off: look further there
    before_margin = RETIME_MARGIN_MS if first < index else RETIME_REACH_MS
    after_margin = RETIME_MARGIN_MS if last > index else RETIME_REACH_MS
    start = max(low, cues[first].start - before_margin)
    end = cues[last].end + after_margin if high is None else min(high, cues[last].end + after_margin)
    if end - start > WINDOW_S * 1000:  # the neighbours make it too long for one window: the cue alone
        first = last = index
        start, end = max(low, cues[index].start - RETIME_REACH_MS), cues[index].end + RETIME_REACH_MS
        end = end if high is None else min(high, end)
        if end - start > WINDOW_S * 1000:
            raise InputError(f"cue {index + 1} is longer than 30 s: split it before re-timing")
    start = max(0, start)
    texts = [cues[i].text.split() for i in range(first, last + 1)]
    if not texts[index - first]:
        raise InputError(f"cue {index + 1} has no text to align")
    samples = audio_io.load_audio(Path(audio), start_s=start / 1000, duration_s=(end - start) / 1000)
    if samples.size == 0:
        raise InputError(f"cue {index + 1} lies past the end of the audio")
    timed = aligner.force(samples, texts, start)
    timed = snap_to_pauses(timed, Pauses([samples], offset_ms=start))
    before = tuple(cues[first:last + 1])
    after = []
    for position, (cue, words) in enumerate(zip(before, timed, strict=True)):
        if not words:
            after.append(cue)
            continue
        new_start = words[0].start if first + position >= index else cue.start  # a neighbour before: its start stays
        new_end = words[-1].end if first + position <= index else cue.end
        new_start, new_end = min(new_start, new_end - 1), new_end
        words = [replace(w, start=min(max(w.start, new_start), new_end - 1), end=min(max(w.end, new_start + 1),
                                                                                     new_end), probability=1.0)
                 for w in words]
        after.append(replace(cue, start=new_start, end=new_end, words=tuple(words)))
    for position in range(1, len(after)):  # never overlapping a neighbour
        if after[position].start < after[position - 1].end:
            after[position] = replace(after[position], start=after[position - 1].end)
    return Retime(first, before, tuple(after))


# ---------------------------------------------------------------------------- the workbench's side


class AlignerCache:
    """Keeps one loaded aligner for the workbench (loading takes a second); another model or language replaces it.
    Used from one worker thread at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[tuple[str, str | None], Aligner] | None = None

    def get(self, spec: str, language: str | None, keywords: Sequence[str] = (),
            on_event: EventHandler = ignore) -> Aligner:
        with self._lock:
            if self._loaded is None or self._loaded[0] != (spec, language):
                self._loaded = None
                on_event(Progress("load model", 0, None, "", f"loading {spec}"))
                self._loaded = (spec, language), Aligner(resolve(spec, on_event), AlignOptions(language=language))
            aligner = self._loaded[1]
            aligner.options = replace(aligner.options, keywords=tuple(keywords))
            return aligner


def align_source(workspace: Workspace, audio: Path, aligners: AlignerCache, model: str | None = None,
                 job: Job = QUIET) -> Path:
    """Time the workspace's script (script.txt) in one of its recordings: captions/<stem>.vtt, as a draft would be
    (the old file into the backup ring; the words beside it, so the editor flags the deviating cues). Each
    deviation is reported as a warning."""
    from core.reading_script import SCRIPT_FILE
    from core.workspace import refuse_over_autosave, store_draft

    script = workspace.root / SCRIPT_FILE
    if not script.is_file():
        raise InputError(f"no {SCRIPT_FILE} in the workspace: press s to write one from the keywords, read it aloud, "
                         "then add the recording")
    refuse_over_autosave(workspace.captions_for(audio))
    keywords = [k.term for k in workspace.keywords()]
    aligner = aligners.get(model or workspace.model, workspace.language, keywords, job.emit)
    result = align(audio, script_lines(script), aligner, job)
    for deviation in result.deviations:
        job.emit(Log(deviation.describe(), level="warning"))
    return store_draft(workspace, audio, result.captions)
