"""Screen 5, Evaluate, on the real core: a real (two-step) fine-tuned run, a real evaluation, keys through Pilot.

One cheap run serves the module: sample_data/train.mp3 prepared and trained for 2 steps; the evaluation set is
the first four cues of sample_data/validation.vtt ("heldout", role validation), so an evaluation decodes
12 clips (8 for the base model alone). Each test gets its own copy of the sample project (conftest's `sample`)
whose runs/run-1/ links to that run's merged model (`untrained`: no run at all).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from core import captions as caps
from core.dataset import PrepareOptions, Recording, prepare
from core.errors import InputError, JobError
from core.evaluate import compare, diff_words, evaluate, push_model, reference_captions
from core.report import BASELINE, FINE_TUNED, PROMPTED, Report, leaders, load_report, write_report
from core.runs import finished_runs
from core.train import TrainConfig, train
from core.vocabulary import load_keywords
from core.workspace import Workspace
from tests.tui_helpers import SAMPLES, open_evaluate, record_job_statuses, wait_for
from tests.tui_helpers import status_text as status
from tui.app import WhisperTuiApp
from tui.screens.evaluate import BASE

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
    prepare(Recording(SAMPLES / "train.mp3", SAMPLES / "train.vtt"), work / "dataset",
            options=PrepareOptions(views=False))
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
def untrained(sample: Workspace, heldout: tuple[Path, Path]) -> Workspace:
    """The sample project plus the held-out set (role validation); no run yet."""
    audio, vtt = heldout
    shutil.copyfile(audio, sample.audio_dir / audio.name)
    shutil.copyfile(vtt, sample.captions_dir / vtt.name)
    sample.set_role("heldout", "validation")
    return sample


@pytest.fixture
def project(untrained: Workspace, trained: Path) -> Workspace:
    """The held-out project plus runs/run-1 linking the trained model."""
    workspace = untrained
    run = workspace.runs_dir / "run-1"
    run.mkdir(parents=True)
    (run / "merged").symlink_to(trained / "merged", target_is_directory=True)
    shutil.copyfile(trained / "report.json", run / "report.json")
    return workspace


@pytest.fixture
def with_report(project: Workspace, evaluated: Path) -> Workspace:
    """The run with core's report, moved in by reading and writing it (its set's paths re-anchored to the run)."""
    write_report(load_report(evaluated), project.runs_dir / "run-1" / "evaluation")
    return project




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
    assert [p.name for p in finished_runs(tmp_path)] == ["new", "old"]
    assert finished_runs(tmp_path / "missing") == []


def test_report_reads_back_as_written(evaluated: Path, heldout: tuple[Path, Path]) -> None:
    report = load_report(evaluated)
    written = json.loads((evaluated / "report.json").read_text())
    assert json.loads(json.dumps(report.as_dict(evaluated))) == written
    assert [v.name for v in report.variants] == ["baseline", "prompted", FINE_TUNED]
    comparisons = compare(report, FINE_TUNED, reference_captions(report))
    tuned = report.variant(FINE_TUNED)
    assert tuned is not None
    assert [c.hypothesis for c in comparisons] == [c.text for c in tuned.main.hypothesis.cues]
    assert [c.reference for c in comparisons] == [c.text for c in caps.read(heldout[1]).cues]
    with pytest.raises(InputError, match="no evaluation report"):
        load_report(evaluated / "missing")


def test_relative_report_paths_resolve_against_the_report_folder(tmp_path: Path, heldout: tuple[Path, Path],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorded report names its set `../../../captions/heldout.vtt`, as write_report does for a run inside a
    workspace: opened from another cwd (through a relative folder too) it finds the captions. Before, the path was
    taken against the cwd, and the Evaluate screen showed `captions file not found` instead of the comparison."""
    ws = tmp_path / "ws"
    shutil.copytree(RECORDED, ws / "runs" / "run-1" / "evaluation")
    for folder, source in (("audio", heldout[0]), ("captions", heldout[1])):
        (ws / folder).mkdir()
        shutil.copyfile(source, ws / folder / source.name)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    report = load_report(Path("../ws/runs/run-1/evaluation"))
    assert report.main.captions == (ws / "captions" / "heldout.vtt").resolve()
    assert report.main.audio == (ws / "audio" / "heldout.mp3").resolve()
    reference = reference_captions(report)
    assert [c.text for c in reference.cues] == [c.text for c in caps.read(heldout[1]).cues]
    assert sum(c.diff.count("substitute") for c in compare(report, FINE_TUNED, reference)) > 0

    # written again into another folder of the workspace: stored relative to that folder, read back the same
    again = ws / "evaluations" / "copy"
    write_report(report, again)
    stored = json.loads((again / "report.json").read_text())["main"]
    assert stored == {"name": "heldout", "audio": "../../audio/heldout.mp3", "captions": "../../captions/heldout.vtt"}
    moved = tmp_path / "moved"  # the whole workspace moves: the report still finds its set
    ws.rename(moved)
    assert load_report(moved / "evaluations" / "copy").main.captions == (moved / "captions" / "heldout.vtt").resolve()


def test_a_report_from_before_reads_its_cwd_relative_paths(tmp_path: Path, heldout: tuple[Path, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A report written before paths were stored relative to its folder names them as `whisper-tui evaluate` was
    given them (relative to its cwd): from that cwd it is still read whole."""
    old = tmp_path / "old-report"
    shutil.copytree(RECORDED, old)
    data = json.loads((old / "report.json").read_text())
    data["main"].update(audio="heldout.mp3", captions="heldout.vtt")
    (old / "report.json").write_text(json.dumps(data))
    monkeypatch.chdir(heldout[1].parent)
    report = load_report(old)
    assert report.main.captions == heldout[1].absolute()
    assert len(reference_captions(report).cues) == HELD_OUT_CUES


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
    headers = record_job_statuses(app)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_evaluate(pilot)
        assert screen.target() == str(project.runs_dir / "run-1")  # the newest run, not the base model
        assert screen.report is None and "run-1 not evaluated yet" in status(screen)
        await pilot.press("e")
        assert screen.job_name == "evaluate"
        await wait_for(pilot, lambda: screen.job_name is None, timeout=600)
        assert "evaluated run-1 on heldout" in status(screen), status(screen)
        assert any(line.startswith("evaluate: ") and line.endswith("%)") for line in headers), headers  # its progress
        written = json.loads((project.runs_dir / "run-1" / "evaluation" / "report.json").read_text())
        # what tests/data/recorded_evaluation/report.json holds too (the snapshot's report)
        assert written["main"]["captions"] == "../../../captions/heldout.vtt"
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


async def test_base_model_is_evaluated_before_any_run(untrained: Workspace) -> None:
    """No run yet: the picker holds the workspace's model, e scores it (baseline and prompted, no fine-tuned row)
    into evaluations/base/, and the comparison shows its errors; export and push say they need a run."""
    app = WhisperTuiApp(untrained)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_evaluate(pilot)
        assert screen.target() == BASE and screen.report is None
        assert "base model tiny.en not evaluated yet" in status(screen) and "screen 4" in status(screen)
        await pilot.press("x")
        assert screen.job_name is None and "train one on screen 4" in status(screen)
        await pilot.press("e")
        assert screen.job_name == "evaluate"
        await wait_for(pilot, lambda: screen.job_name is None, timeout=600)
        assert "evaluated base model tiny.en on heldout" in status(screen), status(screen)
        assert "report in evaluations/base/" in status(screen)
        folder = untrained.base_evaluation_dir
        assert folder == untrained.root / "evaluations" / "base" and (folder / "report.json").is_file()
        assert finished_runs(untrained.runs_dir) == []  # not mistaken for a run
        assert column(screen.query_one("#ev-overall", DataTable), 0) == [BASELINE, PROMPTED]
        assert screen.report is not None and screen.report.model == screen.report.base_model == "tiny.en"
        assert screen.variant == BASELINE and len(screen.comparisons()) == HELD_OUT_CUES
        assert screen._reference_problem is None
        assert any(c.diff.count("substitute") for c in screen.comparisons())  # tiny.en mishears the jargon

    # opened again later: the report is read from disk, no job
    app = WhisperTuiApp(untrained)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_evaluate(pilot)
        assert screen.job_name is None and screen.report is not None and screen.variant == BASELINE
        assert "base model tiny.en: report loaded" in status(screen)


def test_evaluate_snapshot(project: Workspace, snap_compare) -> None:
    """A loaded report at 100×30: overall and keyword tables, the first cues with their errors marked. The report
    is a recorded real evaluation (tests/data/recorded_evaluation), so a CPU that decodes a little differently
    cannot change the picture."""
    shutil.copytree(RECORDED, project.runs_dir / "run-1" / "evaluation")

    async def run_before(pilot: Pilot) -> None:
        await open_evaluate(pilot)

    assert snap_compare(WhisperTuiApp(project), terminal_size=(100, 30), run_before=run_before)
