"""core.fetch end to end: real yt-dlp against a real http.server on 127.0.0.1, real files, no mocks."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf

from core import audio
from core.errors import Cancelled, InputError, JobError
from core.events import Done, Event, Job, Progress
from core.fetch import FetchResult, download_error_reason, fetch, safe_filename
from tests.local_http import closed_port, serving

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "train.mp3"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a local web server holding a copy of sample_data/train.mp3 and an HTML page."""
    if not SAMPLE.is_file():
        pytest.fail(f"{SAMPLE} is missing: sample_data/make_samples.py creates it")
    root = tmp_path_factory.mktemp("www")
    shutil.copy(SAMPLE, root / "train.mp3")
    (root / "page.html").write_text("<html><body>no media here</body></html>")
    with serving(root) as url:
        yield url


def _names(directory: Path) -> list[str]:
    """Everything in the folder, hidden temp names included."""
    return sorted(p.name for p in directory.iterdir())


def test_url_becomes_16k_mono_wav(server: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    events: list[Event] = []
    out = tmp_path / "audio"
    result = fetch(f"{server}/train.mp3", out, Job(events.append))

    assert isinstance(result, FetchResult)
    assert (result.kind, result.title, result.source) == ("url", "train", f"{server}/train.mp3")
    assert result.path == out / "train.wav"
    info = sf.info(result.path)
    assert (info.format, info.samplerate, info.channels) == ("WAV", 16000, 1)
    assert audio.duration_seconds(result.path) == pytest.approx(audio.duration_seconds(SAMPLE), abs=0.1)

    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and all(e.stage == "fetch" and e.unit == "B" for e in progress)
    assert progress[-1].done == progress[-1].total == SAMPLE.stat().st_size
    assert events[-1] == Done(stage="fetch", result=result.path)

    assert _names(out) == ["train.wav"]  # no .part, temp folder or original mp3 left behind
    assert capfd.readouterr().err == ""  # yt-dlp printed nothing: everything went through the logger

    again = fetch(f"{server}/train.mp3", out)
    assert again.path == out / "train-2.wav"
    assert _names(out) == ["train-2.wav", "train.wav"]


def test_a_cancelled_download_stops_and_leaves_nothing(server: str, tmp_path: Path) -> None:
    """A cancel asked for at the first progress report lands there, through yt-dlp: no file, no temp folder."""
    events: list[Event] = []

    def on_event(event: Event) -> None:
        events.append(event)
        job.cancel()

    job = Job(on_event)
    out = tmp_path / "audio"
    with pytest.raises(Cancelled, match="fetch cancelled"):
        fetch(f"{server}/train.mp3", out, job)
    assert len([e for e in events if isinstance(e, Progress)]) == 1
    assert _names(out) == []


def test_url_with_imageio_ffmpeg_only(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine without ffmpeg yt-dlp gets imageio's binary, which has no ffprobe beside it."""
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert "imageio_ffmpeg" in audio.ffmpeg_binary()
    result = fetch(f"{server}/train.mp3", tmp_path / "out")
    info = sf.info(result.path)
    assert (info.samplerate, info.channels) == (16000, 1)


def test_refused_connection_is_one_line_job_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/train.mp3"
    with pytest.raises(JobError) as info:
        fetch(url, tmp_path)
    assert str(info.value) == f"could not download {url}: connection refused"
    assert info.value.exit_code == 1
    assert _names(tmp_path) == []


def test_http_404_and_non_media_page(server: str, tmp_path: Path) -> None:
    not_found = r"^could not download \S+/missing\.mp3: HTTP Error 404: File not found$"
    with pytest.raises(JobError, match=not_found):
        fetch(f"{server}/missing.mp3", tmp_path)
    with pytest.raises(JobError) as info:
        fetch(f"{server}/page.html", tmp_path)
    assert "\n" not in str(info.value) and "ERROR" not in str(info.value)
    assert _names(tmp_path) == []


def test_local_file_is_copied_with_a_safe_name(tmp_path: Path) -> None:
    src_dir = tmp_path / "My Downloads"
    src_dir.mkdir()
    src = src_dir / "Team call (final) 🎉.MP3"
    shutil.copy(SAMPLE, src)
    out = tmp_path / "workspace" / "audio"
    events: list[Event] = []

    first = fetch(str(src), out, Job(events.append))
    second = fetch(str(src), out)

    assert first == FetchResult(out / "Team_call_final.mp3", title=src.stem, source=str(src), kind="file")
    assert second.path == out / "Team_call_final-2.mp3"
    assert src.read_bytes() == SAMPLE.read_bytes() == first.path.read_bytes()  # original kept as is
    assert events == [Done(stage="fetch", result=first.path)]
    assert _names(out) == ["Team_call_final-2.mp3", "Team_call_final.mp3"]


def test_file_already_in_out_dir_is_not_duplicated(tmp_path: Path) -> None:
    src = tmp_path / "train.mp3"
    shutil.copy(SAMPLE, src)
    assert fetch(str(src), tmp_path).path == src
    assert _names(tmp_path) == ["train.mp3"]


def test_local_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="^audio file not found: .*nope.mp3"):
        fetch(str(tmp_path / "nope.mp3"), tmp_path / "out")
    with pytest.raises(InputError, match="is a directory"):
        fetch(str(tmp_path), tmp_path / "out")
    text = tmp_path / "notes.mp3"
    text.write_text("just text")
    with pytest.raises(InputError, match="not an audio file ffmpeg can read"):
        fetch(str(text), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before the output folder was made


@pytest.mark.parametrize(
    "source",
    [
        "ftp://example.com/a.mp3",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "; rm -rf ~",
        "$(reboot)",
        "`id` | tee x",
        "a\nb",
        "nul\0byte",
        "",
        "   ",
        "http://",
        "https://exa mple.com/a.mp3",
    ],
)
def test_unsupported_sources_say_what_is_accepted(source: str, tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        fetch(source, tmp_path / "out")
    message = str(info.value)
    assert "http(s) URL" in message and "\n" not in message
    assert info.value.exit_code == 2
    assert not (tmp_path / "out").exists()  # rejected before anything was created


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("../../etc/passwd", "etc_passwd"),
        ("/etc/passwd", "etc_passwd"),
        ("C:\\Windows\\system32", "C_Windows_system32"),
        ("a\0b", "a_b"),
        ("🎉🎉🎉", "audio"),
        ("", "audio"),
        ("..", "audio"),
        ("...", "audio"),
        ("-rf --no-preserve-root", "rf_--no-preserve-root"),
        ("Café déjà vu: GPT-4o & Mixtral 8x7B!", "Cafe_deja_vu_GPT-4o_Mixtral_8x7B"),
        ("Team call (final) 🎉", "Team_call_final"),
        ("CON", "CON_audio"),
        ("日本語のタイトル", "audio"),
    ],
)
def test_safe_filename(title: str, expected: str) -> None:
    assert safe_filename(title) == expected


def test_safe_filename_is_always_a_plain_short_name() -> None:
    for title in ["x" * 500, "a/" * 100, "\x1b[31mred\x1b[0m", "\t\n\r", " . ", "_-_-_"]:
        name = safe_filename(title)
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name), (title, name)
        assert len(name) <= 80 and ".." not in name and "/" not in name


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "\x1b[0;31mERROR:\x1b[0m [generic] x: Unable to download webpage: "
            "HTTPConnection(host='127.0.0.1', port=1): Failed to establish a new connection: "
            '[Errno 111] Connection refused (caused by TransportError("..."))',
            "connection refused",
        ),
        (
            "ERROR: [generic] nope: Unable to download webpage: HTTP Error 404: File not found "
            "(caused by <HTTPError 404: File not found>)",
            "HTTP Error 404: File not found",
        ),
        (
            "ERROR: Unsupported URL: https://example.com/\nsecond line",
            "unsupported URL: https://example.com/",
        ),
        ("", "unknown error"),
    ],
)
def test_download_error_reason(message: str, expected: str) -> None:
    assert download_error_reason(message) == expected
