"""core/runs.py read from the files alone. The states of real runs are checked where real runs are made:
test_train_runs (stopped after a kill, finished after a resume, failed when stopped before any checkpoint) and
test_tui_train (running, from the screen)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from core.runs import MERGED, finished_runs, last_error, read_metrics, run_folders, running_pid


def _run(runs_dir: Path, name: str, merged: bool, touched: float) -> Path:
    run = runs_dir / name
    run.mkdir(parents=True)
    if merged:
        (run / MERGED).mkdir()
        os.utime(run / MERGED, (touched, touched))
    os.utime(run, (touched, touched))
    return run


def test_folders_newest_first_and_finished_ones_by_their_model(tmp_path: Path) -> None:
    now = time.time()
    old = _run(tmp_path, "old", merged=True, touched=now - 300)
    new = _run(tmp_path, "new", merged=True, touched=now - 200)
    stopped = _run(tmp_path, "stopped", merged=False, touched=now - 100)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "notes.txt").write_text("not a run")
    assert run_folders(tmp_path) == [stopped, new, old]
    assert finished_runs(tmp_path) == [new, old]
    os.utime(old / MERGED, (now, now))  # re-merged later: the newest model first, whatever the folder's time
    assert finished_runs(tmp_path) == [old, new]
    assert run_folders(tmp_path / "missing") == finished_runs(tmp_path / "missing") == []


def test_metrics_skip_a_line_being_written_and_errors_come_from_the_log(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"kind": "train", "step": 1}) + '\n{"kind": "ev')
    assert read_metrics(tmp_path) == [{"kind": "train", "step": 1}]
    assert read_metrics(tmp_path / "missing") == []
    assert last_error(tmp_path) is None
    (tmp_path / "train.log").write_text("loading\nwhisper-tui: error: the dataset has no rows\nbye\n")
    assert last_error(tmp_path) == "the dataset has no rows"


def test_a_stale_or_foreign_pid_is_not_a_running_run(tmp_path: Path) -> None:
    assert running_pid(tmp_path) is None
    (tmp_path / "train.pid").write_text(f"{os.getpid()}\n")  # alive, but pytest is not `whisper-tui train` here
    assert running_pid(tmp_path) is None
    (tmp_path / "train.pid").write_text("not a pid\n")
    assert running_pid(tmp_path) is None
