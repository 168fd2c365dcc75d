"""Packing cues into ≤ 30 s training segments, hold-out and training views (pure: no audio is read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.captions import Cue, read
from core.segments import MAX_MS, PAD_MS, Segment, hold_out, pack, training_views


@pytest.fixture(scope="module")
def cues(samples: Path) -> list[Cue]:
    return read(samples / "train.vtt").cues


def _uniform(count: int, length: int = 4000, gap: int = 1000) -> list[Cue]:
    """`count` cues of `length` ms with `gap` ms between them, the first starting `gap` ms in."""
    return [Cue(gap + k * (length + gap), (k + 1) * (length + gap), f"cue {k}") for k in range(count)]


def _assert_clear_of_others(segments: tuple[Segment, ...], cues: list[Cue]) -> None:
    """No segment's audio touches a cue it does not hold: that cue's words would be heard but not in the text."""
    for segment in segments:
        for index, cue in enumerate(cues):
            if index not in segment.indices:
                assert cue.end <= segment.start_ms or cue.start >= segment.end_ms, (segment, index)


def test_sample_packs_whole_cues_in_order_within_30_s(cues: list[Cue]) -> None:
    plan = pack(cues)
    assert plan.problems == ()
    assert len(plan.segments) > 1
    assert [i for s in plan.segments for i in s.indices] == list(range(len(cues)))
    assert " ".join(s.text for s in plan.segments) == " ".join(c.text for c in cues)
    for segment in plan.segments:
        assert segment.duration_ms <= MAX_MS
        first, last = cues[segment.indices[0]], cues[segment.indices[-1]]
        assert 0 <= first.start - segment.start_ms <= PAD_MS
        assert 0 <= segment.end_ms - last.end <= PAD_MS
        assert segment.cues == tuple(cues[i] for i in segment.indices)
    for before, after in zip(plan.segments, plan.segments[1:], strict=False):
        assert before.end_ms <= after.start_ms
    _assert_clear_of_others(plan.segments, cues)


def test_padding_is_at_most_half_the_gap_and_stays_inside_the_audio() -> None:
    cues = [Cue(50, 2000, "a"), Cue(2100, 4000, "b"), Cue(4600, 6000, "c")]
    plan = pack(cues, max_ms=2500, audio_ms=6080)
    assert [(s.start_ms, s.end_ms) for s in plan.segments] == [(0, 2050), (2050, 4200), (4400, 6080)]
    _assert_clear_of_others(plan.segments, cues)


def test_the_padded_span_decides_when_a_segment_is_full() -> None:
    fits = [Cue(500, 15000, "a"), Cue(15200, 29900, "b")]  # 29.4 s of cues, 29.8 s padded
    assert [s.indices for s in pack(fits).segments] == [(0, 1)]
    too_long = [Cue(500, 15000, "a"), Cue(15200, 30300, "b")]  # 29.8 s of cues, 30.2 s padded
    assert [s.indices for s in pack(too_long).segments] == [(0,), (1,)]


def test_a_cue_just_under_the_limit_keeps_only_the_padding_that_fits() -> None:
    plan = pack([Cue(1000, 30900, "almost thirty seconds")])
    (segment,) = plan.segments
    assert segment.duration_ms == MAX_MS
    assert segment.start_ms <= 1000 and segment.end_ms >= 30900


def test_an_over_long_cue_is_reported_not_packed_and_not_spanned() -> None:
    cues = [Cue(0, 5000, "before"), Cue(5500, 36500, "thirty-one seconds"), Cue(37000, 40000, "after")]
    plan = pack(cues)
    (problem,) = plan.problems
    assert (problem.kind, problem.index, problem.duration_ms) == ("too_long", 1, 31000)
    assert "cue 2" in str(problem) and "31.0 s" in str(problem)
    assert [s.indices for s in plan.segments] == [(0,), (2,)]
    assert plan.unusable == {1}
    _assert_clear_of_others(plan.segments, cues)


def test_cues_are_sorted_and_overlapping_ones_stay_together() -> None:
    cues = [Cue(6000, 8000, "third"), Cue(0, 3000, "first"), Cue(2500, 5000, "second")]
    plan = pack(cues, max_ms=6000)
    assert [s.indices for s in plan.segments] == [(1, 2), (0,)]
    assert plan.segments[0].text == "first second"
    assert [(p.kind, p.index) for p in plan.problems] == [("overlap", 2)]
    assert plan.unusable == frozenset()


def test_unusable_cues_are_reported_and_break_segments() -> None:
    cues = [Cue(0, 2000, "a"), Cue(2500, 4000, "  "), Cue(4500, 6000, "c"), Cue(7000, 7000, "zero length"),
            Cue(8000, 9000, "e"), Cue(9500, 11000, "past the end")]
    plan = pack(cues, audio_ms=9400)
    assert {(p.kind, p.index) for p in plan.problems} == {("no_text", 1), ("bad_times", 3), ("past_end", 5)}
    assert [s.indices for s in plan.segments] == [(0,), (2,), (4,)]
    _assert_clear_of_others(plan.segments, cues)


def test_skipped_cues_split_segments_and_keep_their_audio_to_themselves() -> None:
    cues = _uniform(6)
    plan = pack(cues, skip={2})
    assert [s.indices for s in plan.segments] == [(0, 1), (3, 4, 5)]
    _assert_clear_of_others(plan.segments, cues)


def test_hold_out_is_spread_deterministic_and_leaves_training_data(cues: list[Cue]) -> None:
    held = hold_out(cues)
    assert held == hold_out(list(cues))
    assert len(held) == max(1, round(len(cues) * 0.15))
    assert 0 not in held and len(cues) - 1 not in held  # the middles of equal stretches, not the ends
    assert sorted(held) == [int((k + 0.5) * len(cues) / len(held)) for k in range(len(held))]
    assert hold_out(_uniform(20), 0.15) == {3, 10, 16}
    assert hold_out(_uniform(2), 0.15) == {1}
    assert hold_out(_uniform(1), 0.15) == frozenset()  # never the only cue
    train = pack(cues, skip=held)
    validation = pack(cues, skip=set(range(len(cues))) - held)
    assert sorted(i for s in validation.segments for i in s.indices) == sorted(held)
    for kept in train.segments:
        for out in validation.segments:
            assert kept.end_ms <= out.start_ms or out.end_ms <= kept.start_ms


def test_hold_out_takes_overlapping_cues_together() -> None:
    cues = _uniform(9) + [Cue(23500, 24500, "overlaps cue 4")]
    held = hold_out(cues, 0.1)
    assert held == {4, 9}


def test_views_count_on_evenly_spaced_cues() -> None:
    # 4 s cues every 5 s: k cues span 5k - 0.6 s padded, so 2, 4 and 6 fit in 10, 20 and 30 s
    plan = training_views(_uniform(10))
    rows = {s.indices for s in plan.segments}
    assert {(i,) for i in range(10)} <= rows  # one row per cue
    assert {(0, 1), (2, 3), (1, 2), (7, 8)} <= rows  # 10 s packs from cue 0 and from cue 1
    assert {(0, 1, 2, 3), (1, 2, 3, 4), (0, 1, 2, 3, 4, 5), (1, 2, 3, 4, 5, 6), (7, 8, 9)} <= rows
    assert len(plan.segments) == 27 == len(rows)


def test_views_on_the_sample_are_deterministic_bounded_and_cover_every_cue(cues: list[Cue]) -> None:
    plan = training_views(cues, source="train.mp3")
    assert plan == training_views(list(cues), source="train.mp3")
    segments = plan.segments
    assert len(segments) > len(cues) + len(pack(cues).segments)
    assert len({s.indices for s in segments}) == len(segments)
    assert {(i,) for i in range(len(cues))} <= {s.indices for s in segments}
    assert all(s.duration_ms <= MAX_MS and s.source == "train.mp3" for s in segments)
    assert segments == tuple(sorted(segments, key=lambda s: (s.start_ms, s.end_ms, s.indices)))
    _assert_clear_of_others(segments, cues)


def test_views_respect_skipped_cues(cues: list[Cue]) -> None:
    held = hold_out(cues)
    rows = training_views(cues, skip=held).segments
    assert not any(set(s.indices) & held for s in rows)
    _assert_clear_of_others(rows, cues)


def test_bad_arguments_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        pack(_uniform(2), max_ms=0)
    with pytest.raises(ValueError):
        training_views(_uniform(2), max_lengths=(40000,))
    with pytest.raises(ValueError):
        hold_out(_uniform(2), 1.0)
