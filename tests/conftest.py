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


# ---------------------------------------------------------------------------- the TUI tests' workspaces


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Data and config folders of the test's own (the user's are never touched), and no audio player."""
    monkeypatch.setenv("WHISPER_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WHISPER_TUI_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("WHISPER_TUI_PLAYER", "none")
    return tmp_path / "home"


@pytest.fixture
def sample(home: Path):
    """The bundled sample project as a new user gets it: train.mp3 with captions, plain.mp3 without."""
    from core.workspace import sample_workspace

    return sample_workspace()


@pytest.fixture
def workspace(sample):
    """The sample project with one keyword mis-heard in cue 4 of captions/train.vtt (something to fix)."""
    from core import captions as caps
    from tests.tui_helpers import FLAGGED, KEYWORD, MISHEARD

    path = sample.captions_dir / "train.vtt"
    cues = list(caps.read(path).cues)
    assert KEYWORD in cues[FLAGGED].text
    cues[FLAGGED] = cues[FLAGGED].with_text(cues[FLAGGED].text.replace(KEYWORD, MISHEARD))
    caps.write(caps.Captions(cues=cues), path)
    return sample
