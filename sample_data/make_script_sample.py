"""Build sample_data/script/: a reading script for the sample keywords and synthetic readings of it.

- `script.txt`: `whisper-tui script sample_data/keywords.txt` (seed 0), kept as written here, one sentence a line.
- `read.mp3` + `read.vtt`: the whole script read by the two train voices taking turns (espeak-ng, as
  make_samples.py does); the captions are the truth, cue times measured from the synthesised samples.
- `deviating.mp3` + `deviating.vtt`: the script's first DEVIATING_LINES lines read the way people do: line
  SKIPPED_LINE left out and line REPEATED_LINE said twice in a row; the captions hold what was actually said.

No recording here is of a person. Needs espeak-ng and ffmpeg on PATH.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from make_samples import TRAIN_VOICES, build, encode_mp3  # noqa: E402

from core.captions import Captions, write  # noqa: E402
from core.reading_script import ScriptOptions, make_script, read_script, write_script  # noqa: E402
from core.vocabulary import load_keywords  # noqa: E402

DEVIATING_LINES = 12
SKIPPED_LINE = 4  # 1-based, as the aligner reports lines
REPEATED_LINE = 8


def deviating_reading(lines: list[str]) -> list[str]:
    """The first DEVIATING_LINES lines with SKIPPED_LINE left out and REPEATED_LINE said twice."""
    read: list[str] = []
    for number, line in enumerate(lines[:DEVIATING_LINES], start=1):
        if number == SKIPPED_LINE:
            continue
        read += [line, line] if number == REPEATED_LINE else [line]
    return read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=HERE / "script", help="output folder")
    parser.add_argument("--new-script", action="store_true", help="write script.txt again from the keywords")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    script = args.out / "script.txt"
    if args.new_script or not script.is_file():
        write_script(script, make_script(load_keywords(HERE / "keywords.txt"), ScriptOptions(seed=0)))
    lines = read_script(script)
    with tempfile.TemporaryDirectory(prefix="make_script_sample.") as tmp:
        for name, sentences in (("read", lines), ("deviating", deviating_reading(lines))):
            recording = build(tuple(sentences), TRAIN_VOICES, Path(tmp))
            encode_mp3(recording.samples, recording.rate, args.out / f"{name}.mp3", Path(tmp))
            write(Captions(cues=recording.cues, language="en"), args.out / f"{name}.vtt")
            print(f"{name}: {recording.seconds:.1f} s, {len(recording.cues)} cues")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
