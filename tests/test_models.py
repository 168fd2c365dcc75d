"""Model specs: bundled, local CTranslate2 and transformers dirs, Hub ids offline, atomic conversion."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import models
from core.errors import InputError, JobError
from core.events import Log

ROOT = Path(__file__).resolve().parent.parent


def test_bundled_tiny_resolves_to_a_loadable_transformers_dir(tiny):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    assert tiny.spec == "tiny.en" and not tiny.multilingual
    assert (tiny.ct2_dir / "model.bin").is_file()
    model = WhisperForConditionalGeneration.from_pretrained(tiny.hf_dir)
    processor = WhisperProcessor.from_pretrained(tiny.hf_dir)
    assert model.config.vocab_size == 51864 and model.config.decoder_start_token_id == 50257
    assert model.generation_config.no_timestamps_token_id == 50362
    assert len(model.generation_config.alignment_heads) > 0
    assert processor.tokenizer.decode([50257]) == "<|startoftranscript|>"


def _tree_state(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Inode, size and mtime of the folder and everything under it: a conversion builds a temp folder and renames
    it into place (new inodes, a changed parent mtime), and taking the lock creates or touches a lock file."""
    entries = [folder, *folder.rglob("*")]
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns) for p in entries}


def test_second_resolve_is_a_cache_hit(tiny):
    """No conversion the second time: no "converting" event (test_killed_conversion… sees the one a conversion
    emits) and not one byte, inode or mtime of the cache changes."""
    hf_cache = tiny.hf_dir.parent
    before = _tree_state(hf_cache)
    assert f"{tiny.hf_dir.name}/model.safetensors" in before and f".{tiny.hf_dir.name}.lock" in before
    events: list = []
    again = models.resolve("tiny.en", on_event=events.append)
    assert again == tiny
    assert events == []
    assert _tree_state(hf_cache) == before


def test_local_transformers_dir_resolves_to_itself(tiny):
    resolved = models.resolve(str(tiny.hf_dir))
    assert resolved.hf_dir == tiny.hf_dir and resolved.ct2_dir is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_killed_conversion_never_leaves_a_loadable_half_model(tmp_path):
    """SIGKILL a conversion mid-way: the cache entry is absent, and the next resolve converts cleanly."""
    cache = tmp_path / "cache"
    env = {**os.environ, "WHISPER_TUI_CACHE": str(cache)}
    child = subprocess.Popen([sys.executable, "-c", "from core.models import resolve; resolve('tiny.en')"],
                             cwd=ROOT, env=env)
    hf_root = cache / "hf"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the temp folder holds some of the model
        partial = [p for p in hf_root.glob(".*.partial") if any(p.iterdir())] if hf_root.exists() else []
        if partial:
            break
        time.sleep(0.05)
    assert partial, "conversion never started writing"
    child.send_signal(signal.SIGKILL)
    child.wait()
    finals = [p for p in hf_root.iterdir() if not p.name.startswith(".")]
    assert finals == []  # nothing under the final name
    os.environ["WHISPER_TUI_CACHE"], saved = str(cache), os.environ["WHISPER_TUI_CACHE"]
    events: list = []
    try:
        resolved = models.resolve("tiny.en", on_event=events.append)
    finally:
        os.environ["WHISPER_TUI_CACHE"] = saved
    assert (resolved.hf_dir / "model.safetensors").is_file()
    assert [e for e in events if isinstance(e, Log) and e.message.startswith("converting ")], events


def test_unknown_spec_names_the_offline_choices():
    with pytest.raises(InputError) as info:
        models.resolve("whisper-gigantic")
    message = str(info.value)
    assert "unknown model" in message and "tiny.en" in message and "\n" not in message


def test_hub_id_offline_is_one_sentence(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(JobError) as info:
        models.resolve("openai/whisper-small")
    message = str(info.value)
    assert "Hugging Face Hub" in message and "tiny.en" in message and "\n" not in message


def test_hub_id_unreachable_is_one_sentence(tmp_path):
    """Online mode, but the Hub endpoint refuses connections (a closed local port)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{_free_port()}",
           "HF_HOME": str(tmp_path / "hf-home")}
    result = subprocess.run([sys.executable, "-m", "core.cli", "transcribe", str(ROOT / "sample_data/control.mp3"),
                             "-m", "openai/whisper-small", "-o", str(tmp_path / "out")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "unreachable" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_half_written_transformers_dir_is_refused(tmp_path):
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    with pytest.raises(InputError, match="no model weights"):
        models.resolve(str(half))
    (half / "config.json").write_text('{"model_type": "whis')
    with pytest.raises(InputError, match="not valid JSON"):
        models.resolve(str(half))


def test_not_a_whisper_dir_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(InputError, match="not a Whisper model"):
        models.resolve(str(tmp_path))


def test_bundled_multilingual_base_resolves(model_cache):
    base = models.resolve("base")
    assert base.multilingual
    config = json.loads((base.hf_dir / "config.json").read_text())
    assert config["vocab_size"] == 51865 and config["d_model"] == 512
    generation = json.loads((base.hf_dir / "generation_config.json").read_text())
    assert generation["lang_to_id"]["<|en|>"] == 50259
    assert generation["task_to_id"] == {"transcribe": 50359, "translate": 50358}
    assert generation["no_timestamps_token_id"] == 50363
    assert (base.ct2_dir / "model.bin").is_file()  # the split parts joined for faster-whisper
