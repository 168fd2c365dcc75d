"""The bundled real speech (core/data/replay) and how the guard ranks checkpoints."""

from __future__ import annotations

import json

from core import replay
from core.audio import duration_seconds
from core.train import _quality


def test_the_bundle_is_real_speech_split_into_replay_and_guard() -> None:
    replayed, guarded = replay.bundled("replay"), replay.bundled("guard")
    assert sum(c.seconds for c in replayed) > 200 and sum(c.seconds for c in guarded) > 60
    assert not {c.path for c in replayed} & {c.path for c in guarded}
    for clip in replayed + guarded:
        assert 3 < duration_seconds(clip.path) <= 28.5  # one training row each
        assert abs(duration_seconds(clip.path) - clip.seconds) < 0.2
    # guard speakers are never trained on (AMI meetings are split by meeting, so by speaker)
    trained = {s.strip() for c in replayed for s in c.speakers.split(",")}
    assert not trained & {s.strip() for c in guarded for s in c.speakers.split(",")}


def test_every_clip_is_attributed() -> None:
    manifest = json.loads((replay.REPLAY_DIR / "manifest.json").read_text())
    attribution = (replay.REPLAY_DIR / "ATTRIBUTION.md").read_text()
    for entry in manifest:
        assert entry["licence"] in ("CC BY 4.0", "public domain", "public domain (a work of the US government)")
        assert entry["source"] in attribution
    assert {p.name for p in replay.REPLAY_DIR.glob("*.mp3")} == {m["file"] for m in manifest}


def test_replay_is_for_english() -> None:
    assert replay.applies(False, None) and replay.applies(True, "en") and replay.applies(True, None)
    assert not replay.applies(True, "cy")


def test_a_checkpoint_over_the_guard_is_never_chosen_over_one_within() -> None:
    within_poor = _quality(recall=0.1, wer=0.5, drift=0.01, guard=0.02)
    over_great = _quality(recall=1.0, wer=0.0, drift=0.05, guard=0.02)
    over_less = _quality(recall=0.0, wer=0.9, drift=0.03, guard=0.02)
    assert within_poor > over_less > over_great  # among those over it, the least drift wins
    assert _quality(0.8, 0.1, 0.02, 0.02) > _quality(0.7, 0.0, 0.0, 0.02)  # at the guard is within it
    assert _quality(0.8, 0.1) == _quality(0.8, 0.1, None, 0.02)  # no guard speech (non-English): recall decides


def test_timestamped_replay_labels_are_rescaled_to_the_speed(tiny) -> None:
    from transformers import WhisperProcessor

    from core.examples import timestamped_label_ids

    tokenizer = WhisperProcessor.from_pretrained(tiny.hf_dir).tokenizer
    tokenizer.set_prefix_tokens(predict_timestamps=False)  # as training sets it: the timed rows drop that token
    ids = timestamped_label_ids(tokenizer, [(0.0, 2.5, "Okay."), (2.5, 7.12, "Does anyone want to see it?")],
                                factor=1.1)
    first = tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1  # <|0.00|>; later ones are not listed by name
    assert [round((t - first) * 0.02, 2) for t in ids if t >= first] == [0.0, 2.28, 2.28, 6.48]
    assert ids[-1] == tokenizer.eos_token_id and first - 1 not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == " Okay. Does anyone want to see it?"


def test_the_base_model_places_timed_segments_inside_each_replay_clip(tiny) -> None:
    """What half the replay rows are trained on: the base model's own timestamped transcript of real speech."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from core.examples import Encoder
    from core.train import base_segments

    processor = WhisperProcessor.from_pretrained(tiny.hf_dir)
    model = WhisperForConditionalGeneration.from_pretrained(tiny.hf_dir)
    clips = replay.load("replay")[:2]
    found = base_segments(model, Encoder(processor, model, "cpu"), clips, {"num_beams": 1, "do_sample": False})
    for clip, segments in zip(clips, found, strict=True):
        assert len(segments) >= 2 and all(text for _, _, text in segments)
        times = [t for start, end, _ in segments for t in (start, end)]
        assert times == sorted(times) and times[-1] <= len(clip) / 16000
