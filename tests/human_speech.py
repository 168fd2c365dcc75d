"""A control set of REAL human speech, built at test time from Debian packages (never committed).

Synthetic voices flatter a model; a forgetting check needs people. Two packaged sources:
- `asterisk-core-sounds-en-g722`: telephone prompts read by one woman, 16 kHz G.722, with the text of each
  prompt in `core-sounds-en.txt.gz` (`name: text`); CC-BY-SA-3.0.
- `pocketsphinx-testdata`: five LibriVox sentences (a man reading Austen), 16 kHz WAV, with a `transcription`
  file (`<s> text </s> (fileid)`); BSD-2.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import audio as audio_io
from core.captions import Captions, Cue
from core.captions import write as write_captions
from core.evaluate import normalize
from core.vocabulary import common_words

ASTERISK_DIR = Path("/usr/share/asterisk/sounds/en")
ASTERISK_TEXT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
APT_PACKAGES = ("asterisk-core-sounds-en", "asterisk-core-sounds-en-g722", "pocketsphinx-testdata")
G722_BYTES_PER_S = 8000  # 64 kbit/s: the file size gives the duration without decoding
GAP_S = 0.5
MIN_WORDS = 6
MAX_CLIP_S = 25.0  # a cue must fit one Whisper window

_PLAIN = re.compile(r"[A-Za-z' ]+(?:[.,?!] ?[A-Za-z' ]*)*")
_SENTENCE = re.compile(r"^[A-Z].*[.?!]$")


class MissingSpeechData(RuntimeError):
    """The Debian packages with the recordings are not installed."""


@dataclass(frozen=True)
class Clip:
    """One recorded sentence (or few) and what is said in it."""

    path: Path
    text: str
    seconds: float


def _plain_english(text: str) -> bool:
    """A reference we can trust word for word (see the module docstring)."""
    if not (_SENTENCE.match(text) and _PLAIN.fullmatch(text)) or len(text.split()) < MIN_WORDS:
        return False
    words = re.sub(r"[^a-z' ]", " ", text.lower()).split()
    common = common_words()
    return normalize(text).split() == words and all(w in common for w in words if "'" not in w)


def _check_installed() -> None:
    missing = [str(p) for p in (ASTERISK_DIR, ASTERISK_TEXT, LIBRIVOX_DIR / "transcription") if not p.exists()]
    if missing or not any(ASTERISK_DIR.glob("*.g722")):
        raise MissingSpeechData(f"real-speech test data not installed ({', '.join(missing) or 'no .g722 files'}): "
                                f"apt-get install {' '.join(APT_PACKAGES)}")


def asterisk_clips() -> list[Clip]:
    """Every usable prompt, by file name."""
    clips = []
    with gzip.open(ASTERISK_TEXT, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            name, sep, text = line.partition(":")
            text = " ".join(text.split())
            path = ASTERISK_DIR / f"{name.strip()}.g722"
            if line.startswith(";") or not sep or not path.is_file() or not _plain_english(text):
                continue
            seconds = path.stat().st_size / G722_BYTES_PER_S
            if seconds <= MAX_CLIP_S:
                clips.append(Clip(path, text, seconds))
    return sorted(clips, key=lambda c: c.path.name)


def librivox_clips() -> list[Clip]:
    """The five LibriVox sentences, as sentences (capital first letter, full stop)."""
    clips = []
    for line in (LIBRIVOX_DIR / "transcription").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\s*<s>\s*(.*?)\s*</s>\s*\((\S+)\)\s*", line)
        if match:
            text, file_id = match.groups()
            path = LIBRIVOX_DIR / f"{file_id}.wav"
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
    last) into `out_dir`; return their paths. MissingSpeechData names the apt packages when absent."""
    _check_installed()
    librivox = librivox_clips()
    samples = {c.path: audio_io.load_audio(c.path) for c in librivox}
    librivox_s = sum(len(s) for s in samples.values()) / audio_io.SAMPLE_RATE
    prompts = pick(asterisk_clips(), target_s - librivox_s - GAP_S * len(librivox), max_clips - len(librivox))
    samples.update({c.path: audio_io.load_audio(c.path) for c in prompts})
    gap = np.zeros(round(GAP_S * audio_io.SAMPLE_RATE), dtype=np.float32)
    pieces, cues, position = [], [], 0
    for clip in prompts + librivox:
        start = position + len(gap) if pieces else 0
        pieces += [gap, samples[clip.path]] if pieces else [samples[clip.path]]
        position = start + len(samples[clip.path])
        cues.append(Cue(_ms(start), _ms(position), clip.text, id=clip.path.stem))
    out_dir = Path(out_dir)
    wav = audio_io.write_wav(out_dir / "human_control.wav", np.concatenate(pieces))
    vtt = write_captions(Captions(cues=cues, language="en"), out_dir / "human_control.vtt")
    return wav, vtt


def _ms(samples: int) -> int:
    return round(samples * 1000 / audio_io.SAMPLE_RATE)
