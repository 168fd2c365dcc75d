"""A control set of REAL human speech, built at test time from packaged recordings (never committed).

Synthetic voices flatter a model; a forgetting check needs people. Two packaged sources:
- `asterisk-core-sounds-en-g722`: telephone prompts read by one woman, 16 kHz G.722, with the text of each
  prompt in `core-sounds-en.txt.gz` (`name: text`); CC-BY-SA-3.0.
- `pocketsphinx-testdata`: five LibriVox sentences (a man reading Austen), 16 kHz WAV, with a `transcription`
  file (`<s> text </s> (fileid)`); BSD-2.
`make test` puts them in place first (tests/setup_test_data.py: the Debian packages, the same files unpacked into
the venv, or, without apt, the LibriVox sentences from PyPI's pocketsphinx sdist); its functions say where they
are. Where only the LibriVox sentences could be had, the set is those alone and a LibriVoxOnly warning says so.

Only prompts that are plain English sentences are used, so that the reference is what was said and WER
measures the model, not the reference: whole sentences of at least 6 words, no digits, symbols, brackets
("[beep]"), hyphens or ellipses, no word outside Whisper's common-word list (that drops names, jargon and
the typos in the prompt list, "represenatives"), and nothing the normaliser would rewrite ("that's" →
"that is", "first" → "1st"). The clips are joined with 0.5 s of silence into one 16 kHz mono WAV and
the VTT has each clip's exact span as its cue.
"""

from __future__ import annotations

import gzip
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import audio as audio_io
from core.captions import Captions, Cue
from core.captions import write as write_captions
from core.scores import normalize
from core.vocabulary import common_words
from tests import setup_test_data as test_data

APT_PACKAGES = tuple(test_data.PACKAGES)
G722_BYTES_PER_S = 8000  # 64 kbit/s: the file size gives the duration without decoding
GAP_S = 0.5
MIN_WORDS = 6
MAX_CLIP_S = 25.0  # a cue must fit one Whisper window

_PLAIN = re.compile(r"[A-Za-z' ]+(?:[.,?!] ?[A-Za-z' ]*)*")
_SENTENCE = re.compile(r"^[A-Z].*[.?!]$")


class MissingSpeechData(RuntimeError):
    """Not even the LibriVox sentences are installed or fetched."""


class LibriVoxOnly(UserWarning):
    """The Asterisk prompts could not be had (no apt): the control set is five sentences of one reader."""


@dataclass(frozen=True)
class Clip:
    """One recorded sentence (or few) and what is said in it."""

    path: Path
    text: str
    seconds: float
    speaker: str = ""


def _plain_english(text: str) -> bool:
    """A reference we can trust word for word (see the module docstring)."""
    if not (_SENTENCE.match(text) and _PLAIN.fullmatch(text)) or len(text.split()) < MIN_WORDS:
        return False
    words = re.sub(r"[^a-z' ]", " ", text.lower()).split()
    common = common_words()
    return normalize(text).split() == words and all(w in common for w in words if "'" not in w)


def has_asterisk() -> bool:
    """Both Asterisk packages' files are at hand (system or venv), so the control set is the full one."""
    return test_data.asterisk_sounds() is not None and test_data.asterisk_text() is not None


def _librivox_dir() -> Path:
    folder = test_data.librivox_dir()
    if folder is None:
        raise MissingSpeechData(f"real-speech test data not installed (missing: {', '.join(test_data.missing())}): "
                                f"run `make test-data` (python tests/setup_test_data.py), or apt-get install "
                                f"{' '.join(APT_PACKAGES)}")
    return folder


def asterisk_clips() -> list[Clip]:
    """Every usable prompt, by file name; none when the Asterisk packages could not be had."""
    sounds, texts = test_data.asterisk_sounds(), test_data.asterisk_text()
    if sounds is None or texts is None:
        return []
    clips = []
    with gzip.open(texts, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            name, sep, text = line.partition(":")
            text = " ".join(text.split())
            path = sounds / f"{name.strip()}.g722"
            if line.startswith(";") or not sep or not path.is_file() or not _plain_english(text):
                continue
            seconds = path.stat().st_size / G722_BYTES_PER_S
            if seconds <= MAX_CLIP_S:
                clips.append(Clip(path, text, seconds))
    return sorted(clips, key=lambda c: c.path.name)


def librivox_clips() -> list[Clip]:
    """The five LibriVox sentences, as sentences (capital first letter, full stop)."""
    folder, clips = _librivox_dir(), []
    for line in (folder / "transcription").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\s*<s>\s*(.*?)\s*</s>\s*\((\S+)\)\s*", line)
        if match:
            text, file_id = match.groups()
            path = folder / f"{file_id}.wav"
            clips.append(Clip(path, text[:1].upper() + text[1:] + ".", 0.0))
    return clips


def pick(clips: list[Clip], target_s: float, max_clips: int) -> list[Clip]:
    """The fewest evenly spread clips (in name order) that reach `target_s` seconds, at most `max_clips`."""
    chosen: list[Clip] = []
    for count in range(1, min(max_clips, len(clips)) + 1):
        chosen = [clips[round(i)] for i in np.linspace(0, len(clips) - 1, count)]
        if sum(c.seconds + GAP_S for c in chosen) >= target_s:
            break
    return chosen


def build_human_control(out_dir: Path, max_clips: int = 40, target_s: float = 180.0) -> tuple[Path, Path]:
    """Write `human_control.wav` and `human_control.vtt` (about `target_s` seconds, the LibriVox sentences
    last) into `out_dir`; return their paths. MissingSpeechData says how to get the recordings when absent;
    without the Asterisk prompts the set is the LibriVox sentences alone, with a LibriVoxOnly warning."""
    librivox = librivox_clips()
    if not has_asterisk():
        warnings.warn(LibriVoxOnly(f"human control set: the {len(librivox)} LibriVox sentences only, not "
                                   f"{target_s:.0f} s: the Asterisk prompts are not installed "
                                   f"(missing {', '.join(test_data.missing())}; apt-get brings them)"), stacklevel=2)
    samples = {c.path: audio_io.load_audio(c.path) for c in librivox}
    librivox_s = sum(len(s) for s in samples.values()) / audio_io.SAMPLE_RATE
    prompts = pick(asterisk_clips(), target_s - librivox_s - GAP_S * len(librivox), max_clips - len(librivox))
    return write_set(prompts + librivox, out_dir, "human_control", samples)


def write_set(clips: list[Clip], out_dir: Path, name: str,
              samples: dict[Path, np.ndarray] | None = None) -> tuple[Path, Path]:
    """The clips joined with GAP_S of silence into `name.wav` (16 kHz mono) with one cue per clip in `name.vtt`."""
    samples = dict(samples or {})
    samples.update({c.path: audio_io.load_audio(c.path) for c in clips if c.path not in samples})
    gap = np.zeros(round(GAP_S * audio_io.SAMPLE_RATE), dtype=np.float32)
    pieces, cues, position = [], [], 0
    for clip in clips:
        start = position + len(gap) if pieces else 0
        pieces += [gap, samples[clip.path]] if pieces else [samples[clip.path]]
        position = start + len(samples[clip.path])
        cues.append(Cue(_ms(start), _ms(position), clip.text, id=clip.path.stem))
    out_dir = Path(out_dir)
    wav = audio_io.write_wav(out_dir / f"{name}.wav", np.concatenate(pieces))
    vtt = write_captions(Captions(cues=cues, language="en"), out_dir / f"{name}.vtt")
    return wav, vtt


# ---------------------------------------------------------------------------- the quality protocol's three sets


def fotaq_clips(out_dir: Path) -> list[Clip]:
    """Flight of the Amazon Queen's acted lines that pass the same plain-English filter, with their speakers, by
    file name (tests/fotaq.py); MissingSpeechData when the game was not fetched (`setup_test_data.py --bench`)."""
    from tests import fotaq

    queen = test_data.fotaq_file()
    if queen is None:
        raise MissingSpeechData(f"{test_data.FOTAQ_PACKAGE} not fetched: python tests/setup_test_data.py --bench")
    clips = [Clip(c.path, c.text, c.seconds, c.speaker) for c in fotaq.extract(queen, Path(out_dir) / "fotaq-clips")
             if c.speaker not in fotaq.NONVERBAL and _plain_english(c.text) and c.seconds <= MAX_CLIP_S]
    return sorted(clips, key=lambda c: c.path.name)


def real_speech_sets(out_dir: Path, target_s: float = 180.0) -> dict[str, tuple[Path, Path]]:
    """The protocol's real human speech, as (wav, vtt) per set (bench/quality.py):
    tuning — `real-joe`: Joe King, the game's hero (recipes are compared on him);
    test — `real-cast`: every other character of the game, `real-asterisk`: the Asterisk prompts (one woman),
    `real-librivox`: the five LibriVox sentences (one man reading Austen; only 71 words).
    Speakers never cross between tuning and test; none of these is ever trained on."""
    out_dir = Path(out_dir)
    game = fotaq_clips(out_dir)
    joe = [c for c in game if c.speaker == "JOE"]
    cast = [c for c in game if c.speaker != "JOE"]
    sets = {"real-joe": pick(joe, target_s, 200), "real-cast": pick(cast, target_s, 200),
            "real-asterisk": pick(asterisk_clips(), target_s, 60), "real-librivox": librivox_clips()}
    if not sets["real-asterisk"]:
        raise MissingSpeechData("the Asterisk prompts are not installed: python tests/setup_test_data.py")
    return {name: write_set(clips, out_dir, name) for name, clips in sets.items()}


def _ms(samples: int) -> int:
    return round(samples * 1000 / audio_io.SAMPLE_RATE)
