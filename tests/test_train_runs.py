"""Training as a process: killed and resumed, and launched on two ranks with torchrun (gloo, CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real training runs: minutes each (CI runs them)
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
SHORT = ["--max-steps", "12", "--eval-every", "4", "--speeds", "1.0", "--batch-size", "2"]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory, tiny) -> Path:
    """Packed ≤ 30 s rows of the sample (a handful), with a held-out validation cue or two."""
    out = tmp_path_factory.mktemp("small") / "dataset"
    subprocess.run([sys.executable, "-m", "core.cli", "prepare", "--audio", str(SAMPLES / "train.mp3"),
                    "--captions", str(SAMPLES / "train.vtt"), "-o", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    return out


def _train_cmd(dataset: Path, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "core.cli", "train", "--dataset", str(dataset), "--keywords",
            str(SAMPLES / "keywords.txt"), "-o", str(run_dir), *SHORT, *extra]


def _evals(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == "eval"]


def test_killed_run_resumes_from_its_last_checkpoint(small_dataset, tmp_path):
    run_dir = tmp_path / "run"
    child = subprocess.Popen(_train_cmd(small_dataset, run_dir), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not (run_dir / "checkpoints" / "checkpoint-8").is_dir():
        assert child.poll() is None, "training ended before it could be killed"
        time.sleep(0.2)
    time.sleep(1.0)  # let checkpoint-8 finish writing (or not: resume must cope either way)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not (run_dir / "merged").exists()

    resumed = subprocess.run([*_train_cmd(small_dataset, run_dir), "--resume"], cwd=ROOT, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from checkpoint-" in resumed.stderr
    report = json.loads((run_dir / "report.json").read_text())
    assert report["steps"] == 12
    steps = [r["step"] for r in _evals(run_dir)]
    assert steps == [0, 4, 8, 12]  # each evaluation exactly once, as if never interrupted
    assert (run_dir / "merged" / "model.safetensors").is_file()


def test_resume_without_a_checkpoint_is_one_clear_error(small_dataset, tmp_path):
    result = subprocess.run([*_train_cmd(small_dataset, tmp_path / "empty"), "--resume"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "no checkpoint to resume from" in result.stderr
    assert result.stderr.count("\n") == 1


def test_torchrun_two_ranks_on_cpu(small_dataset, tmp_path):
    run_dir = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               "29517", "-m", "core.cli", "train", "--dataset", str(small_dataset), "--keywords",
               str(SAMPLES / "keywords.txt"), "-o", str(run_dir), "--max-steps", "4", "--eval-every", "2",
               "--speeds", "1.0", "--batch-size", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "merged" / "model.safetensors").is_file()
    assert json.loads((run_dir / "report.json").read_text())["steps"] == 4
    assert [r["step"] for r in _evals(run_dir)] == [0, 2, 4]  # written once, by rank 0
