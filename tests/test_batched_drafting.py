"""Drafting in batches (`transcribe --batch-size N`): faster-whisper's batched pipeline decodes the speech VAD finds,
N windows at a time, and its long segments are cut at word boundaries into cues of at most 7 s, so the editor gets
the cue granularity of a sequential draft."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jiwer
import pytest

from core.captions import Cue, Word, read
from core.transcribe import MAX_CUE_MS, readable_cues

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"


def _cue(*words: tuple[int, int, str]) -> Cue:
    parts = tuple(Word(a, b, t) for a, b, t in words)
    return Cue(parts[0].start, parts[-1].end, " ".join(w.text for w in parts), words=parts)


def test_a_long_cue_is_cut_after_a_sentence_end_then_a_comma():
    long = _cue((0, 900, "We"), (900, 1800, "trained"), (1800, 2700, "it"), (2700, 4200, "twice."),
                (4200, 5000, "Then,"), (5000, 6000, "with"), (6000, 6800, "Unsloth,"), (6800, 8000, "it"),
                (8000, 9500, "ran"), (9500, 11000, "faster"), (11000, 12500, "than"), (12500, 14500, "before."))
    parts = readable_cues(long)
    # the first cut falls after "twice." (a sentence end in the second half of 7 s), not after "Unsloth," (the last
    # word that fits); the second has no sentence end or comma in its second half, so the last word that fits
    assert [p.text for p in parts] == ["We trained it twice.", "Then, with Unsloth, it ran faster", "than before."]
    assert all(p.duration <= MAX_CUE_MS for p in parts)
    assert " ".join(p.text for p in parts) == long.text  # every word once, in order
    assert all(a.end <= b.start for a, b in zip(parts, parts[1:], strict=False))
    assert all(p.start == p.words[0].start and p.end == p.words[-1].end for p in parts)


def test_short_cues_and_cues_without_words_stay_whole():
    short = _cue((0, 3000, "Short"), (3000, 6000, "enough."))
    assert readable_cues(short) == [short]
    bare = Cue(0, 20_000, "twenty seconds without word timings")
    assert readable_cues(bare) == [bare]


def test_one_long_word_run_without_punctuation_is_cut_where_it_must():
    run = _cue(*((i * 1000, i * 1000 + 900, f"w{i}") for i in range(20)))
    parts = readable_cues(run)
    assert len(parts) == 3 and all(p.duration <= MAX_CUE_MS for p in parts)


@pytest.mark.slow
def test_batched_draft_from_the_command_line(tmp_path):
    """The sample's validation recording drafted in batches: no cue over 7 s, cues in order and inside the audio,
    and the words as good as the sequential draft's (within 5 points of WER on 80 s of speech)."""
    def draft(folder: str, *flags: str) -> list[Cue]:
        out = tmp_path / folder
        result = subprocess.run([sys.executable, "-m", "core.cli", "transcribe", str(SAMPLES / "validation.mp3"),
                                 "-m", "tiny.en", "-o", str(out), *flags], cwd=ROOT, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, result.stderr[-2000:]
        return read(out / "validation.vtt").cues

    batched, sequential = draft("batched", "--batch-size", "4"), draft("sequential", "--batch-size", "1")
    reference = " ".join(c.text for c in read(SAMPLES / "validation.vtt").cues)
    assert batched and all(c.duration <= MAX_CUE_MS for c in batched)
    assert all(a.start <= b.start for a, b in zip(batched, batched[1:], strict=False))
    from core.audio import duration_seconds

    assert batched[0].start >= 0 and batched[-1].end <= duration_seconds(SAMPLES / "validation.mp3") * 1000 + 1

    def wer(cues: list[Cue]) -> float:
        from core.scores import score_texts

        return score_texts([reference], [" ".join(c.text for c in cues)]).wer

    assert wer(batched) <= wer(sequential) + 0.05, (wer(batched), wer(sequential))
    assert jiwer.wer(reference.lower(), " ".join(c.text for c in batched).lower()) < 0.6


@pytest.mark.slow
def test_the_default_batches_long_recordings_only(tiny, tmp_path, monkeypatch):
    """batch size 0 (the default): a recording of AUTO_BATCH_FROM_S or more goes through the batched pipeline (cues
    ≤ 7 s), a shorter one window after window (the threshold brought down to 2 minutes, to keep the test short)."""
    import core.transcribe
    from core.audio import duration_seconds
    from core.transcribe import TranscribeOptions, load_engine, transcribe
    from tests.test_dataset import ffmpeg_binary

    monkeypatch.setattr(core.transcribe, "AUTO_BATCH_FROM_S", 120.0)
    AUTO_BATCH_FROM_S = core.transcribe.AUTO_BATCH_FROM_S

    long = tmp_path / "long.wav"
    subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-i", str(SAMPLES / "train.mp3"), "-i",
                    str(SAMPLES / "validation.mp3"), "-filter_complex", "concat=n=2:v=0:a=1", "-ar", "16000",
                    str(long)], check=True)
    assert duration_seconds(long) >= AUTO_BATCH_FROM_S > duration_seconds(SAMPLES / "validation.mp3")
    for audio, batched in ((SAMPLES / "validation.mp3", False), (long, True)):
        engine = load_engine(tiny, TranscribeOptions(engine="ctranslate2"))
        cues = transcribe(audio, engine).cues
        assert (getattr(engine, "_pipeline", None) is not None) is batched
        assert cues and all(a.start <= b.start for a, b in zip(cues, cues[1:], strict=False))
        if batched:
            assert all(c.duration <= MAX_CUE_MS for c in cues)


def test_a_cut_keeps_the_spacing_of_the_cue_text():
    """Word timings split "8-5-7B" into "8", "-5", "-7B": the cut cues take their text from the cue, not a join of the
    words, so no extra words appear."""
    words = ((0, 800, "We"), (800, 1600, "compare"), (1600, 2400, "Mixtral"), (2400, 2700, "8"), (2700, 3000, "-5"),
             (3000, 3600, "-7B,"), (3600, 4400, "llama"), (4400, 5000, "-70B."), (5000, 6500, "Then"),
             (6500, 7500, "more"), (7500, 9000, "words."))
    cue = Cue(0, 9000, "We compare Mixtral 8-5-7B, llama-70B. Then more words.",
              words=tuple(Word(a, b, t) for a, b, t in words))
    parts = readable_cues(cue)
    assert [p.text for p in parts] == ["We compare Mixtral 8-5-7B, llama-70B.", "Then more words."]
