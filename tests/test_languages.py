"""Languages and purposes: Whisper's language list, `--language-token` for a language it does not list, the
purpose presets a `train` command line gets, and the repetition-loop flags of the evaluate report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import train_config
from core.errors import InputError
from core.languages import WHISPER_LANGUAGES
from core.repetition import compression_ratio, is_loop, most_repeated
from core.train_config import PURPOSE_SETTINGS, check_language, from_args
from tests.test_train_settings import train_parser

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"


def test_our_language_list_is_whispers() -> None:
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    assert tuple(LANGUAGES) == WHISPER_LANGUAGES


def test_a_language_whisper_does_not_list_needs_a_listed_token() -> None:
    assert check_language(None) is None
    assert check_language("cy") == "cy"
    assert check_language("ga", "cy") == "cy"
    with pytest.raises(InputError, match="does not list the language 'ga'.*--language-token cy"):
        check_language("ga")
    with pytest.raises(InputError, match="'xx' is not a language Whisper lists"):
        check_language("ga", "xx")
    with pytest.raises(InputError, match="goes with --language"):
        check_language(None, "cy")


def _config(*argv: str):
    return from_args(train_parser().parse_args(["--dataset", "d", "-o", "o", *argv]))


def test_a_non_english_language_gets_the_language_purpose_and_its_defaults() -> None:
    words = _config()
    assert words.purpose == "words" and words == train_config.defaults(dataset=Path("d"), output=Path("o"))
    welsh = _config("-m", "base", "--language", "cy")
    assert welsh.purpose == "language" and PURPOSE_SETTINGS["language"]
    for name, value in PURPOSE_SETTINGS["language"].items():
        assert getattr(welsh, name) == value != getattr(words, name)
    assert _config("--language", "cy", "--distill", "0.5").distill == 0.5  # a flag given beats the preset
    assert _config("--language", "cy", "--purpose", "words").lora_layers == words.lora_layers
    accent = _config("--purpose", "accent")
    assert all(getattr(accent, name) == value for name, value in PURPOSE_SETTINGS["accent"].items())
    irish = _config("-m", "base", "--language", "ga", "--language-token", "cy")
    assert (irish.purpose, irish.decoding_language) == ("language", "cy")


def test_a_saved_config_keeps_its_purpose_settings(tmp_path: Path) -> None:
    """--config FILE is taken whole: the purpose's presets were applied when it was made, a flag still wins."""
    saved = train_config.save(_config("--language", "cy", "--lora-layers", "decoder"), tmp_path / "c.json")
    again = from_args(train_parser().parse_args(["--config", str(saved), "--seed", "3"]))
    assert (again.purpose, again.lora_layers, again.seed) == ("language", "decoder", 3)


@pytest.mark.parametrize(("text", "looping"), [
    ("Mae'n fwy'n fwy'n fwy'n fwy'n fwy'n fwy'n fwy'n fwy'n fwy'n fwy'n fwy'n fwy'n.", True),
    ("the cat sat on the mat, the cat sat on the mat, the cat sat on the mat", True),
    ("Welcome back to the show, where today we compare Mixtral and Phi-2.", False),
    ("Mae'r bws yn gadael am ddeg o'r gloch.", False),
    ("", False),
])
def test_repetition_loops_are_flagged(text: str, looping: bool) -> None:
    assert is_loop(text) is looping


def test_the_two_loop_measures() -> None:
    assert most_repeated("a b c a b c a b c") == 3 and most_repeated("A b, c. a B c") == 2
    assert compression_ratio("fwy'n " * 40) > 2.4 > compression_ratio("A short ordinary sentence about trains.")


# ---------------------------------------------------------------------------- training a language


def _cli(*args: object, timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "core.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _train(root: Path, folder: str, *flags: str) -> Path:
    """`prepare` the folder's training recording, then a few steps of `train -m base` with FLAGS."""
    _cli("prepare", "--audio", SAMPLES / folder / "train.mp3", "--captions", SAMPLES / folder / "train.vtt",
         "--no-views", "-o", root / "dataset")
    _cli("train", "--dataset", root / "dataset", "-o", root / "run", "-m", "base", "--max-steps", "2",
         "--batch-size", "4", "--eval-rows", "4", *flags)
    return root / "run"


@pytest.fixture(scope="module")
def welsh_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("welsh"), "welsh", "--language", "cy")


def test_a_welsh_run_writes_language_and_task_into_the_merged_model(welsh_run: Path) -> None:
    settings = json.loads((welsh_run / "train_config.json").read_text())
    assert (settings["purpose"], settings["language"], settings["lora_layers"]) == ("language", "cy", "all")
    generation = json.loads((welsh_run / "merged" / "generation_config.json").read_text())
    assert (generation["language"], generation["task"]) == ("cy", "transcribe")
    card = (welsh_run / "merged" / "README.md").read_text()
    assert "language: [cy]" in card and "purpose: language" in card and 'language="cy"' in card


def test_pipeline_with_no_arguments_prompts_with_the_trained_language(welsh_run: Path) -> None:
    """transformers' ASR pipeline, given only the merged folder, starts the decoder prompt with <|cy|><|transcribe|>
    (seen by a hook on the real decoder's first call)."""
    from transformers import pipeline

    from core.audio import load_audio

    asr = pipeline("automatic-speech-recognition", model=str(welsh_run / "merged"), device="cpu")
    prompts: list[list[int]] = []

    def first_call(module, args, kwargs) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and not prompts:
            prompts.append(ids[0].tolist())

    hook = asr.model.model.decoder.register_forward_pre_hook(first_call, with_kwargs=True)
    try:
        asr(load_audio(SAMPLES / "welsh" / "test.mp3")[:16000 * 4])
    finally:
        hook.remove()
    tokens = asr.tokenizer.convert_ids_to_tokens(prompts[0])
    assert tokens[:3] == ["<|startoftranscript|>", "<|cy|>", "<|transcribe|>"], tokens


def test_the_ct2_export_and_transcribe_keep_the_language(welsh_run: Path) -> None:
    from core.models import resolve, trained_language
    from core.transcribe import load_engine

    _cli("export", welsh_run, "--ct2", timeout=600)
    model = resolve(welsh_run / "ct2")
    assert trained_language(model) == "cy"
    assert load_engine(model).options.language == "cy"


def test_a_language_whisper_does_not_list_trains_under_a_listed_token_and_evaluates(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    run = _train(tmp_path_factory.mktemp("irish"), "irish", "--language", "ga", "--language-token", "cy")
    settings = json.loads((run / "train_config.json").read_text())
    assert (settings["language"], settings["language_token"], settings["purpose"]) == ("ga", "cy", "language")
    assert json.loads((run / "merged" / "generation_config.json").read_text())["language"] == "cy"
    assert "Whisper does not list `ga`" in (run / "merged" / "README.md").read_text()
    out = run / "evaluation"
    _cli("evaluate", "-m", run, "--audio", SAMPLES / "irish" / "test.mp3", "--captions",
         SAMPLES / "irish" / "test.vtt", "-o", out)
    report = json.loads((out / "report.json").read_text())
    assert [v["name"] for v in report["variants"]][-1] == "fine-tuned"
    for variant in report["variants"]:
        assert variant["wer"] >= 0 and "loops" in variant["sets"]["test"]
