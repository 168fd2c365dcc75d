"""A successful Hub push, end to end, through the real `huggingface_hub` client against the stand-in Hub of
tests/local_hub.py: the dataset from `whisper-tui prepare --push-to-hub` (a process of its own, pointed there by
HF_ENDPOINT), the model from screen 5 (`u`, Enter; no CLI command pushes a model). What arrives is compared
with what was pushed, byte for byte, and the repos are private."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from core.errors import JobError
from core.evaluate import push_model
from core.workspace import Workspace
from tests.local_hub import LocalHub, running_hub
from tests.tui_helpers import ROOT, SAMPLES, open_evaluate, wait_for
from tests.tui_helpers import status_text as status
from tui.app import WhisperTuiApp

TOKEN = "hf_localHubPushTest0123456789abcdef"
RECORDED = Path(__file__).resolve().parent / "data" / "recorded_evaluation"

pytestmark = pytest.mark.anyio


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalHub]:
    with running_hub(tmp_path / "hub", TOKEN) as hub:
        yield hub


def lfs_uploads(hub: LocalHub) -> int:
    return sum(r.startswith("PUT /lfs-upload/") for r in hub.requests)


def test_prepare_pushes_the_dataset(hub: LocalHub, tmp_path: Path) -> None:
    """`prepare --push-to-hub`: a private dataset repo with one parquet shard per split whose rows (the WAV bytes of
    every row included) are the saved dataset's, and a dataset card that names both splits."""
    from datasets import load_from_disk
    from pyarrow import parquet

    out = tmp_path / "dataset"
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "prepare", "--no-views", "--audio", str(SAMPLES / "train.mp3"), "--captions",
         str(SAMPLES / "train.vtt"), "--holdout", "0.05", "-o", str(out), "--push-to-hub", "someone/whisper-data"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **hub.env(TOKEN)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == f"{hub.url}/datasets/someone/whisper-data"
    assert TOKEN not in result.stdout + result.stderr

    repo = hub.repo("dataset", "someone/whisper-data")
    assert repo.private and len(repo.commits) == 1
    shards = {"train": "data/train-00000-of-00001.parquet", "validation": "data/validation-00000-of-00001.parquet"}
    assert set(repo.files) == {"README.md", *shards.values()}
    saved = load_from_disk(str(out))
    for split, path in shards.items():
        pushed = parquet.read_table(hub.file("dataset", "someone/whisper-data", path))
        rows = saved[split].data.table.to_pylist()
        assert len(rows) == saved[split].num_rows > 0
        assert pushed.to_pylist() == rows  # audio bytes, text, timings and source of every row
    card = hub.file("dataset", "someone/whisper-data", "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(card.split("---")[1])
    assert {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]} == \
           {split: saved[split].num_rows for split in shards}
    assert lfs_uploads(hub) == len(shards)  # the shards took the LFS path, the card went inline
    assert hub.seen_auth and set(hub.seen_auth) == {f"Bearer {TOKEN}"}


async def test_screen_5_pushes_the_run_model(sample: Workspace, tiny, hub: LocalHub,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """u then Enter pushes runs/run-1/merged/ (model, config, processor files) and the evaluation report to the
    repo id the screen suggests (a bare name: it lands in the token owner's namespace); pushing again after that
    updates the same repo and does not upload the unchanged weights twice."""
    run = sample.runs_dir / "run-1"
    shutil.copytree(tiny.hf_dir, run / "merged", ignore=shutil.ignore_patterns(".*"))  # a transformers model dir
    shutil.copytree(RECORDED, run / "evaluation")
    merged = sorted(p.name for p in (run / "merged").iterdir())
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "tokenizer.json"} <= set(merged)
    hub.use_in_process(monkeypatch, TOKEN)

    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_evaluate(pilot)
        assert screen.run_dir() == run
        for attempt in (1, 2):
            await pilot.press("u")
            assert "Enter pushes runs/run-1/merged/" in status(screen)
            await pilot.press("enter")
            # the prompt itself says "pushes": wait for the job's own outcome line, not any line with "push" in it
            await wait_for(pilot, lambda: screen.job_name is None and not status(screen).startswith("Enter pushes"),
                           timeout=120)
            assert status(screen) == f"pushed: {hub.url}/someone/sample-run-1", status(screen)

            repo = hub.repo("model", "someone/sample-run-1")
            assert repo.private and len(repo.commits) == 2 * attempt  # the model, then the report
            assert sorted(repo.files) == sorted([*merged, "evaluation.md"])
            for name in merged:
                assert filecmp.cmp(run / "merged" / name, hub.file("model", repo.repo_id, name), shallow=False), name
            assert filecmp.cmp(run / "evaluation" / "report.md", hub.file("model", repo.repo_id, "evaluation.md"),
                               shallow=False)
            assert lfs_uploads(hub) == 1  # model.safetensors, once: the second push finds it stored
    assert set(hub.seen_auth) == {f"Bearer {TOKEN}"}


def test_a_refused_token_is_one_line_with_the_token_masked(tmp_path: Path, tiny,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hub that refuses the token and echoes it back in its error: the user gets one line, the token masked."""
    run = tmp_path / "run"
    shutil.copytree(tiny.hf_dir, run / "merged", ignore=shutil.ignore_patterns(".*"))
    with running_hub(tmp_path / "hub", token="hf_someoneElsesToken") as hub:
        hub.use_in_process(monkeypatch, TOKEN)
        with pytest.raises(JobError) as raised:
            push_model(run, "someone/model")
    message = str(raised.value)
    assert message.startswith("could not push to the Hub (someone/model): ") and "\n" not in message
    assert "Bearer ***" in message and TOKEN not in message
    assert f"Bearer {TOKEN}" in hub.seen_auth and hub.repos == {}


# ---------------------------------------------------------------------------- helpers


