"""Training faults become one clear line: a diverged run (NaN/inf) stops before saving anything broken and names
its last good checkpoint, which `--resume` with a lower `--lr` continues; running out of GPU memory names the
flags that help. Real runs on the sample data (tiny.en, CPU); no mocks except the one raised OOM."""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
TINY_RUN = ["--speeds", "1.0", "--batch-size", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory, tiny) -> Path:
    """Four packed training rows and ONE validation row: each evaluation (greedy decoding) costs a third."""
    out = tmp_path_factory.mktemp("faults") / "dataset"
    subprocess.run([sys.executable, "-m", "core.cli", "prepare", "--no-views", "--audio", str(SAMPLES / "train.mp3"),
                    "--captions", str(SAMPLES / "train.vtt"), "--holdout", "0.05", "-o", str(out)], cwd=ROOT,
                   check=True, capture_output=True)
    return out


def _train(dataset: Path, run_dir: Path, *extra: str, prelude: str = "") -> subprocess.CompletedProcess:
    argv = ["train", "--dataset", str(dataset), "--keywords", str(SAMPLES / "keywords.txt"), "-o", str(run_dir),
            *TINY_RUN, *extra]
    code = f"{prelude}\nimport sys\nfrom core.cli import main\nraise SystemExit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def _one_error_line(stderr: str) -> str:
    """The run's progress lines may precede it, but the failure is exactly one line, last, no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == errors[0]
    return errors[0]


def _finite_tensors(path: Path) -> bool:
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    return bool(tensors) and all(bool(t.float().isfinite().all()) for t in tensors.values())


@pytest.mark.slow
def test_divergence_stops_with_one_line_and_a_usable_last_checkpoint(small_dataset: Path, tmp_path: Path) -> None:
    """An absurd learning rate (1e30; the first step is warm-up at rate 0, checkpointed) sends the weights to
    ~1e30 in one update: still finite, but the validation forward pass overflows to NaN. The run must stop there,
    before saving that step, say so in one line, and leave checkpoint-1 as the way back."""
    run_dir = tmp_path / "run"
    diverged = _train(small_dataset, run_dir, "--lr", "1e30", "--max-steps", "6", "--eval-every", "1")
    assert diverged.returncode == 1, diverged.stderr[-3000:]
    line = _one_error_line(diverged.stderr)
    match = re.fullmatch(r"whisper-tui: error: training diverged at step (\d+) \(([^)]*(nan|inf))\): lower --lr "
                         r"\(now 1e\+30\); the last good checkpoint is (\S+) \(--resume with a lower --lr continues "
                         r"from it\)", line)
    assert match, line
    step, last = int(match.group(1)), Path(match.group(4))
    assert last.parent == run_dir / "checkpoints" and last.is_dir()
    last_step = int(last.name.rsplit("-", 1)[1])
    assert 0 < last_step < step

    # nothing of the diverged step or after it was saved; what was saved is finite
    saved = sorted(int(p.name.rsplit("-", 1)[1]) for p in (run_dir / "checkpoints").iterdir())
    assert saved[-1] == last_step
    assert not (run_dir / "merged").exists() and not (run_dir / "report.json").exists()
    assert json.loads((last / "trainer_state.json").read_text())["global_step"] == last_step
    assert _finite_tensors(last / "adapter_model.safetensors")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(v) for row in rows for v in row.values() if isinstance(v, float))
    assert max(row["step"] for row in rows if row["kind"] == "eval") == last_step

    # the way back: resume from the last good checkpoint with a sane rate, to the step that diverged
    resumed = _train(small_dataset, run_dir, "--lr", "1e-3", "--max-steps", str(step), "--eval-every", "1",
                     "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {last.name}" in resumed.stderr
    assert "learning rate 1e+30 → 0.001 from here on" in resumed.stderr  # announced, not silently ignored
    report = json.loads((run_dir / "report.json").read_text())
    assert report["steps"] == step
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "eval"] == list(range(step + 1))
    assert all(0 < r["learning_rate"] <= 1e-3 for r in rows if r["kind"] == "train" and r["step"] > last_step)
    assert _finite_tensors(run_dir / "merged" / "model.safetensors")


OOM_AT_STEP_2 = """
import torch, transformers
real_step = transformers.Trainer.training_step
def training_step(self, *args, **kwargs):
    if self.state.global_step == 1:  # one real update done; the second asks for more than the card has
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity "
                                     "of 7.79 GiB of which 1.21 GiB is free.")
    return real_step(self, *args, **kwargs)
transformers.Trainer.training_step = training_step
"""


@pytest.mark.slow
def test_out_of_memory_in_a_real_run_is_one_line_with_what_to_try(small_dataset: Path, tmp_path: Path) -> None:
    result = _train(small_dataset, tmp_path / "run", "--max-steps", "4", "--eval-every", "100", "--batch-size", "4",
                    prelude=OOM_AT_STEP_2)
    assert result.returncode == 1, result.stderr[-3000:]
    assert _one_error_line(result.stderr) == ("whisper-tui: error: out of GPU memory at batch size 4: "
                                              "try --batch-size 2 or --gradient-checkpointing")


def test_out_of_memory_is_recognised_in_each_form() -> None:
    import torch

    from core.train_guards import out_of_memory

    assert out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    assert out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 8.00 GB, other allocations: "
                                       "1.00 GB, max allowed: 9.07 GB). Tried to allocate 256 MB on private pool."))
    assert out_of_memory(RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be asynchronously "
                                       "reported"))
    assert not out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x384 and 512x384)"))
    assert not out_of_memory(ValueError("out of memory"))  # only what torch raises


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"batch_size": 8}, "out of GPU memory at batch size 8: try --batch-size 4 or --gradient-checkpointing"),
        ({"batch_size": 1}, "out of GPU memory at batch size 1: try --gradient-checkpointing"),
        ({"batch_size": 1, "gradient_checkpointing": True},
         "out of GPU memory at batch size 1: try a smaller model (-m) or --device cpu"),
        ({"batch_size": 4, "lora_layers": "all"},
         "out of GPU memory at batch size 4: try --batch-size 2 or --lora-layers decoder (encoder frozen and cached)"),
        ({"batch_size": 2, "full_finetune": True},
         "out of GPU memory at batch size 2: try --batch-size 1 or LoRA instead of --full-finetune"),
    ],
)
def test_out_of_memory_advice_names_real_flags(settings: dict, expected: str) -> None:
    from core.cli import _train_arguments
    from core.train import TrainConfig
    from core.train_guards import oom_message

    message = oom_message(TrainConfig(dataset=Path("d"), output=Path("o"), **settings))
    assert message == expected
    parser = argparse.ArgumentParser()
    _train_arguments(parser)  # what `whisper-tui train --help` lists
    train_help = parser.format_help()
    for flag in re.findall(r"--[a-z-]+", message):
        assert flag in train_help, flag


def test_the_guard_stops_on_non_finite_weights_or_loss() -> None:
    """The two checks the real run above reaches one of (which one depends on how the overflow goes: with
    --lr 1e6 it is the weights after step 4, with 1e30 the validation loss): each one raises before any save."""
    import torch
    from transformers import TrainerControl, TrainerState

    from core.train_guards import Diverged, DivergenceGuard, check_finite_loss

    layer = torch.nn.Linear(4, 4)
    state = TrainerState(global_step=7)
    assert DivergenceGuard().on_step_end(None, state, TrainerControl(), model=layer) is not None
    with torch.no_grad():
        layer.weight[0, 0] = float("inf")
    with pytest.raises(Diverged, match="step 7: weights became inf"):
        DivergenceGuard().on_step_end(None, state, TrainerControl(), model=layer)
    layer.weight.requires_grad_(False)  # frozen weights are not ours to judge
    DivergenceGuard().on_step_end(None, state, TrainerControl(), model=layer)

    check_finite_loss(torch.tensor(2.5), 3)
    with pytest.raises(Diverged, match="step 3: loss nan"):
        check_finite_loss(torch.tensor(float("nan")), 3)
