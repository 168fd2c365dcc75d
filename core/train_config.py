"""Training settings: one dataclass, and every place that spells a setting derives from its fields.

A setting exists once, as a `TrainConfig` field whose metadata is a `Setting` (its command-line flag and
help). The `train` command's options, the Train screen's form, and the run folder's `train_config.json`
(what a TUI-started run and a resume hand to `whisper-tui train --config`) are generated from that table,
so no copy can miss a setting. This module is light (no torch): the CLI builds its parser from it.
"""

from __future__ import annotations

import argparse
import json
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.files import atomic_write_text
from core.languages import is_listed
from core.models import DEFAULT_MODEL
from core.runs import RUN_CONFIG
from core.vocabulary import Keyword, load_keywords

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
PURPOSES = ("words", "accent", "language")
# What each purpose changes from the defaults above (which are the words recipe). Sounds, not words: the encoder
# learns too (LoRA on every layer), and nothing pulls the decoder back to the base model's wording (no
# distillation), since the base model's wording is what is wrong. Measured in bench/RESULTS.md, "Purposes".
PURPOSE_SETTINGS: dict[str, dict[str, Any]] = {
    "words": {},
    "accent": {"lora_layers": "all", "distill": 0.0, "warps": (1.0,)},
    "language": {"lora_layers": "all", "distill": 0.0, "warps": (1.0,)},
}
LORA_LAYERS = ("decoder", "all")
TASKS = ("transcribe", "translate")
BUNDLED_ZERO2 = Path(__file__).resolve().parent / "data" / "deepspeed_zero2.json"


@dataclass(frozen=True)
class Columns:
    """Which dataset columns and splits the user named (None: core.training_data finds them by the usual names)."""

    audio: str | None = None
    text: str | None = None
    train_split: str | None = None
    eval_split: str | None = None


@dataclass(frozen=True)
class Setting:
    """How one TrainConfig field is spelled outside Python: its flag, help, and (optionally) choices."""

    flag: str
    help: str
    short: str | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None


def _setting(default: Any, flag: str, help: str, **options: Any) -> Any:
    return field(default=default, metadata={"setting": Setting(flag, help, **options)})


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; the defaults are the measured best recipe for a short recording."""

    dataset: Path = field(metadata={"setting": Setting(
        "--dataset", "a `whisper-tui prepare` folder, a saved DatasetDict, a folder of parquet or arrow shards, or "
                     "a Hub dataset id", metavar="DATASET")})
    output: Path = field(metadata={"setting": Setting("--output", "the run folder", short="-o", metavar="RUN_DIR")})
    audio_column: str | None = _setting(None, "--audio-column", "the dataset's audio column (none: 'audio')",
                                        metavar="NAME")
    text_column: str | None = _setting(None, "--text-column", "the dataset's transcript column (none: the first "
                                       "of text, sentence, transcription, transcript)", metavar="NAME")
    train_split: str | None = _setting(None, "--train-split", "the split to train on (none: train)", metavar="NAME")
    eval_split: str | None = _setting(None, "--eval-split", "the split to evaluate on (none: the first of "
                                      "validation, test, dev)", metavar="NAME")
    model: str = _setting(DEFAULT_MODEL, "--model", "base model spec: tiny.en, base, a directory or a Hub id",
                          short="-m", metavar="MODEL")
    keywords: tuple[Keyword, ...] = _setting((), "--keywords", "keywords.txt: recall is measured on these",
                                             metavar="FILE")
    epochs: float = _setting(5.0, "--epochs", "passes over the training rows")
    learning_rate: float = _setting(1e-3, "--lr", "learning rate")
    batch_size: int = _setting(8, "--batch-size", "rows per step (per device)")
    lora_r: int = _setting(32, "--lora-r", "LoRA rank")
    lora_alpha: int = _setting(64, "--lora-alpha", "LoRA alpha (scale = alpha / rank)")
    lora_dropout: float = _setting(0.05, "--lora-dropout", "dropout on the LoRA branch")
    target_modules: tuple[str, ...] = _setting(("q_proj", "v_proj"), "--targets",
                                               "LoRA target modules, comma-separated")
    lora_layers: str = _setting("decoder", "--lora-layers",
                                "decoder: encoder frozen and its outputs cached (fast); all: encoder too",
                                choices=LORA_LAYERS)
    full_finetune: bool = _setting(False, "--full-finetune", "train all weights instead of LoRA")
    speeds: tuple[float, ...] = _setting((0.9, 1.0, 1.1), "--speeds", "speed perturbation factors, comma-separated")
    warps: tuple[float, ...] = _setting((0.9, 1.0, 1.1), "--warps",
                                        "vocal-tract warps of the spectrum (formants and pitch move, pace does not), "
                                        "comma-separated: each pass over the rows hears every speed copy at the next "
                                        "warp in turn")
    other_weight: float = _setting(1.0, "--other-weight",
                                   "loss weight of tokens outside keywords, 0-1 (keyword tokens weigh 1)")
    distill: float = _setting(0.6, "--distill", "weight of a KL term that keeps non-keyword tokens close to the "
                                                "base model")
    replay: bool = _setting(True, "--replay", "mix in the bundled real speech (core/data/replay), labelled by the "
                                              "base model, so ordinary speech keeps working (English models)")
    guard: float = _setting(0.02, "--guard", "the most a checkpoint's transcripts of held-out real speech may differ "
                                             "from the base model's (word error rate against them); a checkpoint "
                                             "over it is never chosen")
    group_by_length: bool = _setting(False, "--group-by-length",
                                     "batch rows of similar transcript length together: less padding on a GPU with "
                                     "large datasets (audio is always one 30 s window, so the text decides the cost)")
    eval_every: int = _setting(0, "--eval-every", "steps between evaluations (0: each epoch)")
    eval_rows: int = _setting(64, "--eval-rows", "clips decoded per evaluation: evaluation rows spread over the "
                                                 "split, at every training speed when that many fit, else at 1.0×")
    save_total_limit: int = _setting(2, "--save-total-limit", "checkpoints kept (the best one is always kept)")
    warmup: float = _setting(0.1, "--warmup", "learning-rate warm-up: a share of the steps (< 1) or a step count")
    seed: int = _setting(0, "--seed", "random seed (data order, LoRA init, dropout)")
    purpose: str | None = _setting(None, "--purpose", "what the run teaches: words (new terms), accent (new "
                                   "voices of a known language) or language (a language the model handles badly); "
                                   "each sets its measured defaults for the settings not given (none: language when "
                                   "--language is not English, else words)", choices=PURPOSES)
    language: str | None = _setting(None, "--language", "language code for multilingual models (none: en)",
                                      metavar="CODE")
    language_token: str | None = _setting(None, "--language-token", "for a language Whisper does not list: the "
                                          "listed language whose token it is trained and decoded under (e.g. cy "
                                          "for ga); none: --language itself", metavar="CODE")
    task: str = _setting("transcribe", "--task", "what the model learns to do", choices=TASKS)
    resume: bool = _setting(False, "--resume", "continue the run in RUN_DIR from its last checkpoint")
    max_steps: int = _setting(-1, "--max-steps", "stop after this many steps (-1: run the epochs)")
    device: str = _setting("auto", "--device", "auto, cpu or cuda", metavar="DEVICE")
    precision: str = _setting("auto", "--precision", "GPU mixed precision (auto: bf16 where the card has it, else "
                                                     "fp16; fp32 on CPU)", choices=PRECISIONS)
    deepspeed: str | None = _setting(None, "--deepspeed", "a DeepSpeed config for full fine-tunes on several GPUs "
                                     "(optional dependency): 'zero2' for the bundled ZeRO-2 one, or a JSON file",
                                     metavar="CONFIG")
    gradient_checkpointing: bool = _setting(False, "--gradient-checkpointing",
                                            "recompute activations in the backward pass: less GPU memory, slower "
                                            "steps (on anyway on GPU when the encoder trains)")
    logging_steps: int = _setting(5, "--logging-steps", "steps between training-loss rows")

    def check(self) -> None:
        if self.lora_layers not in LORA_LAYERS:
            raise InputError(f"lora layers must be 'decoder' or 'all', not {self.lora_layers!r}")
        if self.task not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        if not 0 <= self.other_weight <= 1 or self.distill < 0:
            raise InputError("other-token weight must be in [0, 1] and the distillation weight ≥ 0")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise InputError("epochs must be positive")
        if self.learning_rate <= 0 or self.batch_size < 1 or self.lora_r < 1:
            raise InputError("learning rate, batch size and LoRA rank must be positive")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if not self.speeds or any(not 0.5 <= s <= 2.0 for s in self.speeds):
            raise InputError("speed factors must lie between 0.5 and 2.0")
        if not self.warps or any(not 0.7 <= w <= 1.3 for w in self.warps):
            raise InputError("warp factors must lie between 0.7 and 1.3")
        if self.guard < 0:
            raise InputError("the guard (drift allowed on held-out real speech) must be ≥ 0")
        if self.deepspeed is not None:
            self.deepspeed_config()
        if self.eval_rows < 1:
            raise InputError("evaluation rows must be ≥ 1")
        if self.save_total_limit < 1 or self.logging_steps < 1 or self.warmup < 0:
            raise InputError("checkpoints kept and logging steps must be ≥ 1, warm-up ≥ 0")
        if self.purpose is not None and self.purpose not in PURPOSES:
            raise InputError(f"purpose must be one of {', '.join(PURPOSES)}, not {self.purpose!r}")
        check_language(self.language, self.language_token)  # one line for a language Whisper does not list

    @property
    def decoding_language(self) -> str | None:
        """The language token the model is trained and decoded under: --language-token, else --language (None:
        the model's default, English). A language Whisper does not list needs a listed one's token."""
        return check_language(self.language, self.language_token)

    def deepspeed_config(self) -> str | None:
        """The DeepSpeed JSON to hand the Trainer ('zero2': the bundled ZeRO-2 config), after checking it can run."""
        if self.deepspeed is None:
            return None
        import importlib.util

        path = BUNDLED_ZERO2 if self.deepspeed == "zero2" else Path(self.deepspeed)
        if not path.is_file():
            raise InputError(f"DeepSpeed config not found: {self.deepspeed} (give 'zero2' or a JSON file)")
        if importlib.util.find_spec("deepspeed") is None:
            raise InputError("--deepspeed needs DeepSpeed, an optional dependency: pip install deepspeed")
        return str(path)

    @property
    def columns(self) -> Columns:
        """Which dataset columns and splits were named (core.training_data finds the rest)."""
        return Columns(self.audio_column, self.text_column, self.train_split, self.eval_split)

    @property
    def caches_encoder(self) -> bool:
        """The encoder is frozen (decoder-only LoRA) so its outputs can be computed once."""
        return not self.full_finetune and self.lora_layers == "decoder"


# ---------------------------------------------------------------------------- the schema


@cache
def _types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig, globalns={**globals(), "Keyword": Keyword})


def setting_names() -> tuple[str, ...]:
    """Every TrainConfig field, in declaration order."""
    return tuple(f.name for f in fields(TrainConfig))


def setting_of(name: str) -> Setting:
    return next(f.metadata["setting"] for f in fields(TrainConfig) if f.name == name)


def check_language(language: str | None, token: str | None = None) -> str | None:
    """The listed language whose token a run uses (None: the model's default); one line, naming the flags to use,
    when there is none."""
    if token is not None:
        if not is_listed(token):
            raise InputError(f"{flag('language_token')} {token!r} is not a language Whisper lists (e.g. cy, en, de)")
        if language is None:
            raise InputError(f"{flag('language_token')} goes with {flag('language')} (the language the recordings "
                             "are in)")
        return token.lower()
    if language is None:
        return None
    if not is_listed(language):
        raise InputError(f"Whisper does not list the language {language!r}: train it under a related listed "
                         f"language's token, e.g. {flag('language')} {language} {flag('language_token')} cy")
    return language.lower()



def flag(name: str) -> str:
    """The command-line flag of a setting (for messages that tell the user what to change)."""
    return setting_of(name).flag


def _kind(name: str) -> str:
    """path, text, optional-text, int, float, bool, texts, floats or keywords."""
    hint = _types()[name]
    simple = {Path: "path", str: "text", int: "int", float: "float", bool: "bool",
              tuple[str, ...]: "texts", tuple[float, ...]: "floats", tuple[Keyword, ...]: "keywords"}
    if hint in simple:
        return simple[hint]
    if hint == (str | None):
        return "optional-text"
    raise TypeError(f"TrainConfig.{name}: no text form for {hint}")


def from_text(name: str, text: str) -> Any:
    """A setting's value from what a user typed (a flag's argument or a form field); ValueError says why.
    Keywords are given as the path of a keywords.txt."""
    kind, text = _kind(name), text.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "floats":
            return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        number = "an integer" if kind == "int" else "a number" if kind == "float" else "comma-separated numbers"
        raise ValueError(f"{text!r} is not {number}") from None
    if kind == "texts":
        return tuple(t.strip() for t in text.split(",") if t.strip())
    if kind == "path":
        return Path(text)
    choices = setting_of(name).choices
    if kind == "optional-text":
        if text and choices and text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text or None
    if kind == "keywords":
        return tuple(load_keywords(Path(text)))
    if kind == "bool":
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise ValueError(f"{text!r} is not yes or no")
        return text.lower() in ("true", "yes", "1")
    if choices and text not in choices:
        raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
    return text


def to_text(name: str, value: Any) -> str:
    """What a form field shows for a value (from_text reads it back)."""
    if isinstance(value, tuple):
        return ",".join(k.term if isinstance(k, Keyword) else f"{k:g}" if isinstance(k, float) else str(k)
                        for k in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def purpose_of(language: str | None, purpose: str | None = None) -> str:
    """The purpose asked for, else the one the language implies: a language other than English is taught as a
    language."""
    if purpose is not None:
        return purpose
    return "language" if language not in (None, "en") else "words"


def for_purpose(**values: Any) -> TrainConfig:
    """Settings from `values`, the rest from the purpose's defaults (`purpose`, or the one `language` implies)."""
    purpose = purpose_of(values.get("language"), values.get("purpose"))
    if purpose not in PURPOSES:
        raise InputError(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
    return TrainConfig(**{**PURPOSE_SETTINGS[purpose], **values, "purpose": purpose})


def defaults(**values: Any) -> TrainConfig:
    """The default settings for the purpose `values` imply (dataset and output "." unless given)."""
    return for_purpose(**{"dataset": Path("."), "output": Path("."), **values})


# ---------------------------------------------------------------------------- train_config.json


def to_json(config: TrainConfig) -> dict:
    """Plain JSON data; paths absolute, so the file means the same from any working folder."""
    data: dict[str, Any] = {}
    for name, value in asdict(config).items():
        if name == "keywords":
            value = [{"term": k.term, "misheard": list(k.misheard)} for k in config.keywords]
        elif isinstance(value, Path):
            value = str(value.absolute())
        elif isinstance(value, tuple):
            value = list(value)
        data[name] = value
    return data


def from_json(data: dict, where: str = "settings") -> TrainConfig:
    """A TrainConfig from `to_json` data (older files: keywords as plain terms; unknown keys ignored)."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: not a JSON object of settings")
    values: dict[str, Any] = {}
    try:
        for name in setting_names():
            if name not in data:
                continue
            value, kind = data[name], _kind(name)
            if kind == "keywords":
                value = tuple(Keyword(k) if isinstance(k, str) else Keyword(k["term"], tuple(k.get("misheard", ())))
                              for k in value)
            elif kind == "path":
                value = Path(value)
            elif kind in ("texts", "floats"):
                value = tuple(float(v) for v in value) if kind == "floats" else tuple(str(v) for v in value)
            elif kind == "float":
                value = float(value)
            values[name] = value
        config = TrainConfig(**values)
    except (TypeError, KeyError, ValueError) as err:
        raise InputError(f"{where}: bad settings ({err})") from None
    config.check()
    return config


def save(config: TrainConfig, path: Path) -> Path:
    return atomic_write_text(Path(path), json.dumps(to_json(config), indent=2) + "\n")


def load(path: Path) -> TrainConfig:
    """Read a train_config.json; one clear line when it is missing or broken."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"settings file not found: {path}") from None
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a JSON settings file ({err})") from None
    return from_json(data, str(path))


def run_config(run_dir: Path) -> TrainConfig | None:
    """The settings RUN_DIR runs with, with resume set (None: not recorded or unreadable)."""
    try:
        return replace(load(Path(run_dir) / RUN_CONFIG), resume=True)
    except InputError:
        return None


# ---------------------------------------------------------------------------- the command line


_METAVARS = {"int": "N", "float": "X", "floats": "X,Y,...", "texts": "NAME,...", "path": "PATH"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per setting; unset options stay out of the namespace, so `--config FILE` supplies them."""
    parser.add_argument("--config", type=Path, metavar="FILE", default=None,
                        help=f"start from the settings in FILE (a run's {RUN_CONFIG}); flags given here override it")
    for f in fields(TrainConfig):
        spec: Setting = f.metadata["setting"]
        flags = [spec.short, spec.flag] if spec.short else [spec.flag]
        kind = _kind(f.name)
        shown = {True: "on", False: "off", None: "none"}.get(f.default) if kind in ("bool", "optional-text") else None
        default = "" if f.default is MISSING else f" (default {shown or to_text(f.name, f.default) or 'none'})"
        if kind == "bool":
            parser.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=spec.help + default)
        else:
            parser.add_argument(*flags, dest=f.name, default=argparse.SUPPRESS, choices=spec.choices,
                                metavar=spec.metavar or (None if spec.choices else _METAVARS.get(kind, "VALUE")),
                                help=spec.help + default)


def from_args(args: argparse.Namespace) -> TrainConfig:
    """The settings a `train` command line asks for: `--config FILE` (or the defaults), then each flag given."""
    config = load(args.config) if getattr(args, "config", None) else None
    values: dict[str, Any] = {}
    for name in setting_names():
        if name in vars(args):
            raw = getattr(args, name)
            try:
                values[name] = raw if isinstance(raw, bool) else from_text(name, raw)
            except ValueError as err:
                raise InputError(f"{setting_of(name).flag}: {err}") from None
    if config is None:
        missing = [setting_of(n).flag for n in ("dataset", "output") if n not in values]
        if missing:
            raise InputError(f"train: {' and '.join(missing)} required (or --config FILE)")
        config = for_purpose(**values)
    else:
        config = replace(config, **values)
    config.check()
    return config


def to_argv(config: TrainConfig, path: Path) -> list[str]:
    """The `whisper-tui train` arguments that run `config`: saved to `path`, passed whole with --config."""
    save(config, path)
    return ["train", "--config", str(path)]
