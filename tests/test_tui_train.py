"""Screen 4, Train: a real (short) run started from the form, its rows arriving live, stop and resume; the form's
checks; and a snapshot of the screen showing a recorded run (tests/data/recorded_run: a real default run of
bench/quality.py, one checkpoint over the guard)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from core.dataset import PrepareOptions, Recording, prepare
from core.runs import running_pid, state
from core.train import TrainConfig
from core.workspace import Workspace, sample_workspace
from tests.tui_helpers import Tmux, app_command, app_env, running, wait_for
from tui.app import WhisperTuiApp
from tui.screens.train import BEST_MARK, TrainScreen, parse_form

RECORDED = Path(__file__).resolve().parent / "data" / "recorded_run"

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's packed ≤ 30 s rows (train.mp3 only, no views): a handful, so a run is a couple of steps."""
    workspace_root = sample_workspace(tmp_path_factory.mktemp("ds-home")).root
    return prepare([Recording(workspace_root / "audio" / "train.mp3", workspace_root / "captions" / "train.vtt")],
                   tmp_path_factory.mktemp("ds") / "dataset", options=PrepareOptions(views=False)).path


async def open_train(pilot: Pilot) -> TrainScreen:
    await pilot.press("4")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TrainScreen), 10)
    await pilot.pause()
    return pilot.app.screen  # type: ignore[return-value]


def column(table: DataTable, name: str) -> list[str]:
    return [str(table.get_cell_at((row, table.get_column_index(name)))) for row in range(table.row_count)]


def test_parse_form_checks_each_field() -> None:
    base = TrainConfig(dataset=Path("d"), output=Path("o"))
    values = {"model": "tiny.en", "epochs": "2", "learning_rate": "5e-4", "batch_size": "4", "lora_r": "16",
              "lora_alpha": "32", "target_modules": "q_proj, k_proj ,v_proj"}
    config = parse_form(values, base)
    assert (config.epochs, config.learning_rate, config.batch_size, config.lora_r, config.lora_alpha) == \
        (2.0, 5e-4, 4, 16, 32)
    assert config.target_modules == ("q_proj", "k_proj", "v_proj")
    for field, bad, reason in (("batch_size", "four", "not an integer"), ("learning_rate", "-1", "learning"),
                               ("target_modules", " , ", "at least one module"), ("epochs", "x", "not a number")):
        with pytest.raises(ValueError, match=reason):
            parse_form({**values, field: bad}, base)


async def test_start_without_a_dataset_says_where_to_build_it(sample: Workspace) -> None:
    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_train(pilot)
        await pilot.press("s")
        assert "screen 3" in screen.query_one("#status").text.plain
        assert screen.job_name is None and not sample.runs_dir.exists()


async def test_a_bad_setting_is_one_line_and_starts_nothing(sample: Workspace, small_dataset: Path) -> None:
    shutil.copytree(small_dataset, sample.dataset_dir)
    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_train(pilot)
        screen.query_one("#batch_size", Input).value = "0"
        await pilot.press("s")
        status = screen.query_one("#status")
        assert "batch" in status.text.plain.lower() and status.has_class("-error")
        assert screen.job_name is None and not sample.runs_dir.exists()


@pytest.mark.slow
async def test_a_run_started_from_the_screen_streams_rows_stops_and_resumes(sample: Workspace,
                                                                           small_dataset: Path) -> None:
    """s starts a real run in its own process: the baseline evaluation and step rows arrive while keys keep
    working; x stops it with a checkpoint; R resumes it to the end, and the best evaluation is marked."""
    shutil.copytree(small_dataset, sample.dataset_dir)
    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_train(pilot)
        for field, value in (("epochs", "4"), ("batch_size", "4")):
            screen.query_one(f"#{field}", Input).value = value
        await pilot.press("s")
        assert screen.job_name == "train"
        table = screen.query_one("#train-rows", DataTable)
        run_dir = screen.run_dir
        assert run_dir is not None and run_dir.parent == sample.runs_dir
        await wait_for(pilot, lambda: any(s not in ("", "0") for s in column(table, "step")), 400)
        assert column(table, "step")[0] == "0" and column(table, "recall")[0]  # the baseline row came first
        await pilot.press("f")  # keys still answer while it trains
        assert screen.focused is screen.query_one("#model", Input)
        await pilot.press("escape", "x")
        await wait_for(pilot, lambda: screen.job_name is None, 300)
        status = screen.query_one("#status").text.plain
        assert "stopped with a checkpoint" in status, status
        assert any((run_dir / "checkpoints").iterdir()) and not (run_dir / "merged").exists()

        await pilot.press("R")
        assert screen.job_name == "train"
        await wait_for(pilot, lambda: screen.job_name is None, 600)
        assert "finished" in screen.query_one("#status").text.plain
        report = json.loads((run_dir / "report.json").read_text())
        steps = [int(s) for s in column(table, "step")]
        assert steps == sorted(steps) and steps[-1] == report["steps"]
        marked = [row for row, mark in enumerate(column(table, "best")) if mark == BEST_MARK]
        assert len(marked) == 1 and int(column(table, "step")[marked[0]]) == report["best"]["step"]
        assert (run_dir / "merged" / "model.safetensors").is_file()


def test_train_screen_snapshot(sample: Workspace, snap_compare) -> None:
    """A finished run's table, plots and best row, and a checkpoint marked over the guard (a real default run)."""
    run_dir = sample.runs_dir / "run-20261126-0420"
    run_dir.mkdir(parents=True)
    shutil.copy(RECORDED / "metrics.jsonl", run_dir / "metrics.jsonl")
    (run_dir / "merged").mkdir()

    async def run_before(pilot: Pilot) -> None:
        await open_train(pilot)
        await pilot.press("escape")

    assert snap_compare(WhisperTuiApp(sample), terminal_size=(100, 30), run_before=run_before)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_dropped_terminal_leaves_the_run_going(sample: Workspace, small_dataset: Path, tmp_path: Path) -> None:
    """Start a run in a real terminal, then close the terminal (SIGHUP, as a dropped SSH session does): the
    TUI goes, the run carries on in its own session to a merged model, and a reopened TUI shows it."""
    shutil.copytree(small_dataset, sample.dataset_dir)
    terminal = Tmux()
    try:
        terminal.start(app_command(sample.root), app_env(tmp_path))
        terminal.wait_for("Sources", timeout=60)
        terminal.keys("4")
        terminal.wait_for("no run yet")
        terminal.keys("s")
        terminal.wait_for("started run-", timeout=30)
        run_dir = next(sample.runs_dir.iterdir())
        deadline = time.monotonic() + 300
        while '"Metrics"' not in (run_dir / "events.jsonl").read_text():  # the run is under way
            assert time.monotonic() < deadline, (run_dir / "train.log").read_text()[-2000:]
            time.sleep(0.5)
        app_pid, train_pid = terminal.pid(), running_pid(run_dir)
        assert train_pid is not None and train_pid != app_pid and state(run_dir) == "running"
        terminal.close()  # kills the tmux server: SIGHUP to the app
        deadline = time.monotonic() + 30
        while running(app_pid):
            assert time.monotonic() < deadline, "the TUI outlived its terminal"
            time.sleep(0.2)
        assert running(train_pid)  # ...but the run goes on
        deadline = time.monotonic() + 600
        while running(train_pid):
            assert time.monotonic() < deadline, "the run did not finish"
            time.sleep(1)
        assert (run_dir / "merged" / "model.safetensors").is_file()
        assert json.loads((run_dir / "report.json").read_text())["steps"] > 0

        terminal = Tmux()
        terminal.start(app_command(sample.root), app_env(tmp_path))
        terminal.wait_for("Sources", timeout=60)
        terminal.keys("4")
        terminal.wait_for(f"{run_dir.name}: finished")
    finally:
        terminal.close()
