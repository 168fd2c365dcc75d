"""Shared fixtures: the real bundled model (converted once per test session) and the sample data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"

# Tests run offline, like CI and many users' boxes; the Hub-unreachable tests set their own env.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh model cache per session, so every run exercises the real conversion once."""
    cache = Path(os.environ.get("WHISPER_TUI_TEST_CACHE") or tmp_path_factory.mktemp("model-cache"))
    os.environ["WHISPER_TUI_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def tiny(model_cache: Path):
    """The bundled tiny.en, resolved (and converted) once."""
    from core.models import resolve

    return resolve("tiny.en")


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES
