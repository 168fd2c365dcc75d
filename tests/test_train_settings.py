"""Training settings live in one place (core/train_config.py): the CLI's options and the Train screen's form are
generated from TrainConfig's fields, train_config.json carries them whole, and a run started from the TUI, stopped
and resumed from the TUI runs with every setting it started with."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest
from textual.widgets import Input

from core import train_config
from core.cli import build_parser
from core.dataset import PrepareOptions, Recording, prepare
from core.runs import read_metrics
from core.train_config import TrainConfig, from_args, from_json, load, run_config, setting_names, to_json
from core.train_process import TrainProcess
from core.vocabulary import load_keywords
from core.workspace import Workspace, sample_workspace
from tests.tui_helpers import SAMPLES, wait_for
from tui.app import WhisperTuiApp
from tui.screens.train import FIELDS, TrainScreen, parse_form

PROCESS_OPTIONS = {"help", "config", "events"}  # options of the train command that are not settings


def train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def everything_changed(dataset: Path, output: Path, model: str = "base") -> TrainConfig:
    """A config in which every setting differs from its default (so a dropped one shows)."""
    config = TrainConfig(
        dataset=dataset, output=output, model=model, keywords=tuple(load_keywords(SAMPLES / "keywords.txt")),
        epochs=3.0, learning_rate=5e-4, batch_size=2, lora_r=8, lora_alpha=16, lora_dropout=0.1,
        target_modules=("q_proj", "k_proj"), lora_layers="all", full_finetune=True, speeds=(0.95, 1.05),
        warps=(0.9, 1.1), other_weight=0.9, distill=0.2, replay=False, guard=0.05, eval_every=2, save_total_limit=3,
        warmup=1.0, seed=1,
        language="en", task="translate", resume=True, max_steps=6, device="cpu", precision="fp32",
        gradient_checkpointing=True, logging_steps=1, audio_column="audio", text_column="text", train_split="train",
        eval_split="validation", eval_rows=32, group_by_length=True, purpose="accent", language_token="de")
    defaults = train_config.defaults()
    # deepspeed stays unset: checking it needs DeepSpeed installed (test_bad_settings_are_one_line covers the flag)
    same = [f.name for f in fields(TrainConfig) if f.name not in ("dataset", "output", "deepspeed")
            and getattr(config, f.name) == getattr(defaults, f.name)]
    assert not same, f"settings left at their defaults: {same}"
    return config


def test_every_cli_option_is_a_setting_and_every_setting_has_an_option() -> None:
    options = {action.dest: action for action in train_parser()._actions}
    assert set(options) - PROCESS_OPTIONS == set(setting_names())
    for name in setting_names():  # and the flag is the one the setting declares
        assert train_config.flag(name) in options[name].option_strings


def test_every_form_field_is_a_setting() -> None:
    assert {name for name, *_ in FIELDS} <= set(setting_names())


def test_no_module_spells_the_train_options_by_hand() -> None:
    """The settings' flags appear in core/ and tui/ only where the schema generates them."""
    flags = [train_config.flag(n) for n in setting_names() if train_config.flag(n) not in ("--dataset", "--output")]
    root = Path(__file__).resolve().parent.parent
    for path in [*root.glob("core/*.py"), *root.glob("tui/**/*.py")]:
        if path.name == "train_config.py":
            continue
        text = path.read_text(encoding="utf-8")
        if path.name == "cli.py":  # evaluate and transcribe have options of their own with the same names
            text = text[text.index("def _train_arguments"):text.index("def _export_arguments")]
        spelled = [f for f in flags if f'"{f}' in text or f"'{f}" in text]
        assert not spelled, f"{path.relative_to(root)} spells {spelled} by hand"


def test_json_round_trip_keeps_every_setting(tmp_path: Path) -> None:
    config = everything_changed(tmp_path / "ds", tmp_path / "run")
    assert from_json(json.loads(json.dumps(to_json(config)))) == replace(
        config, dataset=config.dataset.absolute(), output=config.output.absolute())
    assert load(train_config.save(config, tmp_path / "settings.json")).keywords == config.keywords  # misheard kept
    assert run_config(tmp_path) is None  # not a run folder


def test_config_file_then_flags_override(tmp_path: Path) -> None:
    saved = train_config.save(everything_changed(tmp_path / "ds", tmp_path / "run"), tmp_path / "s.json")
    args = train_parser().parse_args(["--config", str(saved), "--lr", "2e-4", "--task", "transcribe",
                                      "--no-full-finetune", "--speeds", "1.0"])
    config = from_args(args)
    assert (config.learning_rate, config.task, config.full_finetune, config.speeds) == (2e-4, "transcribe", False,
                                                                                        (1.0,))
    assert (config.lora_r, config.precision, config.gradient_checkpointing, config.seed) == (8, "fp32", True, 1)
    plain = from_args(train_parser().parse_args(["--dataset", "d", "-o", "o", "--task", "translate"]))
    assert plain == replace(train_config.defaults(dataset=Path("d"), output=Path("o")), task="translate")


@pytest.mark.parametrize(("argv", "message"), [
    (["--lr", "fast"], "--lr: 'fast' is not a number"),
    (["--task", "summarize"], "invalid choice: 'summarize'"),
    (["--speeds", "3"], "speed factors must lie between 0.5 and 2.0"),
    (["--warps", "1.5"], "warp factors must lie between 0.7 and 1.3"),
    (["--config", "nope.json"], "settings file not found: nope.json"),
    (["--deepspeed", "zero2"], "--deepspeed needs DeepSpeed, an optional dependency: pip install deepspeed"),
    (["--deepspeed", "ds.json"], "DeepSpeed config not found: ds.json (give 'zero2' or a JSON file)"),
    (["--language", "ga"], "Whisper does not list the language 'ga': train it under a related listed language's "
                           "token, e.g. --language ga --language-token cy"),
    (["--language", "ga", "--language-token", "xx"], "--language-token 'xx' is not a language Whisper lists"),
    (["--purpose", "poetry"], "invalid choice: 'poetry'"),
])
def test_bad_settings_are_one_line(tmp_path: Path, argv: list[str], message: str) -> None:
    base = [] if "--config" in argv else ["--dataset", "d", "-o", "o"]
    result = subprocess.run([sys.executable, "-m", "core.cli", "train", *base, *argv], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_train_needs_a_dataset_and_a_run_folder(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "core.cli", "train", "--lr", "1e-4"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--dataset and --output required (or --config FILE)" in result.stderr


def test_the_form_reads_through_the_schema() -> None:
    base = train_config.defaults()
    values = {name: train_config.to_text(name, getattr(base, name)) for name, *_ in FIELDS}
    assert parse_form(values, base) == base  # what the form shows reads back unchanged
    assert parse_form({**values, "model": "  "}, replace(base, model="base")).model == "base"


# ---------------------------------------------------------------------------- the round trip through real runs


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = sample_workspace(tmp_path_factory.mktemp("ds-home")).root
    return prepare([Recording(root / "audio" / "train.mp3", root / "captions" / "train.vtt")],
                   tmp_path_factory.mktemp("ds") / "dataset", options=PrepareOptions(views=False)).path


@pytest.mark.slow
@pytest.mark.anyio
async def test_every_setting_survives_start_stop_and_resume_from_the_tui(sample: Workspace, small_dataset: Path,
                                                                         tiny) -> None:
    """A run started by the TUI's process runner with every setting changed is stopped with a checkpoint, resumed
    with R on screen 4, and finishes: report.json records the settings the resumed process ran with."""
    shutil.copytree(small_dataset, sample.dataset_dir)
    run_dir = sample.runs_dir / "run-everything"
    started = replace(everything_changed(sample.dataset_dir, run_dir, model=str(tiny.hf_dir)), resume=False)
    process = TrainProcess.start(started)
    deadline = time.monotonic() + 300
    while not any(row.get("kind") == "train" for row in read_metrics(run_dir)):  # a step done: stop it now
        assert process.alive() and time.monotonic() < deadline, (run_dir / "train.log").read_text()
        time.sleep(0.2)
    process.stop()
    outcome = process.follow()
    assert outcome.stopped, (outcome, (run_dir / "train.log").read_text())
    assert not (run_dir / "merged").exists()

    app = WhisperTuiApp(sample)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen), 10)
        screen: TrainScreen = app.screen  # type: ignore[assignment]
        screen.query_one("#learning_rate", Input).value = "0.1"  # the form does not override a stopped run's own
        await pilot.press("R")
        assert screen.job_name == "train"
        await wait_for(pilot, lambda: screen.job_name is None, 600)
        assert "finished" in screen.query_one("#status").text.plain, (run_dir / "train.log").read_text()
    report = json.loads((run_dir / "report.json").read_text())
    assert from_json(report["config"]) == replace(started, resume=True, dataset=started.dataset.absolute(),
                                                  output=started.output.absolute())

