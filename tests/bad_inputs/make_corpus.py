"""Writes the committed files of the bad-input corpus (run from the repository root; deterministic).

    python tests/bad_inputs/make_corpus.py

Large inputs (the 3-hour recording, megabyte lines) are not committed: tests/test_bad_inputs.py makes
them at test time. manifest.toml says what each input is fed to and what must happen.
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent.parent / "sample_data"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489") + bytes(64)

CAPTIONS = {
    "no_header.vtt": "00:00.100 --> 00:00.900\nhello there\n",
    "bad_timestamp.vtt": "WEBVTT\n\n00:00.100 --> 00:00.500\nfine\n\n00:00.600 --> 00:0x.900\nbroken\n",
    "arrow_short.vtt": "WEBVTT\n\n00:00.100 -> 00:00.900\nshort arrow\n",
    "arrow_headless.vtt": "WEBVTT\n\n00:00.100 --- 00:00.900\nno arrow head\n",
    "overlap.vtt": "WEBVTT\n\n00:01.000 --> 00:03.000\none two\n\n00:02.000 --> 00:04.000\nthree four\n",
    "reversed.vtt": "WEBVTT\n\n00:05.000 --> 00:02.000\nbackwards\n",
    "empty_cue.vtt": "WEBVTT\n\n00:01.000 --> 00:02.000\n\n00:03.000 --> 00:04.000\nsome text\n",
    "cue_31s.vtt": "WEBVTT\n\n00:01.000 --> 00:32.000\na cue that lasts thirty one seconds, far too long\n",
    "past_end.vtt": "WEBVTT\n\n00:00.100 --> 00:00.900\ninside\n\n00:50.000 --> 00:52.000\nafter the end\n",
    "negative.vtt": "WEBVTT\n\n-00:01.000 --> 00:02.000\nbefore time began\n",
    "bom.vtt": "\ufeffWEBVTT\n\n00:00.100 --> 00:00.900\nhello\n",
    "crlf.vtt": "WEBVTT\r\n\r\n00:00.100 --> 00:00.900\r\nhello\r\n\r\n00:01.000 --> 00:01.900\r\nagain\r\n",
    "srt_named.vtt": "1\n00:00:00,100 --> 00:00:00,900\nhello\n\n2\n00:00:01,000 --> 00:00:01,900\nagain\n",
    "vtt_named.srt": "WEBVTT\n\n00:00.100 --> 00:00.900\nhello\n",
    "empty.vtt": "",
    "prose.vtt": "Dear diary, today nothing happened at all.\n",
    "not_ours.json": json.dumps({"results": [{"transcript": "hello", "start": "0s"}]}),
    "notes.txt": "00:00.100 --> 00:00.900 hello\n",
    "ten_seconds.vtt": "WEBVTT\n\n" + "\n".join(f"00:0{2 * i}.000 --> 00:0{2 * i + 1}.500\ncue number {i}\n"
                                                for i in range(5)),
}


def wav_header(data_bytes: int, rate: int = 8000) -> bytes:
    """A 16-bit mono PCM WAV header that promises `data_bytes` of samples."""
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", data_bytes))


def main() -> None:
    rng = random.Random(7)
    audio = HERE / "audio"
    audio.mkdir(exist_ok=True)
    (audio / "empty.mp3").write_bytes(b"")
    (audio / "png_renamed.mp3").write_bytes(PNG)
    (audio / "noise.mp3").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    (audio / "id3_only.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10))
    (audio / "header_only.wav").write_bytes(wav_header(0))
    garbage = bytes(rng.randrange(256) for _ in range(2000))
    (audio / "riff_garbage.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + garbage)
    (audio / "silence.wav").write_bytes(wav_header(16000) + bytes(16000))  # 1 s
    (audio / "claims_3h.wav").write_bytes(wav_header(3 * 3600 * 16000) + bytes(16000))  # header: 3 h; holds 1 s
    (audio / "truncated.mp3").write_bytes((SAMPLES / "control.mp3").read_bytes()[:20000])  # ~5 s of 48 s
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=16x16:d=0.2",
                    "-c:v", "mpeg4", "-an", str(audio / "video_only.mp4")], check=True)

    captions = HERE / "captions"
    captions.mkdir(exist_ok=True)
    for name, text in CAPTIONS.items():
        (captions / name).write_bytes(text.encode("utf-8"))
    (captions / "latin1.vtt").write_bytes("WEBVTT\n\n00:00.100 --> 00:00.900\ncafé\n".encode("latin-1"))
    (captions / "utf16.vtt").write_bytes("WEBVTT\n\n00:00.100 --> 00:00.900\nhello\n".encode("utf-16"))

    keywords = HERE / "keywords"
    keywords.mkdir(exist_ok=True)
    (keywords / "blanks_duplicates.txt").write_bytes(
        "\ufeffLoRA\n\n   \nlora\nGGUF = gee guff\n# a comment\nGGUF = gguf file\nLoRA\n\n".encode())
    (keywords / "latin1.txt").write_bytes("LoRA\ncafé\n".encode("latin-1"))
    (keywords / "orphan_equals.txt").write_text("LoRA\n= misheard without a keyword\n")

    models = HERE / "models"
    config = json.dumps({"model_type": "whisper", "vocab_size": 51864, "d_model": 384}, indent=2)
    for name, files in {
        "half_written": {"config.json": config[:40]},
        "no_weights": {"config.json": config, "tokenizer.json": "{}"},
        "not_whisper": {"config.json": json.dumps({"model_type": "bert"})},
        "truncated_safetensors": {"config.json": config, "tokenizer.json": "{}"},
        "ct2_truncated": {"config.json": "{}", "tokenizer.json": "{}"},
    }.items():
        (models / name).mkdir(parents=True, exist_ok=True)
        for file, text in files.items():
            (models / name / file).write_text(text)
    header = json.dumps({"model.encoder.conv1.weight": {"dtype": "F32", "shape": [1000],
                                                        "data_offsets": [0, 4000]}}).encode()
    (models / "truncated_safetensors" / "model.safetensors").write_bytes(
        struct.pack("<Q", len(header)) + header + bytes(400))  # promises 4000 bytes of weights, holds 400
    spec = b"WhisperSpec\0"
    name = b"encoder/conv1/weight\0"
    (models / "ct2_truncated" / "model.bin").write_bytes(
        struct.pack("<IH", 6, len(spec)) + spec + struct.pack("<II", 1, 1) + struct.pack("<H", len(name)) + name
        + struct.pack("<BIBI", 1, 1000, 0, 4000) + bytes(400))  # one float32 variable of 1000, 100 present

    run = HERE / "runs" / "half_written" / "merged"
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(config[:40])

    csvs = HERE / "datasets" / "csv_folder"
    csvs.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation"):
        (csvs / f"{split}.csv").write_text("path,sentence\nclip1.wav,hello there\nclip2.wav,general kenobi\n")


if __name__ == "__main__":
    main()
