"""Real human speech from Debian's `flight-of-the-amazon-queen` (the voice-acted 1995 adventure game, ScummVM's 2004
"talkie" release; free redistribution under its own licence, in Debian main): about 25 acted US-English characters,
a subtitle for every speech file. A real-speech control set of many speakers for the quality protocol
(bench/quality.py); fetched with `apt-get download` + `dpkg-deb -x` (tests/setup_test_data.py --bench), never
installed (that would pull in scummvm) and never committed.

Layout of `queen.1c` (re-implemented from the file format ScummVM's engines/queen reads; no code taken):
- b"QTBL", 6-byte version, 2 bytes, 1 byte compression (1 = MP3), a uint16 BE entry count, then entries of a
  12-byte NUL-padded name, 1-byte bundle, uint32 BE offset, uint32 BE size. `*.SB` entries are bare MP3 streams
  (MPEG-2.5 Layer III, 11,025 Hz mono, 16 kbit/s: telephone band).
- A text is split into speech segments at '*' + a 2-character command ("*14", "*WT"; "*XY" carries 11 more);
  segment i of a text with voice prefix P plays P + "%X" % (i + 1) + ".SB".
- Joe's descriptions and responses: QUEEN2.JAS holds CRLF text lines; QUEEN.JAS (after a 20-byte header) starts with
  uint16 BE counts of rooms, names, objects, descriptions. Description k (1-based) is line k-1, prefix
  "JOE%04d" % (k + 40); response i (1..40) is line descriptions+names+rooms+12+i-1, prefix "JOE%04d" % i.
- Dialogues (*.DOG, after a 20-byte header): int16 BE levelMax, uniqueKey, talkKey, jMax, pMax, 3×(gameState,
  testValue, item), uint16 person1Off, cutawayOff, person2Off; Joe's table at 32 + |levelMax|·96. A string table
  entry is (2 bytes, int16 id, uint8 length, text padded to 4). Person lines use "%2d%4xP" % (talkKey, id), Joe's
  "%2d%4xJ"; the person2 pair "%2dXXXXP"/"%2dXXXXJ"; Joe's opening line "%2dSSSSJ"; spaces become '0', upper case.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

QUEEN_REL = Path("usr/share/scummvm/flight-of-the-amazon-queen/queen.1c")
JOE_RESPONSE_MAX = 40
DOG_HEADER_SIZE = 20
JAS_HEADER_SIZE = 20
# Left out: the gorilla's lines are mostly non-words ("Nuk! Ooo oop oop."); Death (Charon) and Klunk have
# effect-processed voices that tiny.en mishears or hallucinates on (WER 0.4-1.4 on samples vs ~0.05 elsewhere).
NONVERBAL = {"APE", "DEATH", "KLUNK"}


@dataclass(frozen=True)
class Clip:
    """One speech file, extracted as .mp3, with its subtitle and who speaks it."""

    path: Path
    text: str  # the game's subtitle for exactly this speech file
    speaker: str  # JOE or the dialogue's character (its .DOG file name without digits)
    seconds: float


class Queen1c:
    """The resource archive: names → (offset, size)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fh = self.path.open("rb")
        head = self.fh.read(15)
        if head[:4] != b"QTBL":
            raise ValueError(f"{path}: not a rebuilt queen.1c (no QTBL header)")
        self.compression = head[12]
        (count,) = struct.unpack(">H", head[13:15])
        self.entries: dict[str, tuple[int, int]] = {}
        table = self.fh.read(21 * count)
        for i in range(count):
            rec = table[21 * i: 21 * i + 21]
            name = rec[:12].split(b"\0")[0].decode("ascii")
            offset, size = struct.unpack(">II", rec[13:21])
            self.entries[name] = (offset, size)

    def read(self, name: str, skip: int = 0) -> bytes:
        offset, size = self.entries[name]
        self.fh.seek(offset + skip)
        return self.fh.read(size - skip)


def segments(sentence: str) -> list[str]:
    """Talk::speak: split at '*' + 2-char command (XY: 11 more); the tail after the last command is a segment."""
    out, start, i = [], 0, 0
    while i < len(sentence):
        if sentence[i] == "*":
            out.append(sentence[start:i])
            i += 1
            if sentence[i:i + 2] == "XY":
                i += 11
            i += 2
            start = i
        else:
            i += 1
    if start != i:
        out.append(sentence[start:i])
    return out


def _voice(prefix: str, index: int) -> str:
    return (prefix.replace(" ", "0") + "%X" % (index + 1)).upper() + ".SB"


def joe_texts(q: Queen1c):
    """(voice prefix, text, speaker) of Joe's responses and object descriptions."""
    jas = q.read("QUEEN.JAS", JAS_HEADER_SIZE)
    num_rooms, num_names, _num_objects, num_desc = struct.unpack(">4H", jas[:8])
    lines = q.read("QUEEN2.JAS").decode("latin-1").split("\r\n")
    off_joe = num_desc + num_names + num_rooms + 12
    for i in range(1, JOE_RESPONSE_MAX + 1):
        yield f"JOE{i:04d}", lines[off_joe + i - 1], "JOE"
    for k in range(1, num_desc + 1):
        yield f"JOE{k + JOE_RESPONSE_MAX:04d}", lines[k - 1], "JOE"


def _string(b: bytes, off: int, align: int) -> tuple[str, int]:
    n = b[off]
    off += 1
    text = b[off:off + n].decode("latin-1")
    if n:
        off = (off + n + align - 1) & ~(align - 1)
    return text, off


def _table(b: bytes, off: int, count: int):
    """A dialogue's string table: (id, text) entries."""
    for _ in range(count):
        off += 2
        (ident,) = struct.unpack(">h", b[off:off + 2])
        off += 2
        text, off = _string(b, off, 4)
        yield ident, text


def dog_texts(q: Queen1c):
    """(voice prefix, text, speaker) of every dialogue line."""
    for dog in sorted(n for n in q.entries if n.endswith(".DOG")):
        b = q.read(dog, DOG_HEADER_SIZE)
        level_max, _unique, key, j_max, p_max = struct.unpack(">5h", b[:10])
        p1_off, _cut_off, p2_off = struct.unpack(">3H", b[22:28])
        joe_off = 32 + abs(level_max) * 96
        character = re.sub(r"\d+$", "", dog[:-4])
        for ident, text in _table(b, p1_off, p_max):
            yield f"{key:2d}{ident:4x}P", text, character
        for ident, text in _table(b, joe_off, j_max):
            yield f"{key:2d}{ident:4x}J", text, "JOE"
        person2, off = _string(b, p2_off, 2)
        joe2, _ = _string(b, off, 2)
        yield f"{key:2d}XXXXP", person2, character
        yield f"{key:2d}XXXXJ", joe2, "JOE"
        if struct.unpack(">H", b[joe_off + 2:joe_off + 4])[0] == 0:
            yield f"{key:2d}SSSSJ", _string(b, joe_off + 4, 2)[0], "JOE"


def mp3_seconds(data: bytes) -> float:
    """Walk MPEG audio frame headers (Layer III, MPEG 1/2/2.5); enough for these CBR files."""
    rates = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
    kbps_v1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
    kbps_v2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
    pos, samples, rate = 0, 0, 0
    while pos + 4 <= len(data):
        h = int.from_bytes(data[pos:pos + 4], "big")
        if (h >> 21) & 0x7FF != 0x7FF:
            pos += 1
            continue
        version, br_i, sr_i, pad = (h >> 19) & 3, (h >> 12) & 15, (h >> 10) & 3, (h >> 9) & 1
        if version == 1 or br_i in (0, 15) or sr_i == 3:
            pos += 1
            continue
        rate = rates[version][sr_i]
        per_frame = 1152 if version == 3 else 576
        kbps = (kbps_v1 if version == 3 else kbps_v2)[br_i]
        pos += (per_frame // 8) * kbps * 1000 // rate + pad
        samples += per_frame
    return samples / rate if rate else 0.0


_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")


def usable(text: str, min_words: int) -> bool:
    """Plain spoken English we can score: no digits/symbols/quotes/ellipses, no stretched 'Ooo'/'THIIINGS'."""
    if re.search(r"[^A-Za-z' ,.?!\-]", text) or "..." in text or re.search(r"([A-Za-z])\1\1", text):
        return False
    return len(_WORD.findall(text)) >= min_words


def extract(queen_path: Path, out_dir: Path, min_words: int = 4, everything: bool = False) -> list[Clip]:
    """Every usable speech file written to `out_dir` as .mp3 (kept when already there), with its text."""
    q = Queen1c(queen_path)
    if q.compression != 1:
        raise ValueError(f"expected MP3 speech (compression 1), got {q.compression}")
    out_dir.mkdir(parents=True, exist_ok=True)
    clips, seen = [], set()
    for prefix, text, speaker in list(joe_texts(q)) + list(dog_texts(q)):
        for index, segment in enumerate(segments(text)):
            segment = " ".join(segment.split())
            name = _voice(prefix, index)
            if name not in q.entries or name in seen or not segment:
                continue
            if not everything and (speaker in NONVERBAL or not usable(segment, min_words)):
                continue
            seen.add(name)
            data = q.read(name)
            path = out_dir / (name[:-3] + ".mp3")
            if not path.exists() or path.stat().st_size != len(data):
                path.write_bytes(data)
            clips.append(Clip(path, segment, speaker, mp3_seconds(data)))
    return clips
