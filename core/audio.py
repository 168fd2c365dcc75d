"""Decode any ffmpeg-readable file to 16 kHz mono float32 (what Whisper eats); slice; duration; write WAV.

ffmpeg runs as a child process writing raw f32le samples to a pipe, so no temp files are made and long
files can be streamed window by window. Every failure a user can cause becomes one InputError line.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from core.errors import InputError, JobError
from core.files import atomic_write_bytes, ensure_writable_dir

SAMPLE_RATE = 16000
_BYTES_PER_SAMPLE = 4  # f32le
_PROBE_TIMEOUT_S = 120  # a header read that takes longer is a hung mount or pipe, not a slow file
_PREROLL_S = 2.0  # decoded and dropped before a seek target (see _decode_cmd)

# Codecs ffmpeg "decodes" from files that are not media at all (images, ANSI text art).
_NOT_MEDIA_NAMES = (
    "png mjpeg jpeg2000 jpegls gif bmp webp tiff ansi pam pbm pgm ppm svg qoi targa sgi xbm xpm pcx dpx exr"
    " hdr psd bintext xbin idf"
)
_NOT_MEDIA_CODECS = frozenset(_NOT_MEDIA_NAMES.split())
_LOG_PREFIX = re.compile(r"^\[[^\]]*@ ?0x[0-9a-f]+\]\s*")
_STREAM_RE = re.compile(r"Stream #\d+:\d+\S*: (Audio|Video|Subtitle|Data|Attachment): ([A-Za-z0-9_]+)")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_INPUT_RE = re.compile(r"^Input #0, (.+?), from ", re.MULTILINE)
_STREAM_LINE_RE = re.compile(r"^\s*Stream #\d+:\d+.*?: (?:Audio|Video): .*$", re.MULTILINE)
_KBPS_RE = re.compile(r", (\d+) kb/s")
_ESTIMATED_DURATION = "Estimating duration from bitrate"  # ffmpeg's own guess: not a length the file claims

# A decode (or size estimate) this much shorter than the header's length means the file was cut short:
# both a fixed margin (short files, encoder padding, a rounded bitrate) and a share (long files) must pass.
TRUNCATED_MIN_S = 2.0
TRUNCATED_MIN_SHARE = 0.10
# Ogg's length is read from its last page (a cut file already says so) and Vorbis lists a nominal bitrate
# that real files exceed, so a size estimate there would only raise false alarms.
_NO_SIZE_ESTIMATE = frozenset({"ogg"})


@dataclass(frozen=True)
class MediaInfo:
    """What ffmpeg's header probe says about a file; `duration_s` is None when the container has none.

    `bitrate_bps` sums the bitrates ffmpeg lists for the audio and video streams (None when it lists none);
    `duration_estimated` is True when ffmpeg guessed the length from a bitrate rather than read it.
    """

    path: Path
    container: str
    duration_s: float | None
    audio_codec: str | None
    sample_rate: int | None
    video_codec: str | None
    bitrate_bps: int | None = None
    size_bytes: int = 0
    duration_estimated: bool = False


@dataclass(frozen=True)
class LengthMismatch:
    """A file holding much less audio than its header says: the tell-tale of a download or copy cut short.

    `actual_s` is what decoded, or (`estimated`) what the file's size holds at its bitrate.
    """

    path: Path
    header_s: float
    actual_s: float
    estimated: bool = False

    def message(self) -> str:
        """One line naming both lengths, e.g. `talk.mp3 decodes to 1.2 s but its header says 28.0 s (…)`."""
        holds = f"holds about {_length(self.actual_s)}" if self.estimated else f"decodes to {_length(self.actual_s)}"
        return (f"{Path(self.path).name} {holds} but its header says {_length(self.header_s)} "
                "(the file looks truncated)")


def _length(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 600 else f"{seconds / 60:.1f} min"


def looks_truncated(header_s: float, actual_s: float) -> bool:
    """Much shorter than the header says: by over TRUNCATED_MIN_S seconds and over TRUNCATED_MIN_SHARE of it."""
    missing = header_s - actual_s
    return missing > TRUNCATED_MIN_S and missing > TRUNCATED_MIN_SHARE * header_s


@dataclass(frozen=True)
class Window:
    """One chunk of a streamed decode: `audio` starts `offset_s` seconds after the requested start."""

    offset_s: float
    audio: np.ndarray

    @property
    def end_s(self) -> float:
        return self.offset_s + len(self.audio) / SAMPLE_RATE


def ffmpeg_binary() -> str:
    """The ffmpeg to run: the system one on PATH, else imageio-ffmpeg's bundled one (users may have none)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        exe = None
    if exe and os.path.isfile(exe) and os.access(exe, os.X_OK):
        return exe
    raise JobError("ffmpeg not found: install ffmpeg or the imageio-ffmpeg package")


def _check_file(path: Path) -> Path:
    """Catch the cheap mistakes before ffmpeg turns them into cryptic messages."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"audio file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read {path}: permission denied")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty")
    return path


def _ffmpeg_input(path: Path) -> str:
    """`file:` stops ffmpeg reading a name such as `concat:x` or `http:y` as a protocol."""
    return "file:" + str(Path(path).resolve())


def _reason(stderr: str, path: Path) -> str:
    """ffmpeg's last meaningful stderr line, without the path and `[mp3 @ 0x...]` noise."""
    lines = [_LOG_PREFIX.sub("", line).strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line and not line.startswith("At least one output file")]
    if not lines:
        return "unknown ffmpeg error"
    last = lines[-1].replace(_ffmpeg_input(path), "").replace(str(path), "")
    last = last.rsplit(": ", 1)[-1].strip(" :.") or last.strip(" :.")
    if last.lower() in {"invalid argument", "invalid data found when processing input"}:
        return "unrecognised or corrupt data"  # ffmpeg 5 and 7+ word the same failure differently
    return (last[:1].lower() + last[1:]) if last else "unknown ffmpeg error"


def probe(path: Path) -> MediaInfo:
    """Read headers with `ffmpeg -i` (no ffprobe: imageio-ffmpeg ships none); raise if there is no audio."""
    path = _check_file(path)
    cmd = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-i", _ffmpeg_input(path)]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=_PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise JobError(f"ffmpeg took over {_PROBE_TIMEOUT_S} s to read the headers of {path}") from None
    except OSError as err:
        raise JobError(f"cannot run ffmpeg ({cmd[0]}): {err.strerror or err}") from None
    text = proc.stderr.decode("utf-8", "replace")
    container = _INPUT_RE.search(text)
    if container is None:
        raise InputError(f"{path}: not an audio file ffmpeg can read ({_reason(text, path)})")
    streams = _STREAM_RE.findall(text)
    audio = next((codec for kind, codec in streams if kind == "Audio"), None)
    video = next((codec for kind, codec in streams if kind == "Video"), None)
    if audio is None:
        if video is None or video in _NOT_MEDIA_CODECS or container.group(1).endswith("_pipe"):
            what = f"it holds {video} data" if video else "no audio stream"
            raise InputError(f"{path}: not an audio file ffmpeg can read ({what})")
        raise InputError(f"{path}: has a video stream ({video}) but no audio stream")
    duration = None
    match = _DURATION_RE.search(text)
    if match:
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    rate = re.search(r"Audio: [^\n]*?, (\d+) Hz", text)
    return MediaInfo(
        path=path,
        container=container.group(1),
        duration_s=duration,
        audio_codec=audio,
        sample_rate=int(rate.group(1)) if rate else None,
        video_codec=video,
        bitrate_bps=_stream_bitrate(text),
        size_bytes=path.stat().st_size,
        duration_estimated=_ESTIMATED_DURATION in text,
    )


def _stream_bitrate(text: str) -> int | None:
    """Sum of the audio/video stream bitrates ffmpeg lists. A stream without one (or a cover picture) only
    makes a size estimate longer than the truth, never shorter, so it cannot raise a false alarm."""
    rates = [int(m.group(1)) for line in _STREAM_LINE_RE.findall(text)
             if "(attached pic)" not in line and (m := _KBPS_RE.search(line))]
    total = sum(rates) * 1000
    return total or None


def size_estimate_s(info: MediaInfo) -> float | None:
    """Seconds the file's bytes hold at its listed bitrate (no decoding), or None when that cannot be told."""
    if not info.bitrate_bps or not info.size_bytes or info.container in _NO_SIZE_ESTIMATE:
        return None
    return info.size_bytes * 8 / info.bitrate_bps


def size_mismatch(info: MediaInfo) -> LengthMismatch | None:
    """A truncated file told from its header alone: the header's length against size × bitrate (fast even for
    a 3-hour file, which is why `check --audio` uses it; a decode then confirms what it suspects)."""
    estimate = size_estimate_s(info)
    if estimate is None or info.duration_s is None or info.duration_estimated:
        return None
    if not looks_truncated(info.duration_s, estimate):
        return None
    return LengthMismatch(info.path, info.duration_s, estimate, estimated=True)


def _decode_cmd(path: Path, start_s: float, duration_s: float | None) -> list[str]:
    """Seek in two steps: a fast input seek to `_PREROLL_S` before the start, then an exact output seek.

    An input seek alone lands on the right sample, but lossy decoders (mp3's bit reservoir, AAC priming)
    restart cold there and ffmpeg emits ~70 ms of silence in place of the first frames; decoding a short
    preroll and discarding it gives the same samples as a full decode.
    """
    cmd = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
    preroll = min(start_s, _PREROLL_S)
    if start_s - preroll > 0:
        cmd += ["-ss", f"{start_s - preroll:.6f}"]
    cmd += ["-i", _ffmpeg_input(path), "-vn", "-sn", "-dn"]
    if preroll > 0:
        cmd += ["-ss", f"{preroll:.6f}"]
    if duration_s is not None:
        cmd += ["-t", f"{duration_s:.6f}"]
    cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "pipe:1"]
    return cmd


def _check_range(start_s: float, duration_s: float | None) -> None:
    if start_s < 0:
        raise InputError(f"start must be >= 0 seconds, got {start_s}")
    if duration_s is not None and duration_s <= 0:
        raise InputError(f"duration must be > 0 seconds, got {duration_s}")


def iter_windows(
    path: Path, window_s: float = 30.0, start_s: float = 0.0, duration_s: float | None = None
) -> Iterator[Window]:
    """Stream the decode in `window_s` chunks from one ffmpeg process, so a 3-hour file never sits in memory.

    Concatenated, the windows equal `load_audio(path, start_s, duration_s)`; the last one may be short.
    """
    path = _check_file(path)
    _check_range(start_s, duration_s)
    if window_s <= 0:
        raise InputError(f"window must be > 0 seconds, got {window_s}")
    return _stream(path, max(1, round(window_s * SAMPLE_RATE)), start_s, duration_s)


def _stream(path: Path, window_samples: int, start_s: float, duration_s: float | None) -> Iterator[Window]:
    """The generator behind iter_windows (split out so bad arguments raise at the call, not at next())."""
    total = 0
    with tempfile.TemporaryFile() as errfile:  # a file, not a pipe: a chatty ffmpeg can never block on it
        cmd = _decode_cmd(path, start_s, duration_s)
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errfile)
        except OSError as err:
            raise JobError(f"cannot run ffmpeg ({cmd[0]}): {err.strerror or err}") from None
        try:
            assert proc.stdout is not None
            while True:
                data = proc.stdout.read(window_samples * _BYTES_PER_SAMPLE)
                usable = len(data) - len(data) % _BYTES_PER_SAMPLE
                if usable:
                    audio = np.frombuffer(data[:usable], dtype="<f4").astype(np.float32)
                    yield Window(offset_s=total / SAMPLE_RATE, audio=audio)
                    total += len(audio)
                if len(data) < window_samples * _BYTES_PER_SAMPLE:
                    break
            returncode = proc.wait()
        finally:
            if proc.poll() is None:  # the consumer stopped early: do not leave ffmpeg running
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        errfile.seek(0)
        stderr = errfile.read().decode("utf-8", "replace")
    if returncode != 0 or total == 0:
        probe(path)  # raises the precise InputError for non-audio, video-only, unreadable files
        if returncode != 0:
            raise JobError(f"ffmpeg could not decode {path}: {_reason(stderr, path)}")
        if start_s == 0:
            raise InputError(f"{path} contains no audio")


def load_audio(path: Path, start_s: float = 0.0, duration_s: float | None = None) -> np.ndarray:
    """The whole file (or `duration_s` seconds from `start_s`) as 16 kHz mono float32 in [-1, 1]."""
    chunks = [w.audio for w in iter_windows(path, window_s=600.0, start_s=start_s, duration_s=duration_s)]
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def duration_seconds(path: Path, info: MediaInfo | None = None) -> float:
    """Length in seconds from the container header (`info`: a probe already made of `path`); decode and count
    only when the header has none."""
    info = info or probe(path)
    if info.duration_s is not None and info.duration_s > 0:
        return info.duration_s
    samples = sum(len(w.audio) for w in iter_windows(path, window_s=600.0))
    return samples / SAMPLE_RATE


def slice_ms(audio: np.ndarray, start_ms: float, end_ms: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Samples between two cue times (clamped to the audio), e.g. to cut a caption's clip for training."""
    if end_ms < start_ms:
        raise InputError(f"slice end {end_ms} ms is before its start {start_ms} ms")
    start = min(len(audio), max(0, round(start_ms * sample_rate / 1000)))
    end = min(len(audio), max(start, round(end_ms * sample_rate / 1000)))
    return audio[start:end]


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write 16-bit PCM WAV atomically (a crash leaves the old file or none, never half a WAV)."""
    data = np.asarray(audio, dtype=np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(data, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return atomic_write_bytes(Path(path), buffer.getvalue())


def encode_to(path_in: Path, path_out: Path, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    """Convert any readable file to 16-bit PCM WAV via ffmpeg into a temp name, renamed when complete."""
    path_in = _check_file(path_in)
    probe(path_in)
    path_out = Path(path_out)
    ensure_writable_dir(path_out.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path_out.name}.", suffix=".tmp.wav", dir=path_out.parent)
    os.close(fd)
    try:
        cmd = [
            ffmpeg_binary(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-y",
            "-i", _ffmpeg_input(path_in), "-vn", "-sn", "-dn",
            "-ac", str(channels), "-ar", str(sample_rate), "-acodec", "pcm_s16le", "-f", "wav",
            "file:" + tmp,
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
        except OSError as err:
            raise JobError(f"cannot run ffmpeg ({cmd[0]}): {err.strerror or err}") from None
        if proc.returncode != 0:
            reason = _reason(proc.stderr.decode("utf-8", "replace"), path_in)
            raise JobError(f"ffmpeg could not convert {path_in}: {reason}")
        os.replace(tmp, path_out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path_out
