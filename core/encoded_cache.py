"""Encoder outputs and base-model transcripts kept on disk, keyed by the model and the audio's content, so the next
run on the same data (another seed, another learning rate, a resumed run) skips the encoding pass.

Why: with the encoder frozen, its output for a row never changes; computing it is most of a short run's set-up
(a 2-minute recording with its training views and speed copies is about 130 rows, about a minute and a half on 2
CPU cores). A row's key is the SHA-256 of its samples after speed perturbation, so any change of audio, cut or
speed is a new key; the folder is per model (its weights' path, size and time), so another model never reads it.
Arrays are float32 `.npy`, loaded memory-mapped; each is written to a temp name and renamed, so a killed run leaves
no half file. When the disk has less than MIN_FREE_BYTES free, nothing is written (the run computes as before).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from core.files import atomic_write_text
from core.models import cache_root

MIN_FREE_BYTES = 2 * 1024**3


def model_key(hf_dir: Path) -> str:
    """Identifies a model's weights without reading them: path, size and modification time of its files."""
    hf_dir = Path(hf_dir).resolve()
    parts = [str(hf_dir)]
    for name in sorted(p.name for p in hf_dir.iterdir() if p.suffix in (".safetensors", ".bin", ".json")):
        stat = (hf_dir / name).stat()
        parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def audio_key(samples: np.ndarray, extra: str = "") -> str:
    digest = hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes())
    digest.update(extra.encode())
    return digest.hexdigest()[:32]


def text_key(text: str) -> str:
    """A key for something identified by text alone (e.g. the keys and labels of a batch)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class EncodedCache:
    """One model's cached encoder outputs (`<key>.npy`) and transcripts (`<key>.txt`)."""

    def __init__(self, hf_dir: Path, root: Path | None = None) -> None:
        self.folder = Path(root or cache_root() / "encoded") / model_key(hf_dir)
        self.hits = self.misses = 0

    def array(self, key: str) -> np.ndarray | None:
        try:
            found = np.load(self.folder / f"{key}.npy", mmap_mode="r")
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return found

    def put_array(self, key: str, value: np.ndarray) -> bool:
        """Keep `value` under `key`; False when the disk has no room for it (the caller computes it again)."""
        if not self._room():
            return False
        tmp = self.folder / f".{key}.{os.getpid()}.npy"
        np.save(tmp, np.ascontiguousarray(value, dtype=np.float32))
        tmp.replace(self.folder / f"{key}.npy")
        return True

    def text(self, key: str) -> str | list | None:
        """A base-model transcript kept under `key`: its text, or its timed segments as lists."""
        try:
            return json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))["text"]
        except (OSError, ValueError, KeyError):
            return None

    def put_text(self, key: str, text: str | list) -> None:
        if self._room():
            atomic_write_text(self.folder / f"{key}.json", json.dumps({"text": text}) + "\n")

    def _room(self) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.folder).free > MIN_FREE_BYTES
