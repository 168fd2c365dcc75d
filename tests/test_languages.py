"""Languages and purposes: Whisper's language list, `--language-token` for a language it does not list, the
purpose presets a `train` command line gets, and the repetition-loop flags of the evaluate report."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import train_config
from core.errors import InputError
from core.languages import WHISPER_LANGUAGES, check_language
from core.repetition import compression_ratio, is_loop, most_repeated
from core.train_config import PURPOSE_SETTINGS, from_args
from tests.test_train_settings import train_parser


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
