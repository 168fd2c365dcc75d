"""core.audio against real files made by a real ffmpeg: decode, seek, stream, duration, errors, fallback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core import audio
from core.errors import InputError, JobError

SR = audio.SAMPLE_RATE
MP3_FRAME = round(1152 * SR / 44100)  # one mp3 frame, in 16 kHz samples: the encoder pads to whole frames


def _ffmpeg(*args: str) -> None:
    subprocess.run([audio.ffmpeg_binary(), "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every kind of input once per module: generating them is most of this file's run time."""
    d = tmp_path_factory.mktemp("media")
    files = {
        "wav48_stereo": d / "sine48k_stereo.wav",
        "mp3": d / "sine.mp3",
        "chirp_mp3": d / "chirp.mp3",
        "video_with_audio": d / "av.mp4",
        "video_only": d / "video_only.mp4",
        "no_duration": d / "streamed.mka",
        "png_as_mp3": d / "picture.mp3",
        "text_as_mp3": d / "notes.mp3",
        "text": d / "notes.txt",
        "empty": d / "empty.mp3",
        "zero_samples": d / "zero_samples.wav",
        "odd_name": d / "concat:-odd name.wav",
    }
    sine48k = "sine=frequency=440:duration=3:sample_rate=48000"
    _ffmpeg("-f", "lavfi", "-i", sine48k, "-ac", "2", str(files["wav48_stereo"]))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", str(files["mp3"]))
    # a chirp has no period, so a misaligned seek cannot match by accident the way a pure sine can
    _ffmpeg("-f", "lavfi", "-i", "aevalsrc=0.3*sin(2*PI*(200+150*t)*t):s=44100:d=6", str(files["chirp_mp3"]))
    picture = "testsrc=duration=2:size=64x64:rate=10"
    tone = "sine=frequency=440:duration=2"
    _ffmpeg("-f", "lavfi", "-i", tone, "-f", "lavfi", "-i", picture, str(files["video_with_audio"]))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=10", str(files["video_only"]))
    # Matroska written to a pipe has no duration header: exercises the decode-and-count fallback
    cmd = [audio.ffmpeg_binary(), "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=duration=3"]
    mka = subprocess.run([*cmd, "-c:a", "flac", "-f", "matroska", "pipe:1"], check=True, capture_output=True)
    files["no_duration"].write_bytes(mka.stdout)
    red = "color=red:size=8x8"
    png = files["png_as_mp3"]
    _ffmpeg("-f", "lavfi", "-i", red, "-frames:v", "1", "-c:v", "png", "-f", "image2", str(png))
    files["text_as_mp3"].write_text("not audio at all\n" * 20)
    files["text"].write_text("hello\nworld\n")
    files["empty"].write_bytes(b"")
    sf.write(files["zero_samples"], np.zeros(0, dtype=np.float32), SR)
    sf.write(files["odd_name"], 0.1 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR).astype(np.float32), SR)
    return files


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spectrum)])


def test_wav_48k_stereo_becomes_16k_mono_float32(media: dict[str, Path]) -> None:
    x = audio.load_audio(media["wav48_stereo"])
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - 3 * SR) <= 1
    assert abs(peak_hz(x) - 440) < 2
    # lavfi's sine has amplitude 1/8; identical channels downmixed must keep it (not sum to 1/4)
    assert 0.11 < np.abs(x).max() < 0.14


def test_mp3_decodes_to_right_length_and_pitch(media: dict[str, Path]) -> None:
    x = audio.load_audio(media["mp3"])
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - 3 * SR) <= MP3_FRAME
    assert abs(peak_hz(x) - 440) < 2


def test_video_with_audio_gives_its_audio(media: dict[str, Path]) -> None:
    x = audio.load_audio(media["video_with_audio"])
    assert abs(len(x) - 2 * SR) <= SR // 10  # AAC priming/padding: within 0.1 s
    assert abs(peak_hz(x) - 440) < 2


def test_windows_concatenated_equal_full_decode(media: dict[str, Path]) -> None:
    full = audio.load_audio(media["chirp_mp3"])
    windows = list(audio.iter_windows(media["chirp_mp3"], window_s=0.7))
    # One ffmpeg process feeds both, read in different chunk sizes: identical samples, so no tolerance.
    np.testing.assert_array_equal(np.concatenate([w.audio for w in windows]), full)
    assert all(len(w.audio) == round(0.7 * SR) for w in windows[:-1])
    assert 0 < len(windows[-1].audio) <= round(0.7 * SR)
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.offset_s == pytest.approx(before.end_s)


@pytest.mark.parametrize("start_s", [0.3, 1.0, 2.37, 3.33333, 4.0])
def test_seek_matches_slice_of_full_decode(media: dict[str, Path], start_s: float) -> None:
    """A seek must give the full decode's samples: no mp3 decoder-restart silence at the start, no shift."""
    full = audio.load_audio(media["chirp_mp3"])
    part = audio.load_audio(media["chirp_mp3"], start_s=start_s, duration_s=1.0)
    assert abs(len(part) - SR) <= 1
    i = round(start_s * SR)
    ref = full[i : i + len(part)]
    # Tolerance: ffmpeg cuts at the source's 44.1 kHz sample before resampling, so a start that is not a
    # whole 16 kHz sample (3.33333 s) shifts the output by under half a 16 kHz sample. For this chirp
    # (amplitude 0.3, instantaneous frequency 200 + 300 t Hz) that is at most 0.3 * 2π f_max * 0.5 / SR.
    # Whole-sample starts come out bit-identical (0.0) with ffmpeg 5.1 and 9.0.
    f_max = 200 + 300 * (start_s + 1.0)
    assert np.abs(part - ref).max() <= 0.3 * 2 * np.pi * f_max * 0.5 / SR
    assert np.abs(part[:200]).max() > 0.05  # starts with sound, not ~70 ms of decoder-restart silence


def test_windows_with_start_and_duration(media: dict[str, Path]) -> None:
    part = audio.load_audio(media["chirp_mp3"], start_s=1.0, duration_s=2.5)
    windows = list(audio.iter_windows(media["chirp_mp3"], window_s=1.0, start_s=1.0, duration_s=2.5))
    assert [len(w.audio) for w in windows] == [SR, SR, SR // 2]
    np.testing.assert_array_equal(np.concatenate([w.audio for w in windows]), part)


def test_stopping_early_leaves_no_ffmpeg_running(media: dict[str, Path]) -> None:
    gen = audio.iter_windows(media["chirp_mp3"], window_s=0.1)
    next(gen)
    gen.close()
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            children.append(stat.parent.name)
    assert children == []


def test_start_past_the_end_is_empty_not_an_error(media: dict[str, Path]) -> None:
    assert len(audio.load_audio(media["mp3"], start_s=10.0)) == 0


def test_duration(media: dict[str, Path]) -> None:
    assert audio.duration_seconds(media["wav48_stereo"]) == pytest.approx(3.0, abs=0.01)
    # the mp3 header's duration may count the encoder's padding (ffmpeg 5 says 3.03 s)
    assert audio.duration_seconds(media["mp3"]) == pytest.approx(3.0, abs=0.06)
    assert audio.probe(media["no_duration"]).duration_s is None
    assert audio.duration_seconds(media["no_duration"]) == pytest.approx(3.0, abs=1 / SR)


def test_awkward_file_name_is_not_read_as_a_protocol(media: dict[str, Path]) -> None:
    x = audio.load_audio(media["odd_name"])
    assert len(x) == SR


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("empty", "is empty"),
        ("png_as_mp3", "not an audio file ffmpeg can read (it holds png data)"),
        ("text_as_mp3", "not an audio file ffmpeg can read"),
        ("text", "not an audio file ffmpeg can read"),
        ("video_only", "no audio stream"),
        ("zero_samples", "contains no audio"),
    ],
)
def test_bad_inputs_raise_one_line_input_errors(media: dict[str, Path], key: str, needle: str) -> None:
    for call in (audio.load_audio, audio.duration_seconds, lambda p: list(audio.iter_windows(p))):
        with pytest.raises(InputError) as info:
            call(media[key])
        message = str(info.value)
        assert needle in message and str(media[key]) in message
        assert "\n" not in message
        assert info.value.exit_code == 2


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^audio file not found: .*nope\.wav$"):
        audio.load_audio(tmp_path / "nope.wav")
    with pytest.raises(InputError, match="is a directory"):
        audio.load_audio(tmp_path)
    with pytest.raises(InputError, match="directory"):
        audio.iter_windows(tmp_path)  # raised at the call, not at the first next()


def test_bad_ranges(media: dict[str, Path]) -> None:
    with pytest.raises(InputError):
        audio.load_audio(media["mp3"], start_s=-1)
    with pytest.raises(InputError):
        audio.load_audio(media["mp3"], duration_s=0)
    with pytest.raises(InputError):
        audio.iter_windows(media["mp3"], window_s=0)


def test_imageio_ffmpeg_fallback_decodes(
    media: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    system = audio.ffmpeg_binary()
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg on PATH, as on a bare machine
    exe = audio.ffmpeg_binary()
    assert exe != system and "imageio_ffmpeg" in exe
    x = audio.load_audio(media["mp3"])  # the real bundled binary does the decoding
    assert abs(len(x) - 3 * SR) <= MP3_FRAME
    assert abs(peak_hz(x) - 440) < 2
    assert audio.duration_seconds(media["mp3"]) == pytest.approx(3.0, abs=0.06)
    with pytest.raises(InputError, match="not an audio file"):
        audio.load_audio(media["png_as_mp3"])  # ffmpeg 9 words its errors differently from 5


def test_no_ffmpeg_at_all_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(JobError, match=r"^ffmpeg not found: install ffmpeg or the imageio-ffmpeg package$"):
        audio.ffmpeg_binary()


def test_slice_ms() -> None:
    x = np.arange(SR * 2, dtype=np.float32)
    np.testing.assert_array_equal(audio.slice_ms(x, 500, 750), x[8000:12000])
    assert len(audio.slice_ms(x, 1900, 5000)) == SR // 10  # clamped to the end
    assert len(audio.slice_ms(x, -100, 10)) == 160  # clamped to the start
    assert len(audio.slice_ms(x, 3000, 4000)) == 0
    with pytest.raises(InputError):
        audio.slice_ms(x, 700, 500)


def test_write_wav_roundtrip_and_atomic_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out" / "clip.wav"
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    audio.write_wav(target, np.full(10, 0.9, dtype=np.float32))
    audio.write_wav(target, tone)  # replaces the old file in one rename
    info = sf.info(target)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    back = audio.load_audio(target)
    assert np.abs(back - tone).max() < 2 / 32768  # 16-bit quantisation
    assert sorted(p.name for p in target.parent.iterdir()) == ["clip.wav"]  # no temp left


def test_encode_to_makes_16k_mono_wav(media: dict[str, Path], tmp_path: Path) -> None:
    out = audio.encode_to(media["wav48_stereo"], tmp_path / "enc.wav")
    info = sf.info(out)
    assert (info.samplerate, info.channels) == (SR, 1)
    assert [p.name for p in tmp_path.iterdir()] == ["enc.wav"]


# ---------------------------------------------------------------------------- a file cut short


SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def test_truncated_mp3_is_told_from_its_size_without_decoding(tmp_path: Path) -> None:
    """The first 3 KB of a 50 s MP3 keep the header (its Xing frame count says 50.2 s); size × bitrate says
    0.75 s. A decode then confirms it."""
    cut = tmp_path / "talk.mp3"
    cut.write_bytes((SAMPLES / "validation.mp3").read_bytes()[:3000])
    info = audio.probe(cut)
    assert info.duration_s == pytest.approx(50.2, abs=0.1) and info.bitrate_bps == 32_000
    assert audio.size_estimate_s(info) == pytest.approx(0.75)
    found = audio.size_mismatch(info)
    assert found is not None and found.estimated
    assert found.message() == "talk.mp3 holds about 0.8 s but its header says 50.2 s (the file looks truncated)"
    decoded = len(audio.load_audio(cut)) / SR
    assert decoded < 1.0 and audio.looks_truncated(info.duration_s, decoded)


def test_whole_files_are_not_called_truncated(media: dict[str, Path], tmp_path: Path) -> None:
    """Every sample recording, a WAV, an MP3 with a cover picture (bytes the bitrate does not count), a VBR MP3
    whose length ffmpeg estimates, and an Ogg (nominal bitrate) pass; so does a WAV cut short, whose header
    length ffmpeg already takes from the size."""
    covered = tmp_path / "cover.mp3"
    _ffmpeg("-i", str(SAMPLES / "control.mp3"), "-i", str(media["png_as_mp3"]), "-map", "0", "-map", "1",
            "-c:a", "copy", "-c:v", "png", "-disposition:v", "attached_pic", str(covered))
    vbr = tmp_path / "vbr.mp3"
    _ffmpeg("-i", str(SAMPLES / "control.mp3"), "-c:a", "libmp3lame", "-q:a", "2", "-write_xing", "0", str(vbr))
    ogg = tmp_path / "speech.ogg"
    _ffmpeg("-i", str(SAMPLES / "control.mp3"), str(ogg))
    cut_wav = tmp_path / "cut.wav"
    cut_wav.write_bytes(media["wav48_stereo"].read_bytes()[:100_000])
    whole = [*sorted(SAMPLES.glob("*.mp3")), media["wav48_stereo"], media["mp3"], covered, vbr, ogg, cut_wav]
    for path in whole:
        info = audio.probe(path)
        assert audio.size_mismatch(info) is None, (path, info)
    assert audio.probe(vbr).duration_estimated
    assert audio.size_estimate_s(audio.probe(ogg)) is None
    assert audio.size_estimate_s(audio.probe(covered)) == pytest.approx(47.8, abs=1.5)


def test_looks_truncated_needs_both_margins() -> None:
    assert audio.looks_truncated(28.0, 1.2)
    assert not audio.looks_truncated(10.0, 8.5)  # 15 % short but only 1.5 s: encoder padding, rounding
    assert not audio.looks_truncated(3600.0, 3500.0)  # 100 s short but under 10 % of an hour
    assert audio.looks_truncated(3600.0, 3200.0)
