"""Long-form transcription with both engines on the real sample recording."""

from __future__ import annotations

import re
from pathlib import Path

import jiwer
import pytest
import webvtt

from core import audio, captions
from core.errors import Cancelled, InputError
from core.events import Job, Log
from core.transcribe import TranscribeOptions, is_prompt_echo, keyword_prompt, load_engine, transcribe
from core.vocabulary import Keyword, keyword_recall, load_keywords


def _words(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def _check_timeline(cues: list[captions.Cue], duration_ms: int) -> None:
    assert len(cues) > 3
    for previous, cue in zip(cues, cues[1:], strict=False):
        assert previous.end <= cue.start, (previous, cue)
    for cue in cues:
        assert 0 <= cue.start < cue.end <= duration_ms
        assert cue.text.strip()


@pytest.fixture(scope="module")
def recording(samples: Path) -> tuple[Path, int, str]:
    path = samples / "train.mp3"
    duration_ms = round(audio.duration_seconds(path) * 1000)
    assert duration_ms >= 90_000  # the acceptance asks for a recording of at least 90 s
    return path, duration_ms, captions.read(samples / "train.vtt").text


@pytest.fixture(scope="module")
def fast_engine(tiny):
    return load_engine(tiny, TranscribeOptions(engine="ctranslate2"))


def test_ctranslate2_engine_long_form(fast_engine, recording, tmp_path):
    path, duration_ms, reference = recording
    result = transcribe(path, fast_engine)
    _check_timeline(result.cues, duration_ms)
    assert result.language == "en"
    assert jiwer.wer(_words(reference), _words(result.text)) < 0.5  # real words, not noise
    words = [w for cue in result.cues for w in cue.words]
    assert words and all(w.probability is not None and 0 <= w.probability <= 1 for w in words)
    assert all(cue.start <= w.start <= w.end <= cue.end for cue in result.cues for w in cue.words)
    vtt = captions.write(result, tmp_path / "train.vtt")
    assert len(webvtt.read(str(vtt)).captions) == len(result.cues)


def test_transformers_engine_long_form(tiny, recording, tmp_path):
    path, duration_ms, reference = recording
    engine = load_engine(tiny, TranscribeOptions(engine="transformers", beam_size=1))
    result = transcribe(path, engine)
    _check_timeline(result.cues, duration_ms)
    assert jiwer.wer(_words(reference), _words(result.text)) < 0.5
    assert any(cue.words for cue in result.cues)
    vtt = captions.write(result, tmp_path / "train.vtt")
    assert len(webvtt.read(str(vtt)).captions) == len(result.cues)


def test_block_seams_do_not_cut_or_repeat_cues(fast_engine, recording):
    """Decoding in 40 s blocks gives the same cue timeline as one pass: every cue found again at
    (nearly) the same time, none repeated. (The jargon words themselves may decode differently,
    as the model conditions on a different previous text after a seam.)"""
    path, duration_ms, _ = recording
    whole = transcribe(path, fast_engine)
    blocks = transcribe(path, fast_engine, block_s=40)
    _check_timeline(blocks.cues, duration_ms)
    assert abs(len(blocks.cues) - len(whole.cues)) <= 1
    for cue in blocks.cues:
        assert min(abs(cue.start - other.start) for other in whole.cues) < 1000, cue
    for previous, cue in zip(blocks.cues, blocks.cues[1:], strict=False):
        assert jiwer.wer(_words(previous.text), _words(cue.text)) > 0.5  # no cue decoded twice


def test_progress_events_and_cancel(fast_engine, recording):
    path, _, _ = recording
    events = []

    def on_event(event):
        events.append(event)
        if len(events) == 3:
            job.cancel()

    job = Job(on_event)
    with pytest.raises(Cancelled, match="transcription cancelled"):
        transcribe(path, fast_engine, job)
    assert [e.stage for e in events[:3]] == ["transcribe"] * 3
    assert len(events) == 3  # the cancel landed at the next cue


def test_english_only_model_refuses_other_languages(tiny):
    with pytest.raises(InputError, match="English-only"):
        load_engine(tiny, TranscribeOptions(language="fr"))


def test_multilingual_base_detects_english(samples):
    engine = load_engine("base", TranscribeOptions(engine="ctranslate2", beam_size=1))
    result = transcribe(samples / "control.mp3", engine)
    assert result.language == "en" and len(result.cues) >= 2
    reference = captions.read(samples / "control.vtt").text
    assert jiwer.wer(_words(reference), _words(result.text)) < 0.3


# ---------------------------------------------------------------------------- the keyword prompt

ENGINE_NAMES = ("ctranslate2", "transformers")
# validation.mp3 cues 2-3, "The Trelis team showed that a short LoRA run can fix names the model keeps missing.
# Microsoft says Phi-2 matches much larger models on MMLU." Measured (tiny.en, greedy, both engines): without
# the prompt 1 of 4 keywords (MMLU; "the release team", "short-law run", "has i2"), with the sample keywords
# 3 of 4 ("The Trelis team showed that a short LoRA run").
CLIP = ("validation", 7.4, 19.0)


@pytest.fixture(scope="module")
def keywords(samples: Path) -> list[Keyword]:
    return load_keywords(samples / "keywords.txt")


@pytest.fixture(scope="module")
def clip(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The clip as a WAV of its own (a real decode of the MP3 span) and its reference text."""
    name, start, end = CLIP
    path = audio.write_wav(tmp_path_factory.mktemp("clip") / f"{name}-clip.wav",
                           audio.load_audio(samples / f"{name}.mp3", start, end - start))
    cues = captions.read(samples / f"{name}.vtt").cues
    return path, " ".join(c.text for c in cues if c.start >= start * 1000 and c.end <= end * 1000)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_keyword_prompt_moves_the_draft_towards_the_keywords(tiny, keywords, clip, engine_name):
    path, reference = clip
    terms = tuple(k.term for k in keywords)
    plain = transcribe(path, load_engine(tiny, TranscribeOptions(engine=engine_name, beam_size=1)))
    prompted = transcribe(path, load_engine(tiny, TranscribeOptions(engine=engine_name, beam_size=1,
                                                                     keywords=terms)))
    base, biased = keyword_recall(reference, plain.text, keywords), keyword_recall(reference, prompted.text, keywords)
    print(f"\n{engine_name}: recall {base.hits}/{base.reference} -> {biased.hits}/{biased.reference} with the prompt"
          f"\n  without: {plain.text}\n  with:    {prompted.text}")
    assert base.reference == 4 and biased.overall > base.overall
    assert jiwer.wer(_words(reference), _words(prompted.text)) < 0.5  # still the speech, not the prompt
    assert not any(is_prompt_echo(cue.text, terms) for cue in prompted.cues)


def test_prompt_echo_detection():
    """Cues measured from tiny.en's drafts of sample_data/, and sentences that must not count."""
    terms = ("Mixtral 8x7B", "Llama 70B", "Phi-2", "Trelis", "safetensors", "OpenChat", "MMLU", "LoRA", "GGUF",
             "Unsloth")
    three = ("Mixtral 8x7B", "Phi-2", "Trelis")
    echoes = [
        ("Mixtral 8x7B, Phi-2, Trelis.", three),  # the cue: the prompt itself
        ("mixtral 8-x7b phi 2 trelis", three),  # the prompt with other separators
        ("Phi-2, Trelis, safetensors.", terms),  # part of a longer prompt
        ("And Trelis, " + "Trelis, " * 40, terms),  # transformers on validation.mp3: a loop on one term
        ("On MMLU, Mixtral 8x7B, Phi-2, Trelis.com.", three),  # transformers on train.mp3 cue 4: a real start
        ("Trelis.", ("Trelis",)),  # a one-term prompt, repeated as the whole cue
    ]
    speech = [
        ("Welcome back to the show, where today we compare Mixtral 8x7B, Llama 70B and the tiny Phi-2.", terms),
        ("we compare Mixtral 8x7B, Llama 70B, Phi-2 and Trelis models today", terms),  # a list in the prompt's order
        ("Mixtral 8x7B and Llama 70B.", terms),
        ("So, Trelis, Phi-2 and GGUF", terms),  # not the prompt's order
        ("On MMLU, Mixtral 8x7B, B, Trelis, Llama 70B with our less compute per token.", terms),
        ("Phi-2.", terms),  # one keyword said alone
        ("The Trelis team showed that a short LoRA run can fix names.", ("Trelis",)),
        ("Mixtral 8x7B, Phi-2, Trelis.", ()),  # no prompt, no echo
    ]
    assert [text for text, prompt in echoes if not is_prompt_echo(text, prompt)] == []
    assert [text for text, prompt in speech if is_prompt_echo(text, prompt)] == []


class EchoingEngine:
    """The real engine, except that each prompted decode answers its first cue with the prompt itself (what
    greedy decoding does on some CPUs), so the re-decode path runs on every machine."""

    def __init__(self, engine) -> None:
        self.engine, self.name, self.options = engine, engine.name, engine.options
        self.runs: list[tuple[int, int, bool]] = []  # (offset_ms, samples, prompt) of every decode
        self.echoed: list[captions.Cue] = []

    def run(self, samples, offset_ms, on_cue, prompt=True):
        self.runs.append((offset_ms, samples.size, prompt))
        result = self.engine.run(samples, offset_ms, on_cue, prompt=prompt)
        if prompt and result.cues:
            first = result.cues[0]
            self.echoed.append(first)
            result.cues[0] = captions.Cue(first.start, first.end, keyword_prompt(self.options.keywords))
        return result


@pytest.mark.parametrize(("engine_name", "batch_size"), [*((name, 1) for name in ENGINE_NAMES), ("ctranslate2", 4)])
def test_an_echoed_prompt_is_decoded_again_without_it(tiny, keywords, clip, engine_name, batch_size):
    """On both engines, and on faster-whisper's batched drafting path too."""
    path, reference = clip
    terms = tuple(k.term for k in keywords)
    engine = load_engine(tiny, TranscribeOptions(engine=engine_name, beam_size=1, keywords=terms,
                                                 batch_size=batch_size))
    echoing = EchoingEngine(engine)
    events: list = []
    result = transcribe(path, echoing, Job(events.append))

    # the echoed cue's own span was decoded once more, without the prompt, and nothing else was
    (echoed,) = echoing.echoed
    rate, whole = audio.SAMPLE_RATE, audio.load_audio(path)
    first, last = echoed.start * rate // 1000, min(echoed.end * rate // 1000, whole.size)  # (a cue may run on)
    assert echoing.runs[1:] == [(echoed.start, last - first, False)]
    expected = engine.run(whole[first:last], echoed.start, lambda cue: None, prompt=False).cues
    assert expected and [c.text for c in result.cues[:len(expected)]] == [c.text for c in expected]
    assert all(echoed.start <= c.start < c.end <= echoed.end for c in result.cues[:len(expected)])
    # what replaced the echo is the speech: the prompt is gone and the words are the clip's
    assert keyword_prompt(terms) not in result.text
    assert not any(is_prompt_echo(cue.text, terms) for cue in result.cues)
    assert jiwer.wer(_words(reference), _words(result.text)) < 0.5
    said = [e.message for e in events if isinstance(e, Log)]
    assert len(said) == 1 and "repeated the keyword prompt" in said[0] and expected[0].text[:20] in said[0]


_LOOP = re.compile(r"\b([\w-]+)(?:[\s,.;-]+\1\b){2,}", re.IGNORECASE)  # one word three times in a row


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_no_prompt_echo_in_drafts_of_the_samples(tiny, samples, keywords, engine_name):
    """Every sample recording drafted with its keywords (greedy, where echoes happen): no cue is an echo, none
    holds the prompt or a loop, and the prompt still does its work. On the machine this was written on,
    transformers looped on "Trelis, Trelis, ..." for 27 s of validation.mp3; that span is now decoded again."""
    terms = tuple(k.term for k in keywords)
    engine = load_engine(tiny, TranscribeOptions(engine=engine_name, beam_size=1, keywords=terms))
    hits = occurrences = 0
    for name in ("train", "validation", "control", "plain"):
        events: list = []
        result = transcribe(samples / f"{name}.mp3", engine, Job(events.append))
        for message in (e.message for e in events if isinstance(e, Log)):
            print(f"\n{engine_name} {name}: {message}")
        assert len(result.cues) >= 2
        assert [c.text for c in result.cues if is_prompt_echo(c.text, terms)] == []
        assert [c.text for c in result.cues if keyword_prompt(terms).rstrip(".") in c.text] == []
        assert [c.text for c in result.cues if _LOOP.search(c.text)] == []
        recall = keyword_recall(captions.read(samples / f"{name}.vtt").text, result.text, keywords)
        hits, occurrences = hits + recall.hits, occurrences + recall.reference
    print(f"\n{engine_name}: keyword recall with the prompt {hits}/{occurrences}")
    assert hits / occurrences >= 0.5  # measured 41/60 (ctranslate2) and 37/60 (transformers); 9 and 7 without
