"""The disk cache of encoder outputs: a second encoding of the same audio with the same model reads, not computes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from core.audio import load_audio
from core.encoded_cache import EncodedCache, audio_key, model_key
from core.examples import Encoder, RowExamples, WarpTurns, mel_centres, speed_perturb, warp_mel
from tests.tui_helpers import SAMPLES


def test_keys_follow_content_speed_and_settings() -> None:
    samples = np.linspace(-1, 1, 16000, dtype=np.float32)
    assert audio_key(samples) == audio_key(samples.copy())
    assert audio_key(samples) != audio_key(speed_perturb(samples, 1.1))
    assert audio_key(samples, "greedy") != audio_key(samples, "beam 5")


def test_arrays_and_texts_round_trip_atomically(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    cache = EncodedCache(model, tmp_path / "cache")
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert cache.array("k") is None
    cache.put_array("k", value)
    cache.put_text("t", "hello there")
    assert np.array_equal(cache.array("k"), value) and cache.text("t") == "hello there"
    assert [p.name for p in cache.folder.iterdir() if p.name.startswith(".")] == []  # no temp files left
    before = model_key(model)
    os.utime(model / "model.safetensors", ns=(1, 1))  # other weights: another folder, never a stale read
    assert model_key(model) != before and EncodedCache(model, tmp_path / "cache").array("k") is None


def test_the_encoder_reads_its_cache_the_second_time(tiny, tmp_path: Path) -> None:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    processor = WhisperProcessor.from_pretrained(tiny.hf_dir)
    model = WhisperForConditionalGeneration.from_pretrained(tiny.hf_dir).eval()
    clip = load_audio(SAMPLES / "train.mp3", 0.3, 5.0)
    clips = [clip, speed_perturb(clip, 0.9)]
    first = Encoder(processor, model, "cpu", cache=EncodedCache(tiny.hf_dir, tmp_path))
    computed = first.encode(clips)
    assert first.cache.misses == 2 and first.cache.hits == 0
    second = Encoder(processor, model, "cpu", cache=EncodedCache(tiny.hf_dir, tmp_path))
    reread = second.encode(clips)
    assert second.cache.hits == 2 and second.cache.misses == 0
    assert reread.shape == computed.shape == (2, 1500, 384) and bool((reread == computed).all())
    warped = second.encode(clips, warp=1.1)  # another view of the same audio: its own keys, never the unwarped read
    assert second.cache.misses == 2 and not bool(torch_close(warped, computed))
    assert bool((second.encode(clips, warp=1.1) == warped).all()) and second.cache.hits == 4
    shutil.rmtree(tmp_path)


def torch_close(a, b) -> bool:
    import torch

    return torch.allclose(a, b, atol=1e-3)


def test_a_warp_moves_the_voice_up_or_down_the_spectrum_and_keeps_the_pace() -> None:
    """A 1 kHz tone warped by 1.2 peaks in the mel band of 1.2 kHz, in the same frames (pace unchanged)."""
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor()
    centres = mel_centres(extractor.mel_filters)
    tone = np.zeros(16000 * 2, dtype=np.float32)
    tone[8000:24000] = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    features = extractor([tone], sampling_rate=16000, return_tensors="pt").input_features  # [1, 80, frames]
    loudest = features[0, :, 60:140].mean(-1).argmax().item()
    for factor in (0.8, 1.2):
        warped = warp_mel(features, factor, centres)
        band = warped[0, :, 60:140].mean(-1).argmax().item()
        assert abs(centres[band] - 1000 * factor) < abs(centres[band] - centres[band - 1]) + 1, (factor, band)
        assert warped.shape == features.shape
        assert float(warped[0, :, :40].max()) < float(warped[0, :, 60:140].max()) - 0.5  # silence stays silent
    assert abs(centres[loudest] - 1000) < 60


def test_each_pass_hears_a_row_at_the_next_warp(tiny) -> None:
    """Warps cost no extra steps: pass p over the rows hears every copy at warps[p % 3], and the pass comes from the
    Trainer's epoch (so a resumed run, which restores it, hears what the uninterrupted one did)."""
    from transformers import WhisperProcessor

    processor = WhisperProcessor.from_pretrained(tiny.hf_dir)
    clip = load_audio(SAMPLES / "train.mp3", 0.3, 3.0)
    rows = RowExamples([(clip, "Mixtral")], (1.0, 1.1), processor.tokenizer, Encoder(processor, None, "cpu"), False,
                       warps=(0.9, 1.0, 1.1))
    assert len(rows) == 2
    turns, reads = WarpTurns([rows]), []
    for epoch in (0.0, 1.0, 2.0, 3.0, 1.25):  # the last: a run resumed a quarter into its second pass
        turns.on_epoch_begin(None, SimpleNamespace(epoch=epoch), None)
        reads.append(rows[0].inputs)
        assert bool((rows[0].inputs == reads[-1]).all())  # within a pass, the same warp every read
    assert all(not bool((reads[i] == reads[j]).all()) for i, j in ((0, 1), (1, 2), (0, 2)))
    assert bool((reads[3] == reads[0]).all()) and bool((reads[4] == reads[1]).all())
    assert bool((reads[1] == rows.build(0).inputs).all())  # pass 1: warp 1.0, the unwarped features
