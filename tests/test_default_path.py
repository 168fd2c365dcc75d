"""The defaults are one path: screen 3's build and screen 4's start make the same rows and the same run settings as
`whisper-tui prepare` + `whisper-tui train` with no flags (what the quality protocol measures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_from_disk

from core import train_config
from core.cli import build_parser
from core.workspace import Workspace
from tests.tui_helpers import ROOT, wait_for
from tui.app import WhisperTuiApp
from tui.screens.segments import SegmentsScreen
from tui.screens.train import TrainScreen

pytestmark = pytest.mark.anyio


def rows(dataset: Path) -> dict[str, list[tuple]]:
    loaded = load_from_disk(str(dataset))
    return {split: sorted(zip(loaded[split]["text"], loaded[split]["start"], loaded[split]["end"],
                              loaded[split]["source"], strict=True)) for split in ("train", "validation")}


def without_paths(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in ("dataset", "output")}


async def test_screens_3_and_4_run_the_cli_defaults(sample: Workspace, tmp_path: Path) -> None:
    audio, captions = sample.audio_dir / "train.mp3", sample.captions_dir / "train.vtt"
    cli_dataset = tmp_path / "cli-dataset"
    made = subprocess.run([sys.executable, "-m", "core.cli", "prepare", "--audio", str(audio), "--captions",
                           str(captions), "-o", str(cli_dataset)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert made.returncode == 0, made.stderr
    train_args = ["train", "--dataset", str(cli_dataset), "--keywords", str(sample.keywords_path), "-o",
                  str(tmp_path / "cli-run")]
    cli_config = train_config.from_args(build_parser().parse_args(train_args))

    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, SegmentsScreen) and app.screen.plan is not None, 20)
        await pilot.press("b")
        await wait_for(pilot, lambda: (sample.dataset_dir / "dataset_dict.json").is_file()
                       and app.screen.job_name is None, 300)
        assert rows(sample.dataset_dir) == rows(cli_dataset)  # views included, by default, on both paths

        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen), 20)
        screen: TrainScreen = app.screen  # type: ignore[assignment]
        await pilot.press("s")
        assert screen.job_name == "train" and screen.run_dir is not None
        started = json.loads((screen.run_dir / train_config.RUN_CONFIG).read_text())
        await pilot.press("x")  # under load the stop can take minutes to land
        await wait_for(pilot, lambda: screen.job_name is None, 600)
    assert without_paths(started) == without_paths(train_config.to_json(cli_config))
    assert started["keywords"] and started["replay"] is True  # the keywords and the replay travel with the run
