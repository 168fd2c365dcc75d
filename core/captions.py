"""Cues and captions: read, write and validate them, exactly, in integer milliseconds.

Times are integers (ms) everywhere so that a read → write → read round trip is exact; seconds as
floats appear only at the edges (JSON, engines).

Cue text is kept on ONE line with single spaces (`clean_text`): a training row is one line, Whisper's
own writers emit one line per segment, and a blank line inside a cue would end the block. Reading
joins a multi-line cue with spaces. Valid cue text is therefore exactly `clean_text(text) == text`:
stripped, no line breaks or runs of whitespace, and no `-->` (which would start a new cue; writers
turn it into `->`, as openai-whisper does).

Reading never drops anything silently: each block that cannot be read is a ParseProblem (severity
"error") with its 1-based line; what could be read but is not clean WebVTT/SRT (an arrow typo, SRT
text in a .vtt file, a missing blank line) is read anyway and reported as a "warning" problem.

Editing cues, undo and saving with backups and autosave live in `core/editing.py`, built on this model.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import webvtt

from core.errors import InputError
from core.files import atomic_write_text

FORMATS = ("vtt", "srt", "txt", "json")
MAX_CUE_MS = 30_000  # Whisper sees 30 s windows: a longer cue cannot become one training row
MAX_CPS = 20.0  # reading speed beyond which a cue is probably mistimed or mistyped

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Recording:
    """An audio file and the captions that transcribe it: the one idea behind a workspace source that has both
    (`Source.recording`), `prepare`'s inputs and an evaluation set (`EvalSet`, a named one)."""

    audio: Path
    captions: Path


@dataclass(frozen=True)
class Word:
    """One word with its timing and the engine's probability (None when the engine gives none)."""

    start: int
    end: int
    text: str
    probability: float | None = None


@dataclass(frozen=True)
class Cue:
    """A caption cue: [start, end) in integer milliseconds, its text, an id, optional word timings.

    `settings` is the WebVTT cue settings text after the end time (`align:start`), kept so that saving
    an edited file does not lose the user's layout.
    """

    start: int
    end: int
    text: str
    id: str = ""
    words: tuple[Word, ...] = ()
    settings: str = ""

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
    """Something reading found wrong, at a 1-based line: an unreadable block ("error") or a block read
    despite not being clean WebVTT/SRT ("warning")."""

    line: int
    message: str
    block: str = ""
    code: str = "parse"
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Captions:
    """An ordered list of cues plus what reading them found wrong.

    `cue_lines[i]` is the 1-based line of cue i's timing line in the file it was read from (empty when
    the cues did not come from a VTT/SRT file); `header` holds the WEBVTT header block and the
    STYLE/REGION/NOTE blocks before the first cue, written back unchanged (NOTE blocks between cues
    are comments and are not kept).
    """

    cues: list[Cue] = field(default_factory=list)
    language: str | None = None
    problems: list[ParseProblem] = field(default_factory=list)
    source: Path | None = None
    cue_lines: list[int] = field(default_factory=list)
    header: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.cues)

    @property
    def text(self) -> str:
        return " ".join(c.text.strip() for c in self.cues if c.text.strip())


def clean_text(text: str) -> str:
    """Text as a cue keeps it: one line, single spaces, no `-->` (see the module docstring)."""
    text = " ".join(text.split())
    while "-->" in text:
        text = text.replace("-->", "->")
    return text


# ---------------------------------------------------------------------------- timestamps

_TS = re.compile(r"^(?:([0-9]+):)?([0-5]?[0-9]):([0-5][0-9])([.,])([0-9]{3})$")


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
    hours, minutes, seconds, _marker, millis = match.groups()
    return ((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


# ---------------------------------------------------------------------------- writing


def _timing_line(cue: Cue, srt: bool) -> str:
    start = format_timestamp(cue.start, always_include_hours=srt, decimal_marker="," if srt else ".")
    end = format_timestamp(cue.end, always_include_hours=srt, decimal_marker="," if srt else ".")
    settings = "" if srt else clean_text(cue.settings)
    return f"{start} --> {end}" + (f" {settings}" if settings else "")


def to_vtt(cues: Sequence[Cue], header: Sequence[str] = ()) -> str:
    """openai-whisper's VTT (`WEBVTT`, `MM:SS.mmm` unless hours), plus ids, settings and our header."""
    head = list(header) if header and header[0].lstrip().startswith("WEBVTT") else ["WEBVTT"]
    out = ["\n\n".join(head), ""]
    for cue in cues:
        if clean_text(cue.id):
            out.append(clean_text(cue.id))
        out += [_timing_line(cue, srt=False), clean_text(cue.text), ""]
    return "\n".join(out) + ("\n" if cues else "")


def to_srt(cues: Sequence[Cue]) -> str:
    """openai-whisper's SRT: numbered from 1, `HH:MM:SS,mmm`; ids and settings have no place in SRT."""
    out = []
    for index, cue in enumerate(cues, start=1):
        out += [str(index), _timing_line(cue, srt=True), clean_text(cue.text), ""]
    return "\n".join(out) + ("\n" if cues else "")


def to_txt(cues: Sequence[Cue]) -> str:
    return "".join(clean_text(cue.text) + "\n" for cue in cues)


def to_json(captions: Captions) -> str:
    """openai-whisper's result dict: text, segments (seconds), language; plus words, ids, settings."""
    segments = []
    for index, cue in enumerate(captions.cues):
        segment: dict = {"id": index, "start": cue.start / 1000, "end": cue.end / 1000, "text": cue.text}
        if cue.id:
            segment["cue_id"] = cue.id
        if cue.settings:
            segment["settings"] = cue.settings
        if cue.words:
            segment["words"] = [
                {"word": w.text, "start": w.start / 1000, "end": w.end / 1000, "probability": w.probability}
                for w in cue.words
            ]
        segments.append(segment)
    result: dict = {"text": captions.text, "segments": segments, "language": captions.language}
    if captions.header:
        result["vtt_header"] = list(captions.header)
    return json.dumps(result, ensure_ascii=False, indent=2) + "\n"


def render(captions: Captions, fmt: str) -> str:
    """Captions as the text of one of FORMATS."""
    if fmt == "vtt":
        return to_vtt(captions.cues, captions.header)
    if fmt == "srt":
        return to_srt(captions.cues)
    if fmt == "txt":
        return to_txt(captions.cues)
    if fmt == "json":
        return to_json(captions)
    raise InputError(f"unknown caption format {fmt!r} (choose from {', '.join(FORMATS)})")


def _format_of(path: Path, fmt: str | None) -> str:
    return (fmt or Path(path).suffix.lstrip(".")).lower()


def write(captions: Captions, path: Path, fmt: str | None = None) -> Path:
    """Write atomically; the format comes from `fmt` or the file's extension."""
    return atomic_write_text(Path(path), render(captions, _format_of(path, fmt)))


def parse_formats(spec: str) -> list[str]:
    """`vtt,srt` or `all` → a list of formats; InputError for an unknown one."""
    names = list(FORMATS) if spec.strip().lower() == "all" else [s.strip().lower() for s in spec.split(",")]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise InputError(f"unknown caption format {', '.join(unknown) or spec!r} (choose from "
                         f"{', '.join(FORMATS)} or all)")
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------- reading VTT / SRT

# A timing line: start, an arrow (`-->`, or a typo of it: `->`, `--->`, `—>`, `=>`), end, settings.
_TIMING = re.compile(r"^\s*(?P<start>\S+?)\s*(?P<arrow>-->|[-–—=]+>)\s*(?P<end>\S+?)(?:\s+(?P<settings>.*?))?\s*$")
_LOOSE_TIMING = re.compile(r"^\s*[0-9][0-9:.,]*\s*[-–—=]+>")  # a typo'd arrow counts only where a timing line belongs
_HEADER = re.compile(r"^\s*WEBVTT(?:[ \t].*)?$")
_COMMENT = re.compile(r"^(?:NOTE|STYLE|REGION)(?:[ \t].*)?$")


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


def _normalize(text: str) -> str:
    """Drop a BOM; CRLF and lone CR become LF."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _decode(raw: bytes, source: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{source}: not UTF-8 text (byte {err.start})") from None
    return _normalize(text)


def _timing_indices(lines: list[str]) -> list[int]:
    """Lines that start a cue: any with `-->` (as the WebVTT parser does), or else a typo'd arrow in
    one of the first two lines, where a timing line belongs (so an id such as `0->1` stays an id)."""
    strict = [index for index, line in enumerate(lines) if "-->" in line]
    if strict and strict[0] <= 1:
        return strict
    loose = next((index for index, line in enumerate(lines[:2]) if _LOOSE_TIMING.match(line)), None)
    return strict if loose is None else [loose, *strict]


class _Reader:
    """Reads blocks one by one into cues and problems; style notices are counted, then reported once."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.captions = Captions()
        self.header: list[str] = []
        self.saw_timing = False
        self.notices: dict[str, list] = {}  # code -> [first line, message, count]
        self.checked: list[tuple[int, str, list[str]]] = []  # (cue index, id line, timing+text lines)

    def problem(self, line: int, code: str, message: str, lines: Sequence[str] = (),
                severity: Severity = "error") -> None:
        self.captions.problems.append(ParseProblem(line, message, "\n".join(lines), code, severity))

    def notice(self, line: int, code: str, message: str) -> None:
        entry = self.notices.setdefault(code, [line, message, 0])
        entry[2] += 1

    def block(self, number: int, lines: list[str], header: bool) -> None:
        timings = _timing_indices(lines)
        if not timings:
            if header or (self.fmt == "vtt" and _COMMENT.match(lines[0].strip())):
                if not self.captions.cues:
                    self.header.append("\n".join(lines))
                return
            self.problem(number, "no-timing", "no 'start --> end' timing line in this block", lines)
            return
        self.saw_timing = True
        begins = [self._cue_begin(lines, t, timings[k - 1] if k else None, header) for k, t in enumerate(timings)]
        if begins[0] > 0:
            if header:
                self.header.append("\n".join(lines[:begins[0]]))
                self.notice(number + begins[0], "header-blank", "no blank line between the header and this cue")
            else:
                self.problem(number, "stray-text", f"text outside any cue: {' / '.join(lines[:begins[0]])!r}",
                             lines[:begins[0]])
        for k, (begin, timing) in enumerate(zip(begins, timings, strict=True)):
            end = begins[k + 1] if k + 1 < len(begins) else len(lines)
            if k:
                self.notice(number + timing, "missing-blank", "no blank line before this cue (read anyway)")
            clean = k == 0 and begins[0] == 0
            self.cue(number, lines, begin, timing, end, clean)

    @staticmethod
    def _cue_begin(lines: list[str], timing: int, previous: int | None, header: bool) -> int:
        """The id line before a timing line belongs to its cue: a block's first line, or a number."""
        candidate = timing - 1
        if candidate < 0 or (previous is not None and candidate <= previous) or (header and candidate == 0):
            return timing
        if (candidate == 0 and previous is None) or lines[candidate].strip().isdigit():
            return candidate
        return timing

    def cue(self, number: int, lines: list[str], begin: int, timing: int, end: int, clean: bool) -> None:
        line_no = number + timing
        segment = lines[begin:end]
        match = _TIMING.match(lines[timing])
        if not match:
            self.problem(line_no, "bad-timing", f"malformed timing line {lines[timing].strip()!r}", segment)
            return
        try:
            start, stop = parse_timestamp(match["start"]), parse_timestamp(match["end"])
        except ValueError as err:
            self.problem(line_no, "bad-timestamp", str(err), segment)
            return
        if match["arrow"] != "-->":
            clean = False
            self.notice(line_no, "arrow", f"timing line uses {match['arrow']!r} instead of '-->' (read anyway)")
        wanted = "," if self.fmt == "srt" else "."
        if any(_TS.match(t)[4] != wanted for t in (match["start"], match["end"])):
            clean = False
            self.notice(line_no, "decimal-marker", f"timestamps should use {wanted!r} before the milliseconds "
                        "in this format (read anyway)")
        text = clean_text(" ".join(lines[timing + 1:end]))
        vtt = self.fmt == "vtt"
        cue_id = lines[begin].strip() if vtt and begin < timing else ""
        cue = Cue(start, stop, text, cue_id, settings=clean_text(match["settings"] or "") if vtt else "")
        if clean and text:
            self.checked.append((len(self.captions.cues), lines[begin] if begin < timing else "", lines[timing:end]))
        self.captions.cues.append(cue)
        self.captions.cue_lines.append(line_no)

    def finish(self, cross_check: bool = True) -> Captions:
        for code, (line, message, count) in self.notices.items():
            suffix = f" ({count} times, first here)" if count > 1 else ""
            self.problem(line, code, message + suffix, severity="warning")
        if cross_check:
            self._cross_check()
        self.captions.problems.sort(key=lambda p: p.line)
        self.captions.header = tuple(self.header)
        return self.captions

    def _cross_check(self) -> None:
        """Ask webvtt-py to read the clean cues we read; a disagreement means one of us misreads them."""
        if not self.checked:
            return
        if self.fmt == "vtt":
            body = "WEBVTT\n\n" + "\n\n".join("\n".join(([i] if i else []) + rest) for _, i, rest in self.checked)
        else:
            body = "\n\n".join("\n".join([str(k), *rest]) for k, (_, _, rest) in enumerate(self.checked, start=1))
        try:
            theirs = [(c.start_time.in_milliseconds(), c.end_time.in_milliseconds())
                      for c in webvtt.from_buffer(io.StringIO(body + "\n"), format=self.fmt).captions]
        except Exception as err:  # webvtt-py raises its own and builtin errors on odd input
            self.problem(1, "cross-check", f"webvtt-py could not read these cues: {_one_line(err)}", severity="warning")
            return
        for k, (index, _, _) in enumerate(self.checked):
            cue = self.captions.cues[index]
            if k >= len(theirs) or theirs[k] != (cue.start, cue.end):
                self.problem(self.captions.cue_lines[index], "cross-check",
                             "webvtt-py reads this cue differently; check its timing line", severity="warning")
                return


def _sniff(blocks: list[tuple[int, list[str]]], fmt: str) -> str:
    """The format the text really is in: SRT saved as .vtt (or the reverse) is common."""
    if not blocks:
        return fmt
    first = blocks[0][1]
    if fmt == "vtt" and first[0].strip().isdigit() and len(first) > 1 and "-->" in first[1] and "," in first[1]:
        return "srt"
    if fmt == "srt" and _HEADER.match(first[0]):
        return "vtt"
    return fmt


def parse(text: str, fmt: str = "vtt", source: str = "<text>", cross_check: bool = True) -> Captions:
    """Parse VTT or SRT text; every malformed block becomes a ParseProblem, nothing is dropped silently.

    InputError only when the text is not captions at all (no header and no timing line). The clean
    cues are also handed to webvtt-py as a cross-check (unless `cross_check` is False: then call
    `cross_check_problems` later); a disagreement is reported as a warning.
    """
    fmt = fmt.lower()
    if fmt not in ("vtt", "srt"):
        raise InputError(f"{source}: can read vtt or srt captions, not {fmt!r}")
    blocks = _blocks(_normalize(text))
    actual = _sniff(blocks, fmt)
    reader = _Reader(actual)
    has_header = bool(blocks) and actual == "vtt" and bool(_HEADER.match(blocks[0][1][0]))
    for k, (number, lines) in enumerate(blocks):
        reader.block(number, lines, header=has_header and k == 0)
    kind = "WebVTT" if fmt == "vtt" else "SRT"
    if blocks and not reader.saw_timing and not has_header:
        raise InputError(f"{source}: not a{'n' if fmt == 'srt' else ''} {kind} file (no 'start --> end' lines)")
    if fmt == "vtt" and not blocks:
        raise InputError(f"{source}: empty file, not a WebVTT file (no 'WEBVTT' header)")
    if actual != fmt:
        other = "SubRip (SRT)" if actual == "srt" else "WebVTT"
        reader.problem(1, "wrong-format", f"this is {other} text, not {kind}: read as {other}; save it with the "
                       f".{actual} extension or let whisper-tui rewrite it", severity="warning")
    elif actual == "vtt" and not has_header:
        reader.problem(1, "no-header", "missing 'WEBVTT' header (read anyway)", severity="warning")
    return reader.finish(cross_check)


def read(path: Path, fmt: str | None = None, cross_check: bool = True) -> Captions:
    """Read a VTT, SRT or our JSON file; InputError for a missing or unreadable file.

    `cross_check=False` skips the webvtt-py cross-check (about 60 % of reading a VTT): the editor shows the
    cues first and runs `cross_check_problems` in the background."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a captions file")
    if not path.is_file():
        raise InputError(f"captions file not found: {path}")
    fmt = _format_of(path, fmt)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    text = _decode(raw, str(path))
    captions = from_json(text, str(path)) if fmt == "json" else parse(text, fmt, str(path), cross_check)
    captions.source = path
    return captions


def cross_check_problems(path: Path) -> list[ParseProblem]:
    """What the webvtt-py cross-check alone says about a file read with `cross_check=False`."""
    return [p for p in read(path).problems if p.code == "cross-check"]


# ---------------------------------------------------------------------------- JSON


def _ms(seconds: object) -> int:
    """JSON seconds → non-negative integer ms; ValueError for anything else (bools, NaN, strings)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise ValueError(f"bad time {seconds!r}")
    if seconds < 0:
        raise ValueError(f"negative time {seconds!r}")
    return round(seconds * 1000)


def _string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _json_cue(seg: dict) -> Cue:
    words = tuple(
        Word(_ms(w["start"]), _ms(w["end"]), _string(w["word"], "word"),
             None if w.get("probability") is None else float(w["probability"]))
        for w in seg.get("words") or ()
    )
    return Cue(_ms(seg["start"]), _ms(seg["end"]), _string(seg["text"], "text"),
               _string(seg.get("cue_id", ""), "cue_id"), words, _string(seg.get("settings", ""), "settings"))


def from_json(text: str, source: str = "<json>") -> Captions:
    """Read what `to_json` wrote (openai-whisper's result layout)."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
            raise ValueError("no 'segments' list")
        cues = [_json_cue(seg) for seg in data["segments"]]
        language = data.get("language")
        header = tuple(_string(h, "vtt_header") for h in data.get("vtt_header") or ())
        if language is not None:
            language = _string(language, "language")
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError) as err:
        raise InputError(f"{source}: not a whisper-tui JSON transcript ({_one_line(err)})") from None
    return Captions(cues=cues, language=language, header=header)


def _one_line(err: object) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__


# ---------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Finding:
    """One thing `validate` found: `index` is the 0-based cue (None for file-level), `line` the 1-based
    line in the file when known, `start` the cue's start (ms) for display."""

    severity: Severity
    code: str
    message: str
    index: int | None = None
    line: int | None = None
    start: int | None = None

    def format(self, path: str | Path = "") -> str:
        """`path:line: error [code] cue 12 (00:01:02.000): message`, parts left out when unknown."""
        where = ":".join(str(part) for part in (path, self.line) if part not in ("", None))
        cue = ""
        if self.index is not None:
            cue = f" cue {self.index + 1}"
            if self.start is not None and self.start >= 0:
                cue += f" ({format_timestamp(self.start, always_include_hours=True)})"
        return f"{where + ': ' if where else ''}{self.severity} [{self.code}]{cue}: {self.message}"


def _cue_findings(cues: Sequence[Cue], audio_duration_ms: int | None, max_cue_ms: int,
                  max_cps: float) -> Iterable[Finding]:
    previous: Cue | None = None
    for index, cue in enumerate(cues):

        def found(severity: Severity, code: str, message: str, index: int = index, cue: Cue = cue) -> Finding:
            return Finding(severity, code, message, index, start=cue.start)

        if cue.end <= cue.start:
            yield found("error", "bad-timing", f"ends at {_ts(cue.end)}, not after its start {_ts(cue.start)}")
        if audio_duration_ms is not None and cue.end > audio_duration_ms:
            yield found("error", "past-audio", f"ends at {_ts(cue.end)}, after the audio ({_ts(audio_duration_ms)})")
        if cue.duration > max_cue_ms:
            yield found("error", "too-long", f"lasts {cue.duration / 1000:.1f} s, over {max_cue_ms / 1000:g} s: "
                        "it cannot become a training row (split it)")
        if previous is not None and cue.start < previous.end:
            what = "starts before the previous cue" if cue.start < previous.start else "overlaps the previous cue"
            yield found("warning", "overlap", f"{what} (which ends at {_ts(previous.end)})")
        if not cue.text.strip():
            yield found("warning", "empty-text", "no text")
        elif cue.duration > 0 and cue.chars_per_second() > max_cps:
            yield found("warning", "too-fast", f"{cue.chars_per_second():.1f} characters/s, over {max_cps:g}: "
                        "mistimed or mistyped?")
        previous = cue


def _ts(ms: int) -> str:
    return format_timestamp(ms, always_include_hours=True) if ms >= 0 else f"{ms} ms"


_CUE_NOTICES = frozenset({"arrow", "decimal-marker", "missing-blank", "header-blank", "cross-check"})


def validate(captions: Captions | Sequence[Cue], audio_duration_ms: int | None = None, max_cue_ms: int = MAX_CUE_MS,
             max_cps: float = MAX_CPS, extra: Iterable[Finding] = ()) -> list[Finding]:
    """Everything wrong with the cues, errors (unusable for training) and warnings (worth a look).

    Given a Captions, its parse problems are findings too and cue findings get their file line. `extra`
    is where other checks plug in (e.g. keyword suspects from core.vocabulary): they are merged,
    given lines, and sorted with the rest.
    """
    if isinstance(captions, Captions):
        cues, lines, problems = captions.cues, captions.cue_lines, captions.problems
    else:
        cues, lines, problems = list(captions), [], []
    by_line = {line: index for index, line in enumerate(lines[: len(cues)])}
    findings = []
    for p in problems:  # a warning about a cue that was read anyway names that cue
        index = by_line.get(p.line) if p.code in _CUE_NOTICES else None
        findings.append(Finding(p.severity, p.code, p.message, index, p.line,
                                None if index is None else cues[index].start))
    for finding in [*_cue_findings(cues, audio_duration_ms, max_cue_ms, max_cps), *extra]:
        if finding.line is None and finding.index is not None and finding.index < len(lines):
            finding = replace(finding, line=lines[finding.index])
        findings.append(finding)
    return sorted(findings, key=lambda f: (f.line is None, f.line or 0, -1 if f.index is None else f.index))


def summarize(findings: Sequence[Finding], cue_count: int) -> str:
    """One line for the end of a report."""
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if not findings:
        return f"{cue_count} cues, no problems"
    return (f"{cue_count} cues, {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
            + ("" if errors else " (usable for training)"))
