"""Screen 5, Evaluate, on the real core: a real (two-step) fine-tuned run, a real evaluation, keys through Pilot.

One cheap run serves the module: sample_data/train.mp3 prepared and trained for 2 steps; the evaluation set is
the first four cues of sample_data/validation.vtt ("heldout", role validation), so an evaluation decodes
12 clips. Each test gets its own copy of the sample project (conftest's `sample`) whose runs/run-1/ links to
that run's merged model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from core import captions as caps
from core.dataset import Recording, prepare
from core.errors import InputError, JobError
from core.evaluate import (
    FINE_TUNED,
    Report,
    compare,
    diff_words,
    evaluate,
    leaders,
    list_runs,
    load_report,
    push_model,
    reference_captions,
)
from core.train import TrainConfig, train
from core.vocabulary import load_keywords
from core.workspace import Workspace
from tests.tui_helpers import SAMPLES, wait_for
from tui.app import WhisperTuiApp
from tui.screens.evaluate import EvaluateScreen
from tui.widgets.lines import StatusLine

HELD_OUT_CUES = 4
RECORDED = Path(__file__).resolve().parent / "data" / "recorded_evaluation"

pytestmark = pytest.mark.anyio


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def heldout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """validation.mp3 with captions for its first four cues only: a short, real evaluation set."""
    folder = tmp_path_factory.mktemp("heldout")
    audio, vtt = folder / "heldout.mp3", folder / "heldout.vtt"
    shutil.copyfile(SAMPLES / "validation.mp3", audio)
    caps.write(caps.Captions(cues=caps.read(SAMPLES / "validation.vtt").cues[:HELD_OUT_CUES]), vtt)
    return audio, vtt


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny) -> Path:
    """A real run folder (merged/, adapter/, report.json) from two LoRA steps on the sample recording."""
    work = tmp_path_factory.mktemp("run")
    prepare(Recording(SAMPLES / "train.mp3", SAMPLES / "train.vtt"), work / "dataset")
    config = TrainConfig(dataset=work / "dataset", output=work / "run", keywords=tuple(load_keywords(
        SAMPLES / "keywords.txt")), max_steps=2, eval_every=2, speeds=(1.0,), batch_size=2, logging_steps=1)
    assert train(config).merged is not None
    return work / "run"


@pytest.fixture(scope="module")
def evaluated(trained: Path, heldout: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run evaluated on the held-out cues by core (what the screen shows on open), written to a folder."""
    out = tmp_path_factory.mktemp("evaluation")
    evaluate(trained / "merged", *heldout, load_keywords(SAMPLES / "keywords.txt"), "tiny.en", out_dir=out)
    return out


@pytest.fixture
def project(sample: Workspace, trained: Path, heldout: tuple[Path, Path]) -> Workspace:
    """The sample project plus the held-out set (role validation) and runs/run-1 linking the trained model."""
    workspace = sample
    audio, vtt = heldout
    shutil.copyfile(audio, workspace.audio_dir / audio.name)
    shutil.copyfile(vtt, workspace.captions_dir / vtt.name)
    workspace.set_role("heldout", "validation")
    run = workspace.runs_dir / "run-1"
    run.mkdir(parents=True)
    (run / "merged").symlink_to(trained / "merged", target_is_directory=True)
    shutil.copyfile(trained / "report.json", run / "report.json")
    return workspace


@pytest.fixture
def with_report(project: Workspace, evaluated: Path) -> Workspace:
    shutil.copytree(evaluated, project.runs_dir / "run-1" / "evaluation")
    return project


async def open_evaluate(pilot: Pilot) -> EvaluateScreen:
    await pilot.press("5")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, EvaluateScreen))
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, EvaluateScreen)
    return screen


def status(screen: EvaluateScreen) -> str:
    return screen.query_one(StatusLine).text.plain


def column(table: DataTable, index: int) -> list[str]:
    return [str(getattr(cell, "plain", cell)) for cell in (table.get_row_at(i)[index] for i in range(table.row_count))]


# ---------------------------------------------------------------------------- core helpers


def test_diff_words_marks_what_wer_counts() -> None:
    ref, hyp = "On MMLU, Mixtral 8x7B wins, uh, easily.", "on mmlu mixture 8x7B wins easily today"
    diff = diff_words(ref, hyp)
    marked = {(ref[m.start:m.end], m.op) for m in diff.reference}
    assert ("MMLU,", "equal") in marked and ("Mixtral", "substitute") in marked and ("uh,", "equal") in marked
    assert [(hyp[m.start:m.end], m.op) for m in diff.hypothesis if m.op != "equal"] == [("mixture", "substitute"),
                                                                                        ("today", "insert")]
    assert diff.errors == 2
    assert [m.op for m in diff_words("two words", "").reference] == ["delete", "delete"]
    assert [m.op for m in diff_words("", "extra").hypothesis] == ["insert"]


def test_leaders_emphasise_only_a_difference() -> None:
    assert leaders({"a": 0.2, "b": 0.1, "c": 0.1}, higher_is_better=False) == {"b", "c"}
    assert leaders({"a": 0.5, "b": None}, higher_is_better=True) == set()
    assert leaders({"a": 1.0, "b": 1.0}, higher_is_better=True) == set()


def test_list_runs_newest_first_and_only_finished(tmp_path: Path) -> None:
    import os

    for name, mtime in (("old", 1000), ("new", 2000)):
        (tmp_path / name / "merged").mkdir(parents=True)
        os.utime(tmp_path / name / "merged", (mtime, mtime))
    (tmp_path / "unfinished" / "checkpoints").mkdir(parents=True)
    assert [p.name for p in list_runs(tmp_path)] == ["new", "old"]
    assert list_runs(tmp_path / "missing") == []


def test_report_reads_back_as_written(evaluated: Path, heldout: tuple[Path, Path]) -> None:
    report = load_report(evaluated)
    written = json.loads((evaluated / "report.json").read_text())
    assert json.loads(json.dumps(report.as_dict())) == written
    assert [v.name for v in report.variants] == ["baseline", "prompted", FINE_TUNED]
    comparisons = compare(report, FINE_TUNED, reference_captions(report))
    tuned = report.variant(FINE_TUNED)
    assert tuned is not None
    assert [c.hypothesis for c in comparisons] == [c.text for c in tuned.main.hypothesis.cues]
    assert [c.reference for c in comparisons] == [c.text for c in caps.read(heldout[1]).cues]
    with pytest.raises(InputError, match="no evaluation report"):
        load_report(evaluated / "missing")


def test_push_offline_is_one_clear_line(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(JobError, match="offline mode is on"):
        push_model(trained, "someone/model")
    with pytest.raises(InputError, match="not a Hub repo id"):
        push_model(trained, "not a repo id")


# ---------------------------------------------------------------------------- the screen


async def test_evaluate_runs_as_a_job_and_shows_the_report(project: Workspace) -> None:
    """No report yet → e evaluates the run on the validation source (a job), writes RUN/evaluation/, shows it."""
    app = WhisperTuiApp(project)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_evaluate(pilot)
        assert screen.report is None and "no evaluation yet" in status(screen)
        await pilot.press("e")
        assert screen.job_name == "evaluate"
        await wait_for(pilot, lambda: screen.job_name is None, timeout=600)
        assert "evaluated run-1 on heldout" in status(screen), status(screen)
        assert (project.runs_dir / "run-1" / "evaluation" / "report.json").is_file()
        overall = screen.query_one("#ev-overall", DataTable)
        assert column(overall, 0) == ["baseline", "prompted", FINE_TUNED]
        keywords = screen.query_one("#ev-keywords", DataTable)
        assert keywords.row_count == len(project.keywords())
        assert screen.variant == FINE_TUNED
        await pilot.press("v")
        assert screen.variant == "baseline"


async def test_escape_cancels_an_evaluation(project: Workspace) -> None:
    app = WhisperTuiApp(project)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_evaluate(pilot)
        await pilot.press("e", "escape")
        await wait_for(pilot, lambda: screen.job_name is None, timeout=300)
        assert status(screen) == "evaluate cancelled"
        assert not (project.runs_dir / "run-1" / "evaluation").exists()


async def test_existing_report_opens_without_a_job(with_report: Workspace) -> None:
    """The report on disk is shown at once; f and Enter on a keyword filter the comparison."""
    app = WhisperTuiApp(with_report)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_evaluate(pilot)
        assert isinstance(screen.report, Report) and screen.job_name is None
        assert len(screen.comparisons()) == HELD_OUT_CUES
        keywords = screen.query_one("#ev-keywords", DataTable)
        keywords.focus()
        await pilot.press("enter")  # the first keyword: Mixtral 8x7B, said in cue 1 only
        assert screen.keyword_filter == "Mixtral 8x7B"
        await pilot.press("f")
        assert not screen.errors_only and "every cue" in status(screen)


async def test_push_offline_and_export(with_report: Workspace) -> None:
    """u asks for a repo id and fails offline in one line; x exports CTranslate2 into the run."""
    app = WhisperTuiApp(with_report)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_evaluate(pilot)
        await pilot.press("u", "enter")
        await wait_for(pilot, lambda: "push failed" in status(screen), timeout=30)
        assert "offline mode is on" in status(screen) and "\n" not in status(screen)
        await pilot.press("x")
        await wait_for(pilot, lambda: screen.job_name is None and "export" in status(screen), timeout=300)
        assert "exported to runs/run-1/ct2/" in status(screen), status(screen)
        assert (with_report.runs_dir / "run-1" / "ct2" / "model.bin").is_file()


async def test_no_run_says_what_to_do(sample: Workspace) -> None:
    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_evaluate(pilot)
        assert "train one on screen 4" in status(screen)
        await pilot.press("e")
        assert screen.job_name is None and "train one on screen 4" in status(screen)


def test_evaluate_snapshot(project: Workspace, snap_compare) -> None:
    """A loaded report at 100×30: overall and keyword tables, the first cues with their errors marked. The report
    is a recorded real evaluation (tests/data/recorded_evaluation), so a CPU that decodes a little differently
    cannot change the picture."""
    shutil.copytree(RECORDED, project.runs_dir / "run-1" / "evaluation")

    async def run_before(pilot: Pilot) -> None:
        await open_evaluate(pilot)

    assert snap_compare(WhisperTuiApp(project), terminal_size=(100, 30), run_before=run_before)
