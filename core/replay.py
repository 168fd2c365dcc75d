"""Real human speech that training keeps the base model's behaviour on, labelled by the base model itself.

A user's recording teaches new words; nothing in it says how the model should keep hearing everyone else. So
training mixes in a few minutes of real speech from many speakers (role `replay`: 22 speakers of AMI meetings, a
LibriVox reader) transcribed by the untrained model, pulled towards the base model's own output and distribution;
and it measures each checkpoint on held-out speakers of clean read speech (role `guard`: LJ Speech, LibriSpeech, a
1961 address) as the word error rate against the base model's transcript of them: the drift. (Clean speech, because
on far-field meetings the base model's guesses flip at the slightest change: 12 % after one step.) A checkpoint
that drifts more than the guard allows is not chosen, whatever its keyword recall (see core/train.py).

The clips ship with the package (core/data/replay/, 1.4 MB; ATTRIBUTION.md says where each comes from and under
which licence; sample_data/make_replay.py rebuilds them). None is in the quality protocol's test sets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPLAY_DIR = Path(__file__).resolve().parent / "data" / "replay"
ROLES = ("replay", "guard")


@dataclass(frozen=True)
class SpeechClip:
    """One bundled clip (≤ 28 s, 16 kHz mono MP3) and who speaks in it."""

    path: Path
    role: str
    seconds: float
    speakers: str
    source: str


def bundled(role: str, folder: Path = REPLAY_DIR) -> list[SpeechClip]:
    """The clips of one role, in manifest order (empty when the data folder is missing)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [SpeechClip(folder / m["file"], m["role"], float(m["seconds"]), m["speakers"], m["source"])
            for m in manifest if m["role"] == role and (folder / m["file"]).is_file()]


def load(role: str, folder: Path = REPLAY_DIR) -> list[np.ndarray]:
    """The decoded samples of one role's clips (one ffmpeg each, several at once: a run starts sooner)."""
    from concurrent.futures import ThreadPoolExecutor

    from core.audio import load_audio

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(load_audio, [clip.path for clip in bundled(role, folder)]))


def applies(multilingual: bool, language: str | None) -> bool:
    """The bundled speech is English: it anchors English models and multilingual ones trained on English."""
    return not multilingual or (language or "en") == "en"
