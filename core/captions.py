"""Cues and captions: read and write VTT / SRT / TXT / JSON exactly, in integer milliseconds.

Times are integers (ms) everywhere so that a read → write → read round trip is exact; seconds as
floats appear only at the edges (JSON, engines).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import webvtt

from core.errors import InputError
from core.files import atomic_write_text

FORMATS = ("vtt", "srt", "txt", "json")


@dataclass(frozen=True)
class Word:
    """One word with its timing and the engine's probability (None when the engine gives none)."""

    start: int
    end: int
    text: str
    probability: float | None = None


@dataclass(frozen=True)
class Cue:
    """A caption cue: [start, end) in integer milliseconds, its text, an id, optional word timings."""

    start: int
    end: int
    text: str
    id: str = ""
    words: tuple[Word, ...] = ()

    @property
    def duration(self) -> int:
        return self.end - self.start

    def chars_per_second(self) -> float:
        seconds = self.duration / 1000
        return len(self.text) / seconds if seconds > 0 else float("inf")

    def with_text(self, text: str) -> Cue:
        """Same timing, new text; word timings no longer describe the text so they are dropped."""
        return replace(self, text=text, words=() if text != self.text else self.words)


@dataclass(frozen=True)
class ParseProblem:
    """A cue block that could not be read, with the 1-based line where the block starts."""

    line: int
    message: str
    block: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Captions:
    """An ordered list of cues plus what reading them found wrong."""

    cues: list[Cue] = field(default_factory=list)
    language: str | None = None
    problems: list[ParseProblem] = field(default_factory=list)
    source: Path | None = None

    def __len__(self) -> int:
        return len(self.cues)

    @property
    def text(self) -> str:
        return " ".join(c.text.strip() for c in self.cues if c.text.strip())


# ---------------------------------------------------------------------------- timestamps

_TS = re.compile(r"^(?:(\d+):)?([0-5]?\d):([0-5]\d)[.,](\d{3})$")


def format_timestamp(ms: int, always_include_hours: bool = False, decimal_marker: str = ".") -> str:
    """openai-whisper's format: [HH:]MM:SS.mmm, hours shown when asked or when non-zero."""
    if ms < 0:
        raise ValueError("negative timestamp")
    hours, rest = divmod(int(ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    head = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{head}{minutes:02d}:{seconds:02d}{decimal_marker}{millis:03d}"


def parse_timestamp(text: str) -> int:
    """`[H:]MM:SS.mmm` (or `,mmm`) → milliseconds; ValueError when it is not one."""
    match = _TS.match(text.strip())
    if not match:
        raise ValueError(f"bad timestamp {text.strip()!r}")
    hours, minutes, seconds, millis = match.groups()
    return ((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


# ---------------------------------------------------------------------------- writing


def _clean_line(text: str) -> str:
    """Cue text on one line: a blank line inside a cue would end the block in VTT/SRT."""
    return " ".join(text.split())


def to_vtt(cues: list[Cue]) -> str:
    out = ["WEBVTT", ""]
    for cue in cues:
        if cue.id:
            out.append(_clean_line(cue.id))
        out.append(f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}")
        out.append(_clean_line(cue.text))
        out.append("")
    return "\n".join(out) + ("\n" if cues else "")


def to_srt(cues: list[Cue]) -> str:
    out = []
    for index, cue in enumerate(cues, start=1):
        start = format_timestamp(cue.start, always_include_hours=True, decimal_marker=",")
        end = format_timestamp(cue.end, always_include_hours=True, decimal_marker=",")
        out += [str(index), f"{start} --> {end}", _clean_line(cue.text), ""]
    return "\n".join(out) + ("\n" if cues else "")


def to_txt(cues: list[Cue]) -> str:
    return "".join(_clean_line(cue.text) + "\n" for cue in cues)


def to_json(captions: Captions) -> str:
    """openai-whisper's result dict: text, segments (seconds), language; plus words when known."""
    segments = []
    for index, cue in enumerate(captions.cues):
        segment: dict = {"id": index, "start": cue.start / 1000, "end": cue.end / 1000, "text": cue.text}
        if cue.id:
            segment["cue_id"] = cue.id
        if cue.words:
            segment["words"] = [
                {"word": w.text, "start": w.start / 1000, "end": w.end / 1000, "probability": w.probability}
                for w in cue.words
            ]
        segments.append(segment)
    result = {"text": captions.text, "segments": segments, "language": captions.language}
    return json.dumps(result, ensure_ascii=False, indent=2) + "\n"


def render(captions: Captions, fmt: str) -> str:
    """Captions as the text of one of FORMATS."""
    if fmt == "vtt":
        return to_vtt(captions.cues)
    if fmt == "srt":
        return to_srt(captions.cues)
    if fmt == "txt":
        return to_txt(captions.cues)
    if fmt == "json":
        return to_json(captions)
    raise InputError(f"unknown caption format {fmt!r} (choose from {', '.join(FORMATS)})")


def write(captions: Captions, path: Path, fmt: str | None = None) -> Path:
    """Write atomically; the format comes from `fmt` or the file's extension."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    return atomic_write_text(path, render(captions, fmt))


def parse_formats(spec: str) -> list[str]:
    """`vtt,srt` or `all` → a list of formats; InputError for an unknown one."""
    names = list(FORMATS) if spec.strip().lower() == "all" else [s.strip().lower() for s in spec.split(",")]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise InputError(f"unknown caption format {', '.join(unknown) or spec!r} (choose from "
                         f"{', '.join(FORMATS)} or all)")
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------- reading

_ARROW = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)(.*)$")


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Split into blank-line separated blocks, each with its 1-based first line number."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip() == "":
            if current:
                blocks.append((start, current))
                current = []
        else:
            if not current:
                start = number
            current.append(line)
    if current:
        blocks.append((start, current))
    return blocks


def _decode(raw: bytes, source: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{source}: not UTF-8 text (byte {err.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _cue_from_block(number: int, lines: list[str], fmt: str) -> Cue | ParseProblem | None:
    """One block → a Cue, a ParseProblem, or None for a header/comment block."""
    timing_index = next((i for i, line in enumerate(lines) if "-->" in line), None)
    if timing_index is None:
        first = lines[0].strip()
        if fmt == "vtt" and (first.startswith(("NOTE", "STYLE", "REGION")) or first.startswith("WEBVTT")):
            return None
        return ParseProblem(number, "no 'start --> end' timing line in this block", "\n".join(lines))
    if timing_index > 1 or (fmt == "srt" and timing_index == 1 and not lines[0].strip().isdigit()):
        return ParseProblem(number, "unexpected text before the timing line", "\n".join(lines))
    line_no = number + timing_index
    match = _ARROW.match(lines[timing_index])
    if not match:
        return ParseProblem(line_no, f"malformed timing line {lines[timing_index].strip()!r}",
                            "\n".join(lines))
    try:
        start, end = parse_timestamp(match.group(1)), parse_timestamp(match.group(2))
    except ValueError as err:
        return ParseProblem(line_no, str(err), "\n".join(lines))
    cue_id = lines[0].strip() if timing_index == 1 and fmt == "vtt" else ""
    text = "\n".join(line.strip() for line in lines[timing_index + 1:]).strip()
    return Cue(start=start, end=end, text=" ".join(text.split()), id=cue_id)


def parse(text: str, fmt: str = "vtt", source: str = "<text>") -> Captions:
    """Parse VTT or SRT text; every malformed block becomes a ParseProblem, nothing is dropped silently.

    The good blocks are also handed to webvtt-py as a cross-check: if it reads a different number of
    cues than we counted, that is reported as a problem too.
    """
    fmt = fmt.lower()
    if fmt not in ("vtt", "srt"):
        raise InputError(f"{source}: can read vtt or srt captions, not {fmt!r}")
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    blocks = _blocks(text)
    captions = Captions()
    if fmt == "vtt" and (not blocks or not blocks[0][1][0].startswith("WEBVTT")):
        first = blocks[0][1][0] if blocks else ""
        if "-->" in first or (blocks and len(blocks[0][1]) > 1 and "-->" in blocks[0][1][1]):
            captions.problems.append(ParseProblem(1, "missing 'WEBVTT' header"))
        else:
            raise InputError(f"{source}: not a WebVTT file (no 'WEBVTT' header)")
    good: list[list[str]] = []
    for number, lines in blocks:
        item = _cue_from_block(number, lines, fmt)
        if isinstance(item, Cue):
            captions.cues.append(item)
            good.append(lines)
        elif isinstance(item, ParseProblem):
            captions.problems.append(item)
    _cross_check(captions, good, fmt)
    return captions


def _cross_check(captions: Captions, good: list[list[str]], fmt: str) -> None:
    """Ask webvtt-py to read the blocks we accepted; a differing count means we misread something."""
    if not good:
        return
    if fmt == "vtt":
        body = "WEBVTT\n\n" + "\n\n".join("\n".join(b) for b in good) + "\n"
    else:  # webvtt-py's SRT reader wants the index line we tolerate missing
        body = "\n\n".join("\n".join(b if "-->" not in b[0] else [str(i), *b])
                           for i, b in enumerate(good, start=1)) + "\n"
    try:
        count = len(webvtt.from_buffer(io.StringIO(body), format=fmt).captions)
    except Exception as err:  # webvtt-py raises its own and builtin errors on odd input
        captions.problems.append(ParseProblem(1, f"webvtt-py could not read the cues: {err}"))
        return
    if count != len(captions.cues):
        captions.problems.append(
            ParseProblem(1, f"webvtt-py read {count} cues where {len(captions.cues)} were found"))


def read(path: Path, fmt: str | None = None) -> Captions:
    """Read a VTT, SRT or our JSON file; InputError for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"captions file not found: {path}")
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    raw = path.read_bytes()
    text = _decode(raw, str(path))
    captions = from_json(text, str(path)) if fmt == "json" else parse(text, fmt, str(path))
    captions.source = path
    return captions


def from_json(text: str, source: str = "<json>") -> Captions:
    """Read what `to_json` wrote (openai-whisper's result layout)."""
    try:
        data = json.loads(text)
        cues = []
        for seg in data["segments"]:
            words = tuple(
                Word(round(w["start"] * 1000), round(w["end"] * 1000), w["word"], w.get("probability"))
                for w in seg.get("words", ())
            )
            cues.append(Cue(round(seg["start"] * 1000), round(seg["end"] * 1000), seg["text"],
                            seg.get("cue_id", ""), words))
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{source}: not a whisper-tui JSON transcript ({err})") from None
    return Captions(cues=cues, language=data.get("language"))
