"""The project folder a user works in, its manifest, and the headless logic the editor screens run on.

A workspace (ARCHITECTURE.md, "fix") is a folder with `project.toml` (name, model spec, language, task, paths),
`keywords.txt`, `audio/`, `captions/<stem>.vtt`, `dataset/`, `runs/<name>/`. The manifest is small
TOML written atomically by `write_toml` (tomllib reads it; nothing here needs a TOML writer package);
keys this module does not know are kept, so later features can add their own settings.

The second half is the captions editor's model, kept here so that the TUI stays a thin view:
`Review` (per-cue flags: validator findings, keyword suggestions, low-confidence words, computed
lazily and incrementally after each edit), search, split positions, new cues, audio players.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import operator
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core import captions as caps
from core.captions import Captions, Cue, EditOp, Finding, Splice
from core.errors import Cancelled, InputError
from core.events import Event, EventHandler, Log, Progress, ignore
from core.files import atomic_directory, atomic_write_text, ensure_writable_dir
from core.vocabulary import Keyword, Suggestion, find_keywords, parse_keywords, suggest

if TYPE_CHECKING:  # core.dataset is imported where it is used: start-up does not need soundfile & co.
    from core.dataset import PrepareOptions, PrepareResult, Recording, SourcePlan
    from core.segments import Segment

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


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, everything else as is."""
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{where}: TOML cannot hold {value!r} here")
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    raise InputError(f"{where}: cannot write a {type(value).__name__} to TOML")


def write_toml(data: Mapping[str, Any], header: str = "") -> str:
    """TOML text for scalars, lists of scalars and one level of tables (all the manifest needs)."""
    lines = [f"# {line}" for line in header.splitlines()]
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    for key, value in data.items():
        if key not in tables and value is not None:
            lines.append(f"{_toml_key(key)} = {_toml_value(value, key)}")
    for name, table in tables.items():
        lines += ["", f"[{_toml_key(name)}]"]
        for key, value in table.items():
            if isinstance(value, Mapping):
                raise InputError(f"{name}.{key}: nested tables are not supported in {MANIFEST}")
            if value is not None:
                lines.append(f"{_toml_key(key)} = {_toml_value(value, f'{name}.{key}')}")
    return "\n".join(lines).lstrip("\n") + "\n"


# ---------------------------------------------------------------------------- the workspace


@dataclass(frozen=True)
class Source:
    """One recording in the workspace: its audio, its captions (when transcribed), and how far it got."""

    stem: str
    audio: Path | None
    captions: Path | None
    status: Status
    autosave: bool = False  # unsaved editor changes are waiting in the autosave sidecar


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
            autosave = path is not None and caps.autosave_path(path).is_file()
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


def add_source(workspace: Workspace, source: str, on_event: EventHandler = ignore) -> Path:
    """Fetch a URL or copy a local file into audio/ under a stem no other recording uses; returns its path."""
    from core.fetch import fetch

    audio_dir = ensure_writable_dir(workspace.audio_dir)
    local = Path(source.strip()).expanduser()
    with contextlib.suppress(OSError):
        if local.is_file() and local.resolve().parent == audio_dir.resolve():
            return local.resolve()  # already one of ours
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=audio_dir))
    try:
        fetched = fetch(source, staging, on_event).path
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
    on_event(Log(f"added {target.name}"))
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


def transcribe_source(workspace: Workspace, audio: Path, engine: Any, on_event: EventHandler = ignore,
                      cancel: threading.Event | None = None) -> Path:
    """Draft captions for one recording into captions/<stem>.vtt (the old file goes to the backup ring).

    Refuses when the captions have unsaved editor changes (an autosave), which a draft would throw away.
    """
    from core.transcribe import transcribe

    refuse_over_autosave(workspace.captions_for(audio))
    captions = transcribe(Path(audio), engine, on_event, cancel)
    if cancel is not None and cancel.is_set():
        raise Cancelled("transcription cancelled")
    return store_draft(workspace, audio, captions)


def refuse_over_autosave(target: Path) -> None:
    """New captions would throw away the editor's unsaved changes (an autosave): refuse, before any work."""
    if caps.autosave_path(target).is_file():
        raise InputError(f"{target.name} has unsaved edits (an autosave): open it in the editor and save or "
                         "discard them first")


def store_draft(workspace: Workspace, audio: Path, captions: Captions) -> Path:
    """New captions for a recording (a draft, an aligned script) into captions/<stem>.vtt: the old file into the
    backup ring, the words beside it (so the editor can flag unsure ones), the source marked transcribed."""
    target = workspace.captions_for(audio)
    caps.write(captions, draft_words_path(target), "json")
    caps.save(captions, target)
    workspace.set_status(Path(audio).stem, "transcribed")
    return target


def set_aside_autosave(captions_path: Path) -> Path | None:
    """Move an autosave the user neither restored nor discarded into `.history/` (so the next autosave
    cannot overwrite it); returns where it went."""
    sidecar = caps.autosave_path(captions_path)
    if not sidecar.is_file():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = ensure_writable_dir(caps.history_dir(captions_path)) / f"{Path(captions_path).name}.autosave-{stamp}.json"
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
          on_event: EventHandler = ignore, cancel: threading.Event | None = None) -> Path:
    """Transcribe a recording of the workspace with `model` (default: the workspace's) into captions/."""
    engine = engines.get(model or workspace.model, workspace.language, workspace.task, on_event)
    return transcribe_source(workspace, audio, engine, on_event, cancel)


def import_and_draft(workspace: Workspace, source: str, engines: EngineCache, model: str | None = None,
                     on_event: EventHandler = ignore, cancel: threading.Event | None = None) -> Path:
    """Fetch a URL or copy a file in, then draft its captions: what screen 1 does with one Enter."""
    audio = add_source(workspace, source, on_event)
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"cancelled after fetching {audio.name}")
    return draft(workspace, audio, engines, model, on_event, cancel)


# ---------------------------------------------------------------------------- the editor's model
#
# The table shows, per cue, flags from three sources: the validator's findings (errors and warnings),
# keyword suggestions (probable mis-hearings of a keyword) and words the engine was unsure of. Findings
# are cheap and depend on a cue and the one before it, so after an edit only the changed cues and the cue
# after them are re-checked. Suggestions cost milliseconds per cue, so they are computed per distinct text,
# cached, and filled in by a background worker (`pending_texts` / `compute_suggestions` / `add_suggestions`);
# `flags(i)` says None for suggestions not computed yet.

LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class CueFlags:
    """What is worth a look in one cue. `suggestions` is None while not computed yet."""

    findings: tuple[Finding, ...] = ()
    suggestions: tuple[Suggestion, ...] | None = ()
    low_confidence: tuple[tuple[int, int], ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def flagged(self) -> bool:
        return bool(self.findings or self.suggestions or self.low_confidence)

    @property
    def marks(self) -> str:
        """The table's flags cell: E error, W warning, K keyword suggestion, ? unsure words, … pending."""
        return "".join(mark for mark, on in (("E", self.errors), ("W", self.warnings), ("K", self.suggestions),
                                             ("?", self.low_confidence), ("…", self.suggestions is None)) if on)


def low_confidence_spans(cue: Cue, threshold: float = LOW_CONFIDENCE) -> tuple[tuple[int, int], ...]:
    """Character spans of the cue's words whose probability is below `threshold` (words found in order)."""
    spans, cursor = [], 0
    for word in cue.words:
        needle = word.text.strip()
        found = cue.text.find(needle, cursor) if needle else -1
        if found < 0:
            continue
        cursor = found + len(needle)
        if word.probability is not None and word.probability < threshold:
            spans.append((found, cursor))
    return tuple(spans)


def _same_run(old: Sequence[Cue], new: Sequence[Cue], limit: int) -> int:
    """How many leading cues are the same: runs of identical objects are skipped in C, equality is the fallback."""
    count = 0
    while count < limit:
        count += len(list(itertools.takewhile(bool, map(operator.is_, itertools.islice(old, count, limit),
                                                           itertools.islice(new, count, limit)))))
        if count < limit and old[count] == new[count]:
            count += 1
        else:
            break
    return count


def changed_span(old: Sequence[Cue], new: Sequence[Cue]) -> tuple[int, int, int] | None:
    """(start, old_end, new_end): `old[start:old_end]` became `new[start:new_end]`; None when nothing did.

    Runs on every key press: edits keep untouched cues as the same objects, so this costs microseconds."""
    limit = min(len(old), len(new))
    start = _same_run(old, new, limit)
    if start == len(old) == len(new):
        return None
    tail = _same_run(old[::-1], new[::-1], limit - start)
    return start, len(old) - tail, len(new) - tail


def _index_free(finding: Finding) -> Finding:
    """Findings move with their cue, so the index they were computed at is dropped."""
    return replace(finding, index=None, line=None)


class Review:
    """Per-cue flags for a list of cues that is being edited (see the section comment).

    Findings come in two kinds: `notices` from reading the file (an arrow typo in this cue's timing line),
    which stay with their cue until it is edited, and `checks` (timing, length, reading speed), which are
    re-run for the changed cues and their neighbour after every edit.
    """

    def __init__(self, captions: Captions | Sequence[Cue], keywords: Sequence[Keyword] = (),
                 audio_ms: int | None = None) -> None:
        if not isinstance(captions, Captions):
            captions = Captions(cues=list(captions))
        self.audio_ms = audio_ms
        self.keywords: tuple[Keyword, ...] = tuple(keywords)
        self.generation = 0  # bumped when the keywords change: stale background results are dropped
        self._suggestions: dict[str, tuple[Suggestion, ...]] = {}
        self._spans: dict[str, tuple[tuple[int, int], ...]] = {}
        self.cues: tuple[Cue, ...] = tuple(captions.cues)
        problem_codes = {p.code for p in captions.problems}
        notices: list[list[Finding]] = [[] for _ in self.cues]
        file_level = []
        for finding in caps.validate(replace(captions, cues=list(self.cues)), audio_ms):
            if finding.index is None:
                file_level.append(finding)
            elif finding.code in problem_codes:
                notices[finding.index].append(_index_free(finding))
        self.file_findings: tuple[Finding, ...] = tuple(file_level)
        self._notices = [tuple(n) for n in notices]
        self._checks: list[tuple[Finding, ...]] = self._check(self.cues, 0)

    def _check(self, cues: Sequence[Cue], skip: int) -> list[tuple[Finding, ...]]:
        """Cue checks for `cues`, dropping the first `skip` (given only as the previous cue's context)."""
        out: list[list[Finding]] = [[] for _ in cues]
        for finding in caps.validate(cues, self.audio_ms):
            if finding.index is not None:
                out[finding.index].append(_index_free(finding))
        return [tuple(f) for f in out[skip:]]

    def __len__(self) -> int:
        return len(self.cues)

    # -- edits

    def update(self, cues: Sequence[Cue]) -> tuple[int, int, int] | None:
        """Take the cues after an edit; re-check only what changed. Returns `changed_span` (None: nothing)."""
        cues = tuple(cues)
        span = changed_span(self.cues, cues)
        if span is None:
            return None
        start, old_end, new_end = span
        stop = min(new_end + 1, len(cues))  # the cue after the change: its overlap check moved
        window = max(start - 1, 0)
        self._checks[start:old_end + (stop - new_end)] = self._check(cues[window:stop], start - window)
        self._notices[start:old_end] = [()] * (new_end - start)
        self.cues = cues
        return span

    def set_keywords(self, keywords: Sequence[Keyword]) -> None:
        self.keywords = tuple(keywords)
        self.generation += 1
        self._suggestions.clear()
        self._spans.clear()

    def set_audio_ms(self, audio_ms: int | None) -> None:
        """Knowing the audio's length adds the 'past-audio' check: re-check every cue (milliseconds)."""
        self.audio_ms = audio_ms
        self._checks = self._check(self.cues, 0)

    # -- flags

    def flags(self, index: int, compute: bool = False) -> CueFlags:
        """The flags of cue `index`; suggestions are None until computed (now, when `compute`)."""
        cue = self.cues[index]
        suggestions = self._suggestions.get(cue.text)
        if suggestions is None and compute:
            suggestions = self._suggest(cue.text)
        if suggestions is not None:
            suggestions = tuple(replace(s, index=index) for s in suggestions)
        return CueFlags(self._notices[index] + self._checks[index], suggestions, low_confidence_spans(cue))

    def _suggest(self, text: str) -> tuple[Suggestion, ...]:
        found = compute_suggestions([text], self.keywords)[text]
        self._suggestions[text] = found
        return found

    def suggestion_at(self, index: int, position: int | None = None) -> Suggestion | None:
        """The suggestion containing character `position` of cue `index`, else the cue's first one."""
        suggestions = self.flags(index, compute=True).suggestions or ()
        if position is not None:
            for s in suggestions:
                if s.start <= position <= s.end:
                    return s
        return suggestions[0] if suggestions else None

    def keyword_spans(self, text: str) -> tuple[tuple[int, int], ...]:
        """Where keywords are in `text` (cached per text, for highlighting)."""
        spans = self._spans.get(text)
        if spans is None:
            if len(self._spans) > 8192:
                self._spans.clear()
            spans = tuple((m.start, m.end) for m in find_keywords(text, self.keywords))
            self._spans[text] = spans
        return spans

    def next_flagged(self, start: int, step: int = 1, wrap: bool = True) -> int | None:
        """The next cue after `start` (before it, when step is -1) with any flag; computes suggestions on
        the way where the background worker has not yet."""
        count = len(self.cues)
        for offset in range(1, count + (1 if wrap else 0)):
            index = start + step * offset
            if not wrap and not 0 <= index < count:
                return None
            index %= count
            if self.flags(index, compute=True).flagged:
                return index
        return None

    # -- background filling of suggestions

    def pending_texts(self, order: Iterable[int] = ()) -> list[str]:
        """Texts with no suggestions computed yet: the cues in `order` first, then all others in order."""
        seen: set[str] = set()
        out = []
        for index in [*order, *range(len(self.cues))]:
            if 0 <= index < len(self.cues):
                text = self.cues[index].text
                if text not in seen and text not in self._suggestions:
                    seen.add(text)
                    out.append(text)
        return out

    def add_suggestions(self, results: Mapping[str, tuple[Suggestion, ...]], generation: int) -> bool:
        """Take a worker's results; False (and ignored) when the keywords changed since it started."""
        if generation != self.generation:
            return False
        self._suggestions.update(results)
        return True

    def indices_of(self, texts: Iterable[str]) -> list[int]:
        wanted = set(texts)
        return [i for i, cue in enumerate(self.cues) if cue.text in wanted]


def compute_suggestions(texts: Sequence[str], keywords: Sequence[Keyword]) -> dict[str, tuple[Suggestion, ...]]:
    """Suggestions per text (with index 0), for the cache of a Review; pure, so a worker thread may run it."""
    out: dict[str, list[Suggestion]] = {text: [] for text in texts}
    for s in suggest(list(texts), keywords):
        out[texts[s.index]].append(replace(s, index=0))
    return {text: tuple(found) for text, found in out.items()}


@dataclass(frozen=True)
class ReplaceAll(EditOp):
    """Replace every cue (restoring an autosave): one undoable step, so undo goes back to the saved file."""

    cues: tuple[Cue, ...]
    label: str = "restore autosave"

    def plan(self, cues: Sequence[Cue]) -> Splice:
        return Splice(0, tuple(cues), tuple(self.cues))

    def describe(self) -> str:
        return self.label


def split_position(text: str, cursor: int | None) -> int:
    """Where to split a cue: at the editor's cursor when it is inside the text, else at the space nearest
    the middle (so a split key works even before the user placed the cursor)."""
    if cursor is not None and 0 < cursor < len(text) and text[:cursor].strip() and text[cursor:].strip():
        return cursor
    spaces = [m.start() for m in re.finditer(r" ", text)]
    if not spaces:
        return len(text) // 2
    return min(spaces, key=lambda i: (abs(i - len(text) / 2), i))


NEW_CUE_MS = 1000


def new_cue_after(cues: Sequence[Cue], index: int | None) -> caps.Insert:
    """An Insert op for an empty cue after cue `index` (at the start when None): in the gap before the
    next cue when there is one, else one second long."""
    position = 0 if index is None else index + 1
    start = cues[index].end if index is not None and cues else 0
    end = start + NEW_CUE_MS
    if position < len(cues) and cues[position].start > start:
        end = min(end, cues[position].start)
    return caps.Insert(position, Cue(start, max(end, start + 1), ""))


def find_next(cues: Sequence[Cue], query: str, start: int, step: int = 1) -> int | None:
    """The next cue after `start` (wrapping) whose text contains `query`, ignoring case; None if none."""
    needle = query.casefold().strip()
    if not needle or not cues:
        return None
    for offset in range(1, len(cues) + 1):
        index = (start + step * offset) % len(cues)
        if needle in cues[index].text.casefold():
            return index
    return None


def match_spans(text: str, query: str) -> tuple[tuple[int, int], ...]:
    """Where `query` occurs in `text`, ignoring case (for highlighting search hits)."""
    needle = query.strip()
    if not needle:
        return ()
    return tuple((m.start(), m.end()) for m in re.finditer(re.escape(needle), text, re.IGNORECASE))


# ---------------------------------------------------------------------------- playing a cue

PLAYERS = ("ffplay", "paplay", "aplay")


def find_player(which: Callable[[str], str | None] = shutil.which) -> str | None:
    """The first audio player on PATH; `WHISPER_TUI_PLAYER` picks one (or `none` for none)."""
    wanted = os.environ.get("WHISPER_TUI_PLAYER", "").strip()
    if wanted:
        return None if wanted.lower() == "none" else which(wanted)
    return next((path for name in PLAYERS if (path := which(name))), None)


def player_command(player: str, audio: Path, start_ms: int = 0, end_ms: int | None = None) -> list[str]:
    """The command line that plays `audio` (ffplay seeks itself; the others get a clip file)."""
    name = Path(player).name
    if name == "ffplay":
        cmd = [player, "-nodisp", "-autoexit", "-loglevel", "quiet", "-ss", f"{start_ms / 1000:.3f}"]
        if end_ms is not None:
            cmd += ["-t", f"{max(end_ms - start_ms, 1) / 1000:.3f}"]
        return [*cmd, str(audio)]
    return [player, str(audio)]


def needs_clip(player: str) -> bool:
    """Players that cannot seek need the cue cut to its own WAV first."""
    return Path(player).name != "ffplay"


def clip_path(workspace: Workspace, captions_path: Path, index: int) -> Path:
    return workspace.clips_dir / f"{Path(captions_path).stem}-cue{index + 1:04d}.wav"


def write_clip(audio: Path, cue: Cue, out: Path) -> Path:
    """Cut one cue's audio to a 16 kHz mono WAV (atomically)."""
    from core.audio import load_audio, write_wav

    duration = max(cue.duration, 1) / 1000
    return write_wav(out, load_audio(Path(audio), start_s=cue.start / 1000, duration_s=duration))


def start_player(cmd: Sequence[str]) -> subprocess.Popen:
    """Start a player without waiting for it and without letting it touch the terminal."""
    try:
        return subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as err:
        raise InputError(f"cannot run {cmd[0]}: {err.strerror or err}") from None


# ---------------------------------------------------------------------------- the dataset from the workspace
#
# Screen 3 shows the rows `prepare` would write for this workspace, and builds them. Each source takes part by
# its role (`Workspace.roles`): train sources give training rows, and ~15 % of their cues are held out for
# validation when no source has the validation role; the validation source gives the validation rows.
# Planning reads only the captions, so the screen re-plans on the UI thread after every change (measured on
# a busy 2-core box: 0.5 s for 3.5 hours of cues, 0.9 s with views; the sample takes 10 ms). Building
# decodes the audio through `core.dataset.prepare` with the same recordings and options, so the rows written
# are the rows shown. Nothing is dropped silently: sources that give no rows and cues that cannot be used are
# entries of the plan too, with why.

SEGMENT_CLIP = "whisper-tui-segment.wav"
_PROBLEM_FLAGS = {"too_long": "too long", "no_text": "no text", "bad_times": "bad time", "past_end": "past end",
                  "overlaps_unusable": "overlap!"}
EntryKind = Literal["row", "cue", "source"]
EntrySeverity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class PlanEntry:
    """One line of a dataset plan: a training `row` (split "train" or "validation"), a `cue` left out (its
    Problem's message as text), or a `source` that gives no rows or needs a word (why, as text).

    `cues` are 0-based positions in the source's captions file; `keyword_spans` index into `text`.
    """

    kind: EntryKind
    stem: str
    text: str
    split: str = ""
    start_ms: int = 0
    end_ms: int = 0
    cues: tuple[int, ...] = ()
    flags: tuple[str, ...] = ()
    keyword_spans: tuple[tuple[int, int], ...] = ()
    severity: EntrySeverity = "info"

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class DatasetPlan:
    """The workspace's dataset before it is built: every entry, what `prepare` gets, and why it cannot run."""

    entries: tuple[PlanEntry, ...]
    train: tuple[Recording, ...]
    validation: Recording | None
    views: bool
    errors: tuple[str, ...] = ()  # empty: `build_dataset` may run

    def rows(self, split: str | None = None) -> list[PlanEntry]:
        return [e for e in self.entries if e.kind == "row" and (split is None or e.split == split)]

    def totals(self, split: str) -> tuple[int, int]:
        """(rows, milliseconds of audio) of one split."""
        rows = self.rows(split)
        return len(rows), sum(e.duration_ms for e in rows)

    @property
    def left_out(self) -> list[PlanEntry]:
        """Cues that are in no row (and why)."""
        return [e for e in self.entries if e.kind == "cue"]

    def options(self) -> PrepareOptions:
        from core.dataset import PrepareOptions

        return PrepareOptions(views=self.views)


def _source_entry(stem: str, text: str, flag: str, severity: EntrySeverity = "info") -> PlanEntry:
    return PlanEntry("source", stem, text, flags=(flag,), severity=severity)


def _row_keyword_spans(segment: Segment,
                       spans_of: Callable[[str], list[tuple[int, int]]]) -> tuple[tuple[int, int], ...]:
    """Keyword spans in `segment.text`, found cue by cue (each cue's text is searched once however many rows
    hold it, which is what keeps planning with views fast; a keyword split across two cues is not lit)."""
    out: list[tuple[int, int]] = []
    offset = 0
    for cue in segment.cues:
        text = cue.text.strip()
        if text:
            out += [(offset + start, offset + end) for start, end in spans_of(text)]
            offset += len(text) + 1
    return tuple(out)


def _plan_entries(stem: str, source_plan: SourcePlan, keywords: Sequence[Keyword]) -> list[PlanEntry]:
    """A SourcePlan's rows (flagged: keywords found, overlapping cues kept together) and its left-out cues."""
    overlapping = {p.index for p in source_plan.problems if p.kind == "overlap"}
    cache: dict[str, list[tuple[int, int]]] = {}

    def spans_of(text: str) -> list[tuple[int, int]]:
        if text not in cache:
            cache[text] = [(m.start, m.end) for m in find_keywords(text, keywords)]
        return cache[text]

    entries = []
    for row in source_plan.rows:
        segment = row.segment
        spans = _row_keyword_spans(segment, spans_of)
        flags = ((f"K{len(spans)}",) if spans else ()) + (("overlap",) if overlapping & set(segment.indices) else ())
        entries.append(PlanEntry("row", stem, segment.text, row.split, segment.start_ms, segment.end_ms,
                                 tuple(sorted(segment.indices)), flags, spans))
    entries += [PlanEntry("cue", stem, p.message, "", p.start_ms, p.start_ms + p.duration_ms, (p.index,),
                          (_PROBLEM_FLAGS.get(p.kind, p.kind),), severity="warning")
                for p in source_plan.problems if p.kind != "overlap"]
    entries.sort(key=lambda e: (e.start_ms, e.end_ms, e.kind != "row"))
    return entries


def plan_dataset(workspace: Workspace, views: bool | None = None) -> DatasetPlan:
    """Plan the workspace's dataset from its captions and roles, without reading any audio.

    A source whose captions cannot be used (unreadable, too few cues to hold some out, no audio file) is an
    error entry, so the others still show; building refuses until it is fixed or skipped.
    """
    from core.dataset import PrepareOptions, Recording, plan_training, plan_validation

    options = PrepareOptions() if views is None else PrepareOptions(views=views)
    views = options.views
    entries: list[PlanEntry] = []
    errors: list[str] = []
    try:
        keywords = workspace.keywords()
    except InputError as err:
        keywords = []
        entries.append(PlanEntry("source", "", f"keywords not highlighted: {err}", flags=("keywords",),
                                 severity="warning"))
    roles = workspace.roles()
    sources = workspace.sources()
    hold = not any(roles[s.stem] == "validation" and s.captions is not None for s in sources)
    train: list[Recording] = []
    validation: Recording | None = None
    for source in sources:
        role = roles[source.stem]
        if role == "skip":
            entries.append(_source_entry(source.stem, "skipped: its role is skip", "skip"))
            continue
        if source.captions is None:
            entries.append(_source_entry(source.stem, "no captions yet: transcribe it first", "no cues"))
            continue
        if source.audio is None:
            message = f"{source.captions.name} has no audio file in {workspace.audio_dir.name}/"
            entries.append(_source_entry(source.stem, message, "no audio", "error"))
            errors.append(message)
            continue
        if role == "validation" and validation is not None:
            message = (f"{source.stem}: only one validation source is supported ({validation.audio.stem} is one); "
                       "give the others the train or skip role")
            entries.append(_source_entry(source.stem, message, "2nd val", "error"))
            errors.append(message)
            continue
        recording = Recording(source.audio, source.captions)
        try:
            source_plan = plan_training(recording, options, hold) if role == "train" else plan_validation(
                recording, options)
        except InputError as err:
            entries.append(_source_entry(source.stem, str(err), "error", "error"))
            errors.append(str(err))
            continue
        if source.autosave:
            entries.append(_source_entry(source.stem, "has unsaved edits in the editor: the saved file is used",
                                         "unsaved", "warning"))
        if role == "train":
            train.append(recording)
        else:
            validation = recording
        entries += _plan_entries(source.stem, source_plan, keywords)
    plan = DatasetPlan(tuple(entries), tuple(train), validation, views)
    if not train and not errors:
        errors.append("no training source: set a captioned source's role to train")
    elif train and not plan.rows("validation") and not errors:
        errors.append("no validation rows")  # hold-out always gives some; kept as a guard
    return replace(plan, errors=tuple(errors))


def build_dataset(workspace: Workspace, plan: DatasetPlan, on_event: EventHandler = ignore,
                  cancel: threading.Event | None = None) -> PrepareResult:
    """Write the planned dataset to the workspace's dataset/ (atomically: a cancel or a failure leaves the
    previous one as it was); returns core.dataset's PrepareResult."""
    from core.dataset import prepare

    if plan.errors:
        more = f" (+{len(plan.errors) - 1} more)" if len(plan.errors) > 1 else ""
        raise InputError(f"cannot build the dataset: {plan.errors[0]}{more}")

    def forward(event: Event) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("dataset build cancelled; the previous dataset is unchanged")
        on_event(event)

    return prepare(list(plan.train), workspace.dataset_dir, plan.validation, plan.options(), forward)


@dataclass(frozen=True)
class BuiltDataset:
    """What dataset/ holds now (from its marker file), and whether the plan has moved on since."""

    rows: dict[str, int]
    seconds: dict[str, float]
    built_at: float  # the marker's mtime
    stale: bool


def built_dataset(workspace: Workspace, plan: DatasetPlan | None = None) -> BuiltDataset | None:
    """The dataset in dataset/, or None when there is none (or it is not ours). Stale when it was built from
    other sources, options or split sizes than `plan`, or a source's captions changed after it was built."""
    import json
    from dataclasses import asdict

    from core.dataset import MARKER

    marker = workspace.dataset_dir / MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        built_at = marker.stat().st_mtime
        splits = {str(k): v for k, v in data["splits"].items()}
        rows = {k: int(v["rows"]) for k, v in splits.items()}
        seconds = {k: float(v["seconds"]) for k, v in splits.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    stale = False
    if plan is not None:
        recordings = [*plan.train, *([plan.validation] if plan.validation is not None else [])]
        wanted = [{"audio": str(r.audio), "captions": str(r.captions)} for r in recordings]
        try:
            changed = any(r.captions.stat().st_mtime > built_at for r in recordings)
        except OSError:
            changed = True
        counts = {split: plan.totals(split)[0] for split in rows}
        stale = (data.get("sources") != wanted or data.get("options") != asdict(plan.options()) or changed
                 or counts != rows)
    return BuiltDataset(rows, seconds, built_at, stale)


def play_span(audio: Path, start_ms: int, end_ms: int) -> subprocess.Popen:
    """Play [start_ms, end_ms) of `audio` without waiting (a clip is cut first for players that cannot seek);
    InputError when there is no player."""
    player = find_player()
    if player is None:
        raise InputError("no audio player here (ffplay, paplay, aplay; WHISPER_TUI_PLAYER names one)")
    if needs_clip(player):
        clip = write_clip(audio, Cue(start_ms, end_ms, ""), Path(tempfile.gettempdir()) / SEGMENT_CLIP)
        return start_player(player_command(player, clip))
    return start_player(player_command(player, audio, start_ms, end_ms))
