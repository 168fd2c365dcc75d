"""Bring a source into the workspace: an http(s) URL via yt-dlp (→ 16 kHz mono WAV) or a local file, copied.

Either way the caller gets a file inside `out_dir` under a safe, de-duplicated name, and nothing partial is
ever left under a real name: work happens under hidden temp names that are linked into place at the end.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import soundfile as sf

from core.audio import SAMPLE_RATE, encode_to, ffmpeg_binary, probe
from core.errors import InputError, JobError
from core.events import QUIET, Done, EventHandler, Job, Log, Progress
from core.files import _fsync_dir, ensure_writable_dir

ACCEPTED = "expected an http(s) URL or a path to a local audio/video file"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{dev}{i}" for dev in ("COM", "LPT") for i in range(10))}


@dataclass(frozen=True)
class FetchResult:
    """Where the audio landed, the title it was named after, what the user asked for, and how it came."""

    path: Path
    title: str
    source: str
    kind: Literal["url", "file"]


def safe_filename(title: str, max_len: int = 80, fallback: str = "audio") -> str:
    """A file-name stem from an untrusted title: ASCII letters, digits, '-', '_' only; never empty or a path.

    Titles come from web pages, so '..', '/', NUL and control characters must never reach the file system.
    """
    text = unicodedata.normalize("NFKD", str(title)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9_-]+", "_", text)
    text = re.sub(r"_{2,}", "_", text).strip("_-")
    text = text[:max_len].strip("_-")
    if text.upper() in _WINDOWS_RESERVED:
        text = f"{text}_audio"
    return text or fallback


def _shown(text: str) -> str:
    """Echo user input on one line: anything unprintable (newlines, NUL) is shown escaped."""
    return text if text.isprintable() else repr(text)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _claim(src: Path, out_dir: Path, stem: str, suffix: str) -> Path:
    """Move a finished temp file to `stem + suffix` in out_dir, or `stem-2`, `stem-3`... if taken.

    A hard link fails if the name exists, so two fetches racing for one name cannot overwrite each other.
    """
    for n in itertools.count(1):
        dest = out_dir / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            os.link(src, dest)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: check-then-rename, a tiny race accepted
            if dest.exists():
                continue
            os.replace(src, dest)
            return dest
        os.unlink(src)
        _fsync_dir(out_dir)
        return dest
    raise AssertionError("unreachable")


def _safe_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""


def is_url(source: str) -> bool:
    """True for the sources `fetch` downloads (http/https), False for everything else."""
    return urlsplit(source.strip()).scheme.lower() in ("http", "https") if source.isprintable() else False


def _classify(source: str) -> str | Path:
    """An http(s) URL string, or an existing local file; anything else is an InputError saying what works."""
    text = source.strip()
    if not text:
        raise InputError(f"no source given: {ACCEPTED}")
    parts = urlsplit(text) if text.isprintable() else None
    if parts is not None and parts.scheme.lower() in ("http", "https"):
        if not parts.hostname or any(c.isspace() for c in text):
            raise InputError(f"not a valid URL: {_shown(text)} ({ACCEPTED})")
        return text
    if "\0" in source:
        raise InputError(f"unsupported source {_shown(source)}: {ACCEPTED}")
    path = Path(source).expanduser()
    try:
        is_file, is_dir = path.is_file(), path.is_dir()
    except OSError as err:  # e.g. a name too long for the file system
        raise InputError(f"unsupported source {_shown(source)}: {err.strerror or err}") from None
    if is_file:
        return path
    if is_dir:
        raise InputError(f"{_shown(source)} is a directory, not an audio file")
    if _SCHEME.match(text) or not text.isprintable():
        raise InputError(f"unsupported source {_shown(text)}: {ACCEPTED}")
    raise InputError(f"audio file not found: {_shown(source)} ({ACCEPTED})")


def fetch(source: str, out_dir: Path, job: Job = QUIET) -> FetchResult:
    """Download a URL (as 16 kHz mono WAV) or copy a local file into `out_dir`; emits Progress then Done. A cancel
    lands at the download's next progress report and leaves nothing behind."""
    target = _classify(source)
    if isinstance(target, Path):
        result = _copy_local(target, source, Path(out_dir))
    else:
        result = _download(target, ensure_writable_dir(Path(out_dir)), job)
    job.emit(Done(stage="fetch", result=result.path))
    return result


def _copy_local(src: Path, source: str, out_dir: Path) -> FetchResult:
    """Copy (never move) a local file in, after checking ffmpeg can read audio from it."""
    probe(src)
    out_dir = ensure_writable_dir(out_dir)
    title = src.stem
    if src.resolve().parent == out_dir.resolve():  # already in the workspace: a second copy helps nobody
        return FetchResult(path=src, title=title, source=source, kind="file")
    fd, tmp_name = tempfile.mkstemp(prefix=".fetch-", suffix=".partial", dir=out_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dst, open(src, "rb") as fin:
            shutil.copyfileobj(fin, dst, length=1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        with contextlib.suppress(OSError):
            shutil.copystat(src, tmp)
        dest = _claim(tmp, out_dir, safe_filename(title), _safe_suffix(src))
    except OSError as err:
        raise JobError(f"could not copy {src} into {out_dir}: {err.strerror or err}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return FetchResult(path=dest, title=title, source=source, kind="file")


class _QuietLogger:
    """yt-dlp writes to stderr unless given a logger; ours forwards warnings as events and drops chatter."""

    def __init__(self, on_event: EventHandler) -> None:
        self.on_event = on_event

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        self.on_event(Log(message=_ANSI.sub("", msg).strip(), level="warning"))

    def error(self, msg: str) -> None:
        pass  # it comes back as the DownloadError we turn into a JobError


def download_error_reason(message: str) -> str:
    """One short line from a yt-dlp error: no 'ERROR:', colour codes, extractor tags or '(caused by ...)'."""
    text = _ANSI.sub("", message).strip().splitlines()[0] if message.strip() else ""
    errno = re.search(r"\[Errno -?\d+\] ([^()\"'\]]+)", text)
    if errno:
        reason = errno.group(1).strip()
    else:
        reason = re.sub(r"^(ERROR:\s*)+", "", text)
        reason = re.sub(r"\s*\(caused by .*$", "", reason)
        reason = re.sub(r"^\[[^\]]+\]\s*(\S+:\s)?", "", reason)  # "[generic] id: "
        reason = re.sub(r"^Postprocessing:\s*(WARNING:\s*)?", "", reason)
        reason = re.sub(r"^Unable to download webpage:\s*", "", reason)
        if "unable to obtain file audio codec" in reason:
            reason = "the URL did not serve audio or video ffmpeg can read"
    reason = reason.strip(" .") or "unknown error"
    return reason[:1].lower() + reason[1:] if not reason.startswith("HTTP") else reason


def _download(url: str, out_dir: Path, job: Job) -> FetchResult:
    """yt-dlp into a hidden temp folder inside out_dir; the finished WAV is then renamed into place."""
    import yt_dlp  # slow to import; only URL fetches pay for it

    def progress_hook(d: dict[str, Any]) -> None:
        if d.get("status") in ("downloading", "finished"):
            total = d.get("total_bytes") or d.get("total_bytes_estimate")
            done = d.get("downloaded_bytes") or 0
            total = float(total) if total else None
            job.emit(Progress(stage="fetch", done=float(done), total=total, unit="B"))
        job.check("fetch cancelled")  # raised through yt-dlp; the temp folder goes with it

    announced: set[str] = set()

    def postprocessor_hook(d: dict[str, Any]) -> None:
        # yt-dlp registers the hook on each postprocessor more than once: say it one time
        if d.get("status") == "started" and d.get("postprocessor") == "ExtractAudio" and not announced:
            announced.add("ExtractAudio")
            job.emit(Log(message="converting to 16 kHz mono WAV"))

    ffmpeg = ffmpeg_binary()  # before the temp folder exists, so a missing ffmpeg leaves nothing behind
    tmp_dir = Path(tempfile.mkdtemp(prefix=".fetch-", suffix=".partial", dir=out_dir))
    options: dict[str, Any] = {
        "format": "bestaudio/best",
        "postprocessors": [{"key": "FFmpegExtractAudio", "preferredcodec": "wav"}],
        "postprocessor_args": {"extractaudio": ["-ar", str(SAMPLE_RATE), "-ac", "1"]},
        "ffmpeg_location": ffmpeg,
        "outtmpl": {"default": os.path.join(str(tmp_dir).replace("%", "%%"), "download.%(ext)s")},
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "logger": _QuietLogger(job.emit),
        "color": {"stdout": "no_color", "stderr": "no_color"},
        "noplaylist": True,
        "restrictfilenames": True,
        "cachedir": False,
        "socket_timeout": 30,
        "progress_hooks": [progress_hook],
        "postprocessor_hooks": [postprocessor_hook],
    }
    try:
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                info = ydl.extract_info(url, download=True)
        except yt_dlp.utils.YoutubeDLError as err:
            raise JobError(f"could not download {url}: {download_error_reason(str(err))}") from None
        if not info or not info.get("requested_downloads"):
            raise JobError(f"could not download {url}: nothing downloadable found")
        downloaded = Path(info["requested_downloads"][0]["filepath"])
        title = str(info.get("title") or "")
        downloaded = _ensure_whisper_wav(downloaded, tmp_dir)
        job.check("fetch cancelled")  # asked for while converting: still nothing under a real name
        _fsync(downloaded)
        dest = _claim(downloaded, out_dir, safe_filename(title), ".wav")
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return FetchResult(path=dest, title=title, source=url, kind="url")


def _ensure_whisper_wav(path: Path, tmp_dir: Path) -> Path:
    """Belt and braces: if yt-dlp skipped its conversion, convert with our ffmpeg (callers need 16k mono)."""
    try:
        info = sf.info(str(path))
        if info.samplerate == SAMPLE_RATE and info.channels == 1 and path.suffix == ".wav":
            return path
    except (RuntimeError, OSError):  # not a file libsndfile knows
        pass
    return encode_to(path, tmp_dir / "converted.wav")
