"""The project folder a user works in, its manifest, and the headless logic the editor screens run on.

A workspace (ARCHITECTURE.md, "fix") is a folder with `project.toml` (name, model spec, language, task, paths),
`keywords.txt`, `audio/`, `captions/<stem>.vtt`, `dataset/`, `runs/<name>/`. The manifest is small
TOML written atomically by `write_toml` (tomli_w writes it, tomllib reads it);
keys this module does not know are kept, so later features can add their own settings.

The second half is headless logic the screens run on, so that the TUI stays a thin view: adding sources,
drafts and autosaves. Audio players are `core/player.py`, the dataset Screen 3 plans and builds is
`core/dataset_plan.py`, and the captions editor's model itself (`Review`: per-cue flags, search, split positions, new
cues) is `core/review.py`.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import tomli_w

from core import captions as caps
from core import editing
from core.captions import Captions, Recording
from core.errors import InputError
from core.events import QUIET, EventHandler, Job, Log, Progress, ignore
from core.files import atomic_directory, atomic_write_text, ensure_writable_dir
from core.vocabulary import Keyword, parse_keywords

MANIFEST = "project.toml"
KEYWORDS = "keywords.txt"
DEFAULT_MODEL = "tiny.en"
TASKS = ("transcribe", "translate")
DEFAULT_PATHS = {"audio": "audio", "captions": "captions", "dataset": "dataset", "runs": "runs",
                 "evaluations": "evaluations", "clips": "clips", "keywords": KEYWORDS}
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
KEYWORDS_HEADER = "# One keyword per line; optional known mis-hearings after '=': Trelis = Trellis\n"

Status = Literal["fetched", "transcribed", "edited"]
STATUSES: tuple[Status, ...] = ("fetched", "transcribed", "edited")
Role = Literal["train", "validation", "skip"]
ROLES: tuple[Role, ...] = ("train", "validation", "skip")


# ---------------------------------------------------------------------------- TOML (the small subset we write)


def _check_toml_value(value: Any, where: str) -> None:
    """Only what the manifest needs: scalars (finite floats) and lists of them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: TOML cannot hold {value!r} here")
    if isinstance(value, list | tuple):
        for item in value:
            _check_toml_value(item, where)
    elif not isinstance(value, bool | int | float | str):
        raise InputError(f"{where}: cannot write a {type(value).__name__} to TOML")


def write_toml(data: Mapping[str, Any], header: str = "") -> str:
    """TOML text (tomli_w) for scalars, lists of scalars and one level of tables, None values left out, the
    header as comment lines."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            table = out[key] = {}
            for name, item in value.items():
                if isinstance(item, Mapping):
                    raise InputError(f"{key}.{name}: nested tables are not supported in {MANIFEST}")
                if item is not None:
                    _check_toml_value(item, f"{key}.{name}")
                    table[name] = item
        elif value is not None:
            _check_toml_value(value, key)
            out[key] = value
    return "".join(f"# {line}\n" for line in header.splitlines()) + tomli_w.dumps(out)


# ---------------------------------------------------------------------------- the workspace


@dataclass(frozen=True)
class Source:
    """One recording in the workspace: its audio, its captions (when transcribed), and how far it got."""

    stem: str
    audio: Path | None
    captions: Path | None
    status: Status
    autosave: bool = False  # unsaved editor changes are waiting in the autosave sidecar

    @property
    def recording(self) -> Recording | None:
        """Its audio and captions as one `Recording` (what prepare and evaluate take); None until it has both."""
        return Recording(self.audio, self.captions) if self.audio and self.captions else None


@dataclass
class Workspace:
    """A project folder. `paths` are relative to `root` (absolute ones are allowed); `extra` holds manifest
    keys this module does not know, written back unchanged."""

    root: Path
    name: str
    model: str = DEFAULT_MODEL
    language: str | None = None
    task: str = "transcribe"
    purpose: str | None = None  # words / accent / language (core.train_config.PURPOSES); None: from the language
    paths: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PATHS))
    statuses: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.root / self.paths.get(name, DEFAULT_PATHS[name])

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def audio_dir(self) -> Path:
        return self.path("audio")

    @property
    def captions_dir(self) -> Path:
        return self.path("captions")

    @property
    def dataset_dir(self) -> Path:
        return self.path("dataset")

    @property
    def runs_dir(self) -> Path:
        return self.path("runs")

    @property
    def base_evaluation_dir(self) -> Path:
        """The report of the workspace's own model, before or without any run: beside runs/, never in one (a run's
        folder is the run's). Evaluating the base model again replaces it."""
        return self.path("evaluations") / "base"

    @property
    def clips_dir(self) -> Path:
        """Where cue clips go when no audio player exists."""
        return self.path("clips")

    @property
    def keywords_path(self) -> Path:
        return self.path("keywords")

    def captions_for(self, audio: Path) -> Path:
        """`captions/<stem>.vtt` for an audio file (or a stem)."""
        return self.captions_dir / f"{Path(audio).stem}.vtt"

    def audio_for(self, captions_path: Path) -> Path | None:
        """The audio file whose stem matches a captions file, if there is one."""
        stem = Path(captions_path).stem
        return next((p for p in _visible_files(self.audio_dir) if p.stem == stem), None)

    def keywords(self) -> list[Keyword]:
        """The keyword list (empty when keywords.txt is missing)."""
        path = self.keywords_path
        if not path.is_file():
            return []
        try:
            return parse_keywords(path.read_text(encoding="utf-8"), str(path))
        except UnicodeDecodeError as err:
            raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None

    def save_keywords(self, text: str) -> list[Keyword]:
        """Check and write keywords.txt atomically; InputError (and nothing written) when a line is bad."""
        keywords = parse_keywords(text, str(self.keywords_path))
        atomic_write_text(self.keywords_path, text if text.endswith("\n") or not text else text + "\n")
        return keywords

    def sources(self) -> list[Source]:
        """Every recording: audio files and caption files matched by stem, sorted by stem."""
        audio = {p.stem: p for p in sorted(_visible_files(self.audio_dir))}
        captions = {p.stem: p for p in _visible_files(self.captions_dir) if p.suffix.lower() == ".vtt"}
        out = []
        for stem in sorted(set(audio) | set(captions), key=str.casefold):
            path = captions.get(stem)
            autosave = path is not None and editing.autosave_path(path).is_file()
            if path is None:
                status: Status = "fetched"
            elif autosave or self.statuses.get(stem) == "edited":
                status = "edited"
            else:
                status = "transcribed"
            out.append(Source(stem, audio.get(stem), path, status, autosave))
        return out

    def set_status(self, stem: str, status: Status) -> None:
        """Record how far a source got (only `edited` needs recording: the rest shows in the files)."""
        if status not in STATUSES:
            raise InputError(f"unknown source status {status!r}")
        wanted = status if status == "edited" else None
        if self.statuses.get(stem) == wanted:
            return
        if wanted is None:
            self.statuses.pop(stem, None)
        else:
            self.statuses[stem] = wanted
        self.save()

    def roles(self) -> dict[str, Role]:
        """Each source's role in the dataset: `train` (the default; ~15 % of its cues are held out for
        validation when no source is `validation`), `validation` (all of it held out, and what the
        Evaluate screen scores by default), or `skip`."""
        stored = self.extra.get("roles", {})
        stored = stored if isinstance(stored, dict) else {}
        return {s.stem: stored.get(s.stem, "train") if stored.get(s.stem) in ROLES else "train"
                for s in self.sources()}

    def set_role(self, stem: str, role: Role) -> None:
        if role not in ROLES:
            raise InputError(f"unknown source role {role!r} (one of {', '.join(ROLES)})")
        roles = dict(self.extra.get("roles", {}) if isinstance(self.extra.get("roles"), dict) else {})
        if role == "train":
            roles.pop(stem, None)
        else:
            roles[stem] = role
        self.extra["roles"] = roles
        self.save()

    def as_toml(self) -> str:
        data: dict[str, Any] = {"name": self.name, "model": self.model, "language": self.language, "task": self.task,
                                "purpose": self.purpose}
        data.update({k: v for k, v in self.extra.items() if k not in data and k not in ("paths", "sources")})
        data["paths"] = dict(self.paths)
        data["sources"] = dict(sorted(self.statuses.items()))
        return write_toml(data, "whisper-tui project (keys this version does not know are kept)")

    def save(self) -> Path:
        """Write project.toml atomically."""
        return atomic_write_text(self.manifest, self.as_toml())


def _visible_files(folder: Path) -> list[Path]:
    """Plain files in `folder` whose names do not start with '.' (temp files, sidecars, history)."""
    try:
        return [p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file()]
    except OSError:
        return []


def is_workspace(path: Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def _string(data: Mapping[str, Any], key: str, where: Path, default: str | None) -> str | None:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{where}: '{key}' must be a string, not {type(value).__name__}")
    return value


def _check(task: str, model: str, where: Path | str, purpose: str | None = None) -> None:
    from core.train_config import PURPOSES

    if purpose is not None and purpose not in PURPOSES:
        raise InputError(f"{where}: purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
    if task not in TASKS:
        raise InputError(f"{where}: task must be one of {', '.join(TASKS)}, not {task!r}")
    if not model.strip():
        raise InputError(f"{where}: the model spec is empty (e.g. {DEFAULT_MODEL})")


def open_workspace(path: Path) -> Workspace:
    """Read a workspace's manifest; one InputError line when it is missing or malformed."""
    root = Path(path).expanduser().resolve()
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise InputError(f"{root} is not a whisper-tui workspace (no {MANIFEST})")
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{manifest}: {err}") from None
    except OSError as err:
        raise InputError(f"cannot read {manifest}: {err.strerror or err}") from None
    paths = data.get("paths", {})
    statuses = data.get("sources", {})
    if not isinstance(paths, dict) or not all(isinstance(v, str) for v in paths.values()):
        raise InputError(f"{manifest}: [paths] must hold strings")
    if not isinstance(statuses, dict) or not all(isinstance(v, str) for v in statuses.values()):
        raise InputError(f"{manifest}: [sources] must hold strings")
    language = _string(data, "language", manifest, None) or None
    workspace = Workspace(
        root=root, name=_string(data, "name", manifest, root.name) or root.name,
        model=_string(data, "model", manifest, DEFAULT_MODEL) or DEFAULT_MODEL, language=language,
        task=_string(data, "task", manifest, "transcribe") or "transcribe",
        purpose=_string(data, "purpose", manifest, None) or None,
        paths={**DEFAULT_PATHS, **paths}, statuses=dict(statuses),
        extra={k: v for k, v in data.items() if k not in ("name", "model", "language", "task", "purpose", "paths",
                                                          "sources")})
    _check(workspace.task, workspace.model, manifest, workspace.purpose)
    return workspace


def create_workspace(path: Path, name: str | None = None, model: str = DEFAULT_MODEL, language: str | None = None,
                     task: str = "transcribe", purpose: str | None = None) -> Workspace:
    """Make `path` (new or an existing folder) a workspace: manifest, keywords.txt, audio/, captions/."""
    root = Path(path).expanduser().resolve()
    if is_workspace(root):
        raise InputError(f"{root} is already a workspace: open it instead")
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} is a file, not a folder")
    _check(task, model, root, purpose)
    ensure_writable_dir(root)
    workspace = Workspace(root=root, name=(name or "").strip() or root.name, model=model.strip(),
                          language=language or None, task=task, purpose=purpose)
    for folder in ("audio", "captions"):
        ensure_writable_dir(workspace.path(folder))
    if not workspace.keywords_path.exists():
        atomic_write_text(workspace.keywords_path, KEYWORDS_HEADER)
    workspace.save()
    return workspace


def find_workspace(path: Path | None, cwd: Path | None = None) -> Workspace | None:
    """What `whisper-tui [DIR]` opens: DIR when it is a workspace, else the current folder when it is one."""
    for candidate in (path, cwd if cwd is not None else Path.cwd()):
        if candidate is not None and is_workspace(candidate):
            return open_workspace(candidate)
    return None


def data_home() -> Path:
    """The user data folder (`WHISPER_TUI_HOME` overrides the platform's, e.g. for tests)."""
    override = os.environ.get("WHISPER_TUI_HOME")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("whisper-tui"))


def sample_workspace(home: Path | None = None) -> Workspace:
    """The bundled sample project, created once in the data folder (then just opened).

    It holds sample_data's train.mp3 with its corrected captions (a clean state to explore) and plain.mp3
    without captions (something to transcribe). It is built in a temp folder and renamed into place,
    so a crash never leaves half a sample.
    """
    target = Path(home or data_home()) / "sample"
    if is_workspace(target):
        return open_workspace(target)
    needed = [SAMPLE_DATA / n for n in ("train.mp3", "train.vtt", "plain.mp3", KEYWORDS)]
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise InputError(f"the sample data is not installed ({', '.join(missing)} missing from {SAMPLE_DATA})")
    try:
        with atomic_directory(target, replace=False) as tmp:
            workspace = create_workspace(tmp, name="sample")
            for name in ("train.mp3", "plain.mp3"):
                shutil.copyfile(SAMPLE_DATA / name, workspace.audio_dir / name)
            shutil.copyfile(SAMPLE_DATA / "train.vtt", workspace.captions_dir / "train.vtt")
            shutil.copyfile(SAMPLE_DATA / KEYWORDS, workspace.keywords_path)
            workspace.statuses["train"] = "edited"  # the reference captions are already corrected
            workspace.save()
    except InputError:
        if not is_workspace(target):  # another process won the race: theirs is as good as ours
            raise
    return open_workspace(target)


# ---------------------------------------------------------------------------- adding and transcribing sources


def _unique_stem(workspace: Workspace, stem: str) -> str:
    """A stem no audio or captions file uses yet (`talk`, `talk-2`, ...): a stem names one recording."""
    taken = {p.stem.casefold() for folder in (workspace.audio_dir, workspace.captions_dir)
             for p in _visible_files(folder)}
    candidate, n = stem, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def add_source(workspace: Workspace, source: str, job: Job = QUIET) -> Path:
    """Fetch a URL or copy a local file into audio/ under a stem no other recording uses; returns its path."""
    from core.fetch import fetch

    audio_dir = ensure_writable_dir(workspace.audio_dir)
    local = Path(source.strip()).expanduser()
    with contextlib.suppress(OSError):
        if local.is_file() and local.resolve().parent == audio_dir.resolve():
            return local.resolve()  # already one of ours
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=audio_dir))
    try:
        fetched = fetch(source, staging, job).path
        stem = _unique_stem(workspace, fetched.stem)
        for n in range(1000):  # link, not rename: an existing name is never overwritten
            target = audio_dir / f"{stem if n == 0 else f'{stem}-x{n}'}{fetched.suffix}"
            try:
                os.link(fetched, target)
                break
            except FileExistsError:
                continue
            except OSError:
                if target.exists():
                    continue
                shutil.move(fetched, target)
                break
        else:
            raise InputError(f"no free name for {fetched.name} in {audio_dir}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    job.emit(Log(f"added {target.name}"))
    return target


class EngineCache:
    """Keeps one loaded transcription engine around (loading takes seconds), safe to use from one worker
    thread at a time; asking for another model or options replaces it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._engine: Any = None

    def get(self, spec: str, language: str | None = None, task: str = "transcribe",
            on_event: EventHandler = ignore) -> Any:
        from core.models import resolve
        from core.transcribe import TranscribeOptions, load_engine

        key = (spec, language, task)
        with self._lock:
            if self._key != key:
                self._engine, self._key = None, None
                on_event(Progress("load model", 0, None, "", f"loading {spec}"))
                resolved = resolve(spec, on_event)
                self._engine = load_engine(resolved, TranscribeOptions(language=language, task=task))
                self._key = key
            return self._engine


def transcribe_source(workspace: Workspace, audio: Path, engine: Any, job: Job = QUIET) -> Path:
    """Draft captions for one recording into captions/<stem>.vtt (the old file goes to the backup ring).

    Refuses when the captions have unsaved editor changes (an autosave), which a draft would throw away.
    """
    from core.transcribe import transcribe

    refuse_over_autosave(workspace.captions_for(audio))
    captions = transcribe(Path(audio), engine, job)
    job.check("transcription cancelled")
    return store_draft(workspace, audio, captions)


def refuse_over_autosave(target: Path) -> None:
    """New captions would throw away the editor's unsaved changes (an autosave): refuse, before any work."""
    if editing.autosave_path(target).is_file():
        raise InputError(f"{target.name} has unsaved edits (an autosave): open it in the editor and save or "
                         "discard them first")


def store_draft(workspace: Workspace, audio: Path, captions: Captions) -> Path:
    """New captions for a recording (a draft, an aligned script) into captions/<stem>.vtt: the old file into the
    backup ring, the words beside it (so the editor can flag unsure ones), the source marked transcribed."""
    target = workspace.captions_for(audio)
    caps.write(captions, draft_words_path(target), "json")
    editing.save(captions, target)
    workspace.set_status(Path(audio).stem, "transcribed")
    return target


def set_aside_autosave(captions_path: Path) -> Path | None:
    """Move an autosave the user neither restored nor discarded into `.history/` (so the next autosave
    cannot overwrite it); returns where it went."""
    sidecar = editing.autosave_path(captions_path)
    if not sidecar.is_file():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S")
    folder = ensure_writable_dir(editing.history_dir(captions_path))
    target = folder / f"{Path(captions_path).name}.autosave-{stamp}.json"
    os.replace(sidecar, target)
    return target


def draft_words_path(captions_path: Path) -> Path:
    """The draft's word timings and probabilities (a VTT cannot hold them): `captions/.name.vtt.draft.json`."""
    captions_path = Path(captions_path)
    return captions_path.with_name(f".{captions_path.name}.draft.json")


def with_draft_words(captions: Captions, draft: Captions) -> Captions:
    """Give each cue still exactly as drafted (same start, end and text) the draft's words back."""
    words = {(c.start, c.end, c.text): c.words for c in draft.cues if c.words}
    cues = [replace(c, words=words.get((c.start, c.end, c.text), ())) if not c.words else c for c in captions.cues]
    return replace(captions, cues=cues)


def read_for_editing(path: Path, cross_check: bool = True) -> Captions:
    """Read captions for the editor, with the draft's word timings where the cues are still as drafted (so
    unsure words can be flagged); a missing or broken draft sidecar is simply ignored."""
    captions = caps.read(path, cross_check=cross_check)
    sidecar = draft_words_path(path)
    if sidecar.is_file():
        with contextlib.suppress(InputError):
            captions = with_draft_words(captions, caps.read(sidecar, "json"))
    return captions


def draft(workspace: Workspace, audio: Path, engines: EngineCache, model: str | None = None,
          job: Job = QUIET) -> Path:
    """Transcribe a recording of the workspace with `model` (default: the workspace's) into captions/."""
    engine = engines.get(model or workspace.model, workspace.language, workspace.task, job.emit)
    return transcribe_source(workspace, audio, engine, job)


def import_and_draft(workspace: Workspace, source: str, engines: EngineCache, model: str | None = None,
                     job: Job = QUIET) -> Path:
    """Fetch a URL or copy a file in, then draft its captions: what screen 1 does with one Enter."""
    audio = add_source(workspace, source, job)
    job.check(f"cancelled after fetching {audio.name}")
    return draft(workspace, audio, engines, model, job)
