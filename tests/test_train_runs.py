"""Training as a process: killed and resumed, and launched on two ranks with torchrun (gloo, CPU)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.runs import finished_runs, state

pytestmark = pytest.mark.slow  # real training runs: minutes each (CI runs them)
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
SHORT = ["--max-steps", "12", "--eval-every", "4", "--speeds", "1.0", "--batch-size", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory, tiny) -> Path:
    """Packed ≤ 30 s rows of the sample (a handful), with a held-out validation cue or two."""
    out = tmp_path_factory.mktemp("small") / "dataset"
    subprocess.run([sys.executable, "-m", "core.cli", "prepare", "--no-views", "--audio", str(SAMPLES / "train.mp3"),
                    "--captions", str(SAMPLES / "train.vtt"), "-o", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    return out


def _train_cmd(dataset: Path, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "core.cli", "train", "--dataset", str(dataset), "--keywords",
            str(SAMPLES / "keywords.txt"), "-o", str(run_dir), *SHORT, *extra]


def _evals(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == "eval"]


def _rows(run_dir: Path) -> list[dict]:
    """Every metrics row (train loss, grad norm, learning rate; eval loss, WER, CER, recall) but its clock time."""
    return [{k: v for k, v in json.loads(line).items() if k != "time"}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(small_dataset: Path, tmp_path_factory) -> Path:
    """The same run with the same seed, never interrupted: what a killed and resumed run must end up as."""
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = subprocess.run(_train_cmd(small_dataset, run_dir), cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir


def test_killed_run_resumes_from_its_last_checkpoint(small_dataset, uninterrupted, tmp_path):
    """kill -9 at the worst moment, while checkpoint-8 is being written: `--resume` goes back to the last complete
    checkpoint (4) and ends exactly where the uninterrupted run ends: the same 12 steps, the same metrics rows
    and the same merged weights, to the bit. (Exact because training runs on the CPU, which is deterministic
    here, and a checkpoint carries the optimizer, scheduler and RNG states; on a GPU, non-deterministic kernels
    would make the numbers agree only approximately.)"""
    run_dir = tmp_path / "run"
    newest = run_dir / "checkpoints" / "checkpoint-8"
    child = subprocess.Popen(_train_cmd(small_dataset, run_dir), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    while not newest.is_dir():
        assert child.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "checkpoint-8 never appeared"
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not (run_dir / "merged").exists()
    if (newest / "trainer_state.json").is_file():
        # the save beat the kill: go back to the moment before its last file (the Trainer writes the state last)
        (newest / "trainer_state.json").unlink()
    assert state(run_dir) == "stopped"  # checkpoint-4 is whole: resumable, not finished

    resumed = subprocess.run([*_train_cmd(small_dataset, run_dir), "--resume"], cwd=ROOT, capture_output=True,
                             text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "removing checkpoint-8: it was cut short while being saved" in resumed.stderr
    assert "resuming from checkpoint-4" in resumed.stderr
    assert state(run_dir) == "finished" and finished_runs(run_dir.parent) == [run_dir]
    report = json.loads((run_dir / "report.json").read_text())
    reference = json.loads((uninterrupted / "report.json").read_text())
    assert report["steps"] == reference["steps"] == 12
    assert [r["step"] for r in _evals(run_dir)] == [0, 4, 8, 12]  # each evaluation exactly once
    assert _rows(run_dir) == _rows(uninterrupted)
    assert (report["baseline"], report["best"]) == (reference["baseline"], reference["best"])
    assert Path(report["best_checkpoint"]).name == Path(reference["best_checkpoint"]).name
    from safetensors.torch import load_file

    ours = load_file(str(run_dir / "merged" / "model.safetensors"))
    theirs = load_file(str(uninterrupted / "merged" / "model.safetensors"))
    assert ours.keys() == theirs.keys() and all(ours[k].equal(theirs[k]) for k in ours)


@pytest.mark.parametrize("sigint_ignored", [False, True])
def test_a_stop_during_the_baseline_evaluation_lands_at_once(small_dataset, tmp_path, sigint_ignored):
    """Ctrl-C (the TUI's Stop) while the step-0 evaluation decodes: there is nothing to checkpoint yet, so the run
    ends there (exit 130, one line saying nothing can be resumed) instead of decoding on and training a first step
    to save; `--resume` then says there is nothing to resume. Also when the process inherited SIGINT ignored (started
    in the background of a shell without job control, as `nohup make test &` starts the TUI's runs)."""
    run_dir, events = tmp_path / "run", tmp_path / "events.jsonl"
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    child = subprocess.Popen([*_train_cmd(small_dataset, run_dir), "--events", str(events)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=ignore)
    deadline = time.monotonic() + 600
    while "baseline evaluation" not in (events.read_text() if events.is_file() else ""):
        assert child.poll() is None, child.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the baseline evaluation never started"
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr[-2000:]
    assert "stopped before its first checkpoint; nothing to resume" in stderr
    metrics = run_dir / "metrics.jsonl"
    assert not metrics.exists() or not metrics.read_text().strip()  # not even the baseline row was finished
    assert not (run_dir / "checkpoints").exists() or not any((run_dir / "checkpoints").iterdir())
    assert state(run_dir) == "failed" and finished_runs(run_dir.parent) == []
    resumed = subprocess.run([*_train_cmd(small_dataset, run_dir), "--resume"], cwd=ROOT, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 2 and "no checkpoint to resume from" in resumed.stderr


def test_a_stop_asked_for_during_set_up_ends_before_training(small_dataset, tmp_path):
    """In process (the API the TUI's process runs): a stop already set ends the run at the first set-up stage."""
    from core.errors import Cancelled
    from core.events import Job
    from core.train import TrainConfig, train
    from core.vocabulary import load_keywords

    seen: list[object] = []
    job = Job(seen.append)
    job.cancel()
    config = TrainConfig(dataset=small_dataset, output=tmp_path / "run", max_steps=4, speeds=(1.0,), device="cpu",
                         keywords=load_keywords(SAMPLES / "keywords.txt"))
    with pytest.raises(Cancelled, match="before its first checkpoint") as info:
        train(config, job)
    assert info.value.exit_code == 130
    assert not any("labelling" in str(getattr(e, "message", "")) for e in seen)  # stopped before the replay stage
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_a_run_records_the_settings_it_started_with(small_dataset, uninterrupted):
    """What the TUI's Resume reuses (its form shows the defaults after a restart)."""
    from core.train_config import run_config

    config = run_config(uninterrupted)
    assert config is not None and config.resume
    assert (config.dataset, config.output) == (small_dataset, uninterrupted)
    assert (config.max_steps, config.eval_every, config.speeds, config.batch_size, config.device) == (
        12, 4, (1.0,), 2, "cpu")
    assert config.target_modules == ("q_proj", "v_proj") and len(config.keywords) == 10
    assert run_config(small_dataset) is None  # not a run


def test_resume_without_a_checkpoint_is_one_clear_error(small_dataset, tmp_path):
    result = subprocess.run([*_train_cmd(small_dataset, tmp_path / "empty"), "--resume"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "no checkpoint to resume from" in result.stderr
    assert result.stderr.count("\n") == 1


def _examples_made(stderr: str) -> dict[str, tuple[int, int]]:
    """(made, per epoch) per process, from its "N training examples made[ by rank R] (M per epoch)" line."""
    return {rank or "0": (int(n), int(m)) for n, rank, m in
            re.findall(r"(\d+) training examples made(?: by rank (\d+))? \((\d+) per epoch\)", stderr)}


def test_two_ranks_each_make_only_their_shard_and_take_the_steps_of_one_process(small_dataset, tmp_path):
    """torchrun with 2 processes (gloo, CPU), half the per-process batch, the same seed: every global batch holds the
    same rows as the one-process run's, each rank encodes only its half, and the merged weights agree with the
    one-process run's (LoRA dropout off: its masks are drawn per process)."""
    same = ["--max-steps", "4", "--eval-every", "4", "--speeds", "0.9,1.0,1.1", "--lora-dropout", "0", "--device",
            "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([*_train_cmd(small_dataset, tmp_path / "one"), *same, "--batch-size", "4"], cwd=ROOT,
                         capture_output=True, text=True, timeout=900, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29519", "-m", "core.cli", "train", "--dataset", str(small_dataset), "--keywords",
                          str(SAMPLES / "keywords.txt"), "-o", str(tmp_path / "two"), *SHORT, *same,
                          "--batch-size", "2"], cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    made_one, made_two = _examples_made(one.stderr), _examples_made(two.stderr)
    assert set(made_two) == {"0", "1"}
    total = made_one["0"][1]
    assert total > 60 and {m for _, m in made_two.values()} == {total}  # the sample's rows and replay, 3 speeds
    # 4 steps × 2 rows per rank (the data loader reads one batch ahead); the one process made 4 × 4 (+ one ahead)
    assert all(8 <= n <= 10 for n, _ in made_two.values()), made_two
    assert made_one["0"][0] == made_two["0"][0] + made_two["1"][0]
    from safetensors.torch import load_file

    ours = load_file(str(tmp_path / "two" / "merged" / "model.safetensors"))
    theirs = load_file(str(tmp_path / "one" / "merged" / "model.safetensors"))
    from core.models import resolve

    base = load_file(str(resolve("tiny.en").hf_dir / "model.safetensors"))
    adapted = [k for k in theirs if "decoder" in k and "q_proj.weight" in k and k in base]
    assert adapted and max(float((theirs[k] - base[k]).abs().max()) for k in adapted) > 1e-3  # the steps moved them
    assert ours.keys() == theirs.keys()
    assert max(float((ours[k] - theirs[k]).abs().max()) for k in theirs) <= 1e-4


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
