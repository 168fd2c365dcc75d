"""Screen 3, Segments, and the headless planning and building under it, on the real sample workspace."""

from __future__ import annotations

import shutil
import tomllib

import pytest
from datasets import load_from_disk
from textual.pilot import Pilot

from core import captions as caps
from core.dataset import PrepareOptions, Recording, plan
from core.dataset_plan import DatasetPlan, PlanEntry, build_dataset, built_dataset, plan_dataset
from core.errors import Cancelled, InputError
from core.events import Event, Job, Progress
from core.segments import MAX_MS
from core.workspace import Workspace
from tests.tui_helpers import SAMPLES, wait_for
from tui.app import WhisperTuiApp
from tui.screens.editor import EditorScreen
from tui.screens.segments import SegmentsScreen, duration_bar
from tui.widgets.lines import StatusLine, TextLine

pytestmark = pytest.mark.anyio


def with_plain_captions(workspace: Workspace) -> Workspace:
    """A second captioned source: the sample's plain speech (its audio is already in the workspace)."""
    shutil.copyfile(SAMPLES / "plain.vtt", workspace.captions_dir / "plain.vtt")
    return workspace


def cues_of(workspace: Workspace, stem: str) -> list[caps.Cue]:
    return caps.read(workspace.captions_dir / f"{stem}.vtt").cues


def assert_whole_cues(workspace: Workspace, rows: list[PlanEntry]) -> None:
    """Every row fits Whisper's window and holds whole cues (a cue is never cut by a row's edge)."""
    cues = {stem: cues_of(workspace, stem) for stem in {r.stem for r in rows}}
    for row in rows:
        assert 0 < row.duration_ms <= MAX_MS
        for index in row.cues:
            cue = cues[row.stem][index]
            assert row.start_ms <= cue.start and cue.end <= row.end_ms, (row, cue)
        assert row.text == " ".join(cues[row.stem][i].text.strip() for i in row.cues)


def minutes(plan: DatasetPlan, split: str) -> str:
    rows, ms = plan.totals(split)
    return f"{split} {rows} row{'s' * (rows != 1)} · {ms / 60_000:.1f} min"


# ---------------------------------------------------------------------------- core, directly


def test_plan_matches_core_dataset_plan(sample: Workspace) -> None:
    planned = plan_dataset(sample, views=False)
    recording = Recording(sample.audio_dir / "train.mp3", sample.captions_dir / "train.vtt")
    expected = plan([recording], options=PrepareOptions(views=False))[0].rows
    assert [(r.split, r.segment.start_ms, r.segment.end_ms) for r in expected] == \
        [(r.split, r.start_ms, r.end_ms) for r in planned.rows()]
    assert planned.errors == ()
    assert planned.train == (recording,) and planned.validation is None
    assert_whole_cues(sample, planned.rows())
    # without views every cue is in exactly one row: ~15 % held out for validation, the rest to train
    used = sorted(i for r in planned.rows() for i in r.cues)
    assert used == list(range(len(cues_of(sample, "train"))))
    assert 0 < planned.totals("validation")[0] < planned.totals("train")[0]
    # plain.mp3 has no captions: listed with why, not silently missing
    assert [(e.kind, e.stem, e.flags) for e in planned.entries if e.stem == "plain"] == [("source", "plain",
                                                                                          ("no cues",))]
    assert any(r.flags and r.flags[0].startswith("K") for r in planned.rows())  # keywords counted


def test_views_give_more_rows_of_whole_cues(sample: Workspace) -> None:
    packed, views = plan_dataset(sample, views=False), plan_dataset(sample)
    assert views.views and views.rows() == plan_dataset(sample, views=True).rows()  # views are the default
    assert views.totals("train")[0] > packed.totals("train")[0]
    assert views.rows("validation") == packed.rows("validation")  # validation is never augmented
    assert_whole_cues(sample, views.rows())


def test_roles_move_rows_and_persist(sample: Workspace) -> None:
    with_plain_captions(sample)
    sample.set_role("plain", "validation")
    planned = plan_dataset(sample, views=False)  # each cue in one row, so the rows can be counted by cue
    assert {r.stem for r in planned.rows("validation")} == {"plain"}
    assert {r.stem for r in planned.rows("train")} == {"train"}
    assert len(planned.rows("train")) == len(plan_dataset(sample, views=False).rows("train"))
    assert sorted(i for r in planned.rows("train") for i in r.cues) == list(range(len(cues_of(sample, "train"))))
    assert planned.validation is not None and planned.validation.audio.stem == "plain"
    sample.set_role("train", "skip")
    skipped = plan_dataset(sample)
    assert ("source", "train", ("skip",)) in [(e.kind, e.stem, e.flags) for e in skipped.entries]
    assert skipped.errors and "no training source" in skipped.errors[0]
    with pytest.raises(InputError, match="no training source"):
        build_dataset(sample, skipped)
    manifest = tomllib.loads(sample.manifest.read_text(encoding="utf-8"))
    assert manifest["roles"] == {"plain": "validation", "train": "skip"}


def test_problems_are_entries_and_block_nothing_else(sample: Workspace) -> None:
    """A cue over 30 s is left out with why; unreadable captions are an error entry that blocks building."""
    path = sample.captions_dir / "train.vtt"
    cues = cues_of(sample, "train")
    long = caps.Cue(cues[3].start, cues[8].end, " ".join(c.text for c in cues[3:9]))
    caps.write(caps.Captions(cues=[*cues[:3], long, *cues[9:]]), path)
    planned = plan_dataset(sample)
    [left_out] = planned.left_out
    assert left_out.flags == ("too long",) and left_out.cues == (3,) and "over the 30.0 s limit" in left_out.text
    assert all(3 not in r.cues for r in planned.rows())
    assert planned.errors == ()

    (sample.captions_dir / "plain.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:0x.000\nhello\n")
    broken = plan_dataset(sample)
    [error] = [e for e in broken.entries if e.severity == "error"]
    assert error.stem == "plain" and "bad timestamp" in error.text
    assert broken.rows() == planned.rows()  # the other source still shows
    with pytest.raises(InputError, match="bad timestamp"):
        build_dataset(sample, broken)


def test_build_writes_the_planned_rows_and_a_cancel_keeps_the_old_dataset(sample: Workspace) -> None:
    with_plain_captions(sample)
    sample.set_role("plain", "validation")
    planned = plan_dataset(sample, views=False)
    assert built_dataset(sample, planned) is None
    result = build_dataset(sample, planned)
    assert result.path == sample.dataset_dir
    dataset = load_from_disk(str(sample.dataset_dir))
    for split in ("train", "validation"):
        rows, ms = planned.totals(split)
        assert dataset[split].num_rows == rows
        assert abs(sum(e - s for s, e in zip(dataset[split]["start"], dataset[split]["end"], strict=True))
                   - ms / 1000) < 0.5
    assert set(dataset["validation"]["source"]) == {"plain.mp3"}
    built = built_dataset(sample, planned)
    assert built is not None and not built.stale
    assert built.rows == {split: planned.totals(split)[0] for split in ("train", "validation")}

    views = plan_dataset(sample, views=True)
    assert built_dataset(sample, views).stale
    # cancelled from its first progress report (before the first row): Cancelled, and nothing written
    events: list[Event] = []

    def on_event(event: Event) -> None:
        events.append(event)
        if isinstance(event, Progress):
            job.cancel()

    job = Job(on_event)
    before = sorted(p.name for p in sample.root.iterdir()), sorted(p.name for p in sample.dataset_dir.rglob("*"))
    with pytest.raises(Cancelled, match="the previous dataset is unchanged"):
        build_dataset(sample, views, job)
    assert [e.done for e in events if isinstance(e, Progress)] == [0]
    assert (sorted(p.name for p in sample.root.iterdir()), sorted(p.name for p in sample.dataset_dir.rglob("*"))) \
        == before
    assert load_from_disk(str(sample.dataset_dir))["train"].num_rows == planned.totals("train")[0]


def test_duration_bar() -> None:
    assert duration_bar(0) == " " * 10
    assert duration_bar(MAX_MS) == "█" * 10
    assert duration_bar(15_000) == "█████     "
    assert duration_bar(1_500) == "▌         "


# ---------------------------------------------------------------------------- the screen


async def open_segments(pilot: Pilot) -> SegmentsScreen:
    await pilot.press("3")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SegmentsScreen) and pilot.app.screen.plan)
    return pilot.app.screen  # type: ignore[return-value]


def totals_line(screen: SegmentsScreen) -> str:
    return screen.query_one("#segment-totals", TextLine).text.plain


def status(screen: SegmentsScreen) -> str:
    return screen.query_one(StatusLine).text.plain


async def test_pressing_3_shows_the_segments_and_totals(sample: Workspace) -> None:
    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_segments(pilot)
        with_views = plan_dataset(sample)  # what `whisper-tui prepare` makes by default
        assert with_views.views and screen.table.entries == with_views.entries
        assert "views on" in totals_line(screen)
        assert screen.table.current == with_views.rows()[0]  # the cursor starts on the first row
        train_rows, validation_rows = len(with_views.rows("train")), len(with_views.rows("validation"))
        assert f"{train_rows} training and {validation_rows} validation rows" in status(screen)
        await pilot.press("v")
        await wait_for(pilot, lambda: "views off" in totals_line(screen))
        expected = plan_dataset(sample, views=False)
        assert screen.table.entries == expected.entries
        assert minutes(expected, "train") in totals_line(screen)
        assert minutes(expected, "validation") in totals_line(screen)
        assert "not built yet" in screen.query_one("#segment-dataset", TextLine).text.plain
        assert_whole_cues(sample, [e for e in screen.table.entries if e.kind == "row"])

        await pilot.press("down")
        row = screen.table.current
        assert row is not None and row.kind == "row"
        await wait_for(pilot, lambda: f"{row.split} row of train" in status(screen))

        await pilot.press("v")
        await wait_for(pilot, lambda: "views on" in totals_line(screen))
        assert screen.table.entries == with_views.entries
        assert len(with_views.rows()) > len(expected.rows())
        assert minutes(with_views, "train") in totals_line(screen)
        assert screen.table.current is not None and screen.table.current.stem == "train"  # still near the row
        await pilot.press("v")
        await wait_for(pilot, lambda: "views off" in totals_line(screen))
        assert screen.table.entries == expected.entries


async def test_role_key_moves_a_source_to_validation_and_persists(sample: Workspace) -> None:
    with_plain_captions(sample)
    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_segments(pilot)
        await pilot.press("home")  # plain sorts first
        assert screen.table.current is not None and screen.table.current.stem == "plain"
        await pilot.press("r")
        await wait_for(pilot, lambda: "plain is now validation" in status(screen))
        planned = screen.plan
        assert planned is not None and {r.stem for r in planned.rows("validation")} == {"plain"}
        assert all(e.split == "validation" for e in screen.table.entries if e.stem == "plain")
        assert minutes(planned, "validation") in totals_line(screen)
        assert tomllib.loads(sample.manifest.read_text(encoding="utf-8"))["roles"] == {"plain": "validation"}
        await pilot.press("r")  # → skip
        await wait_for(pilot, lambda: "plain is now skip" in status(screen))
        assert [e.flags for e in screen.table.entries if e.stem == "plain"] == [("skip",)]
        await pilot.press("r")  # → train again: both sources give rows and hold some out
        await wait_for(pilot, lambda: "plain is now train" in status(screen))
        assert {r.stem for r in screen.plan.rows("train")} == {"plain", "train"}  # type: ignore[union-attr]
        assert tomllib.loads(sample.manifest.read_text(encoding="utf-8")).get("roles", {}) == {}


async def test_b_builds_the_dataset_shown(sample: Workspace) -> None:
    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_segments(pilot)
        planned = screen.plan
        assert planned is not None
        await pilot.press("b")
        await wait_for(pilot, lambda: "wrote dataset/" in status(screen), timeout=60)
        dataset = load_from_disk(str(sample.dataset_dir))
        assert {split: dataset[split].num_rows for split in dataset} == \
            {"train": planned.totals("train")[0], "validation": planned.totals("validation")[0]}
        assert f"train: {planned.totals('train')[0]} rows" in status(screen)
        assert dataset["train"]["text"] == [r.text for r in planned.rows("train")]
        state = screen.query_one("#segment-dataset", TextLine).text.plain
        counts = f"{planned.totals('train')[0]} train + {planned.totals('validation')[0]} validation rows, built"
        assert counts in state and "out of date" not in state
        assert screen.job_name is None


async def test_resume_replans_and_errors_are_one_line(sample: Workspace) -> None:
    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_segments(pilot)
        await pilot.press("enter")  # opens the selected row's captions in the editor
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.path is not None)
        assert app.screen.path == sample.captions_dir / "train.vtt"  # type: ignore[attr-defined]

        # captions change while screen 3 is hidden: one cue goes, and plain's captions are broken
        path = sample.captions_dir / "train.vtt"
        cues = cues_of(sample, "train")
        caps.write(caps.Captions(cues=cues[:-1]), path)
        (sample.captions_dir / "plain.vtt").write_text("not captions\n")
        screen = await open_segments(pilot)
        await wait_for(pilot, lambda: screen.plan is not None and screen.plan.entries == plan_dataset(sample).entries)
        assert max(i for r in screen.plan.rows() for i in r.cues) == len(cues) - 2  # type: ignore[union-attr]
        assert "cannot build: " in screen.query_one("#segment-dataset", TextLine).text.plain
        await pilot.press("b")
        await wait_for(pilot, lambda: "cannot build: " in status(screen) and "not a WebVTT file" in status(screen))
        assert screen.job_name is None and not sample.dataset_dir.exists()
        await pilot.press("home", "p")  # plain has no rows to play; with no player a row says so
        await wait_for(pilot, lambda: "select a row to play" in status(screen))
        await pilot.press("down", "p")
        await wait_for(pilot, lambda: "cannot play: no audio player" in status(screen))


def test_the_registry_loads_this_screen() -> None:
    from tui.screens import SCREENS

    assert SCREENS[3].load() is SegmentsScreen
