"""Keywords: the user's list of terms Whisper should learn, and how to find them in text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError


@dataclass(frozen=True)
class Keyword:
    """A term as it should be written, plus known mis-hearings of it (`Term = misheard, other`)."""

    term: str
    misheard: tuple[str, ...] = ()


def parse_keywords(text: str, source: str = "<keywords>") -> list[Keyword]:
    """One keyword per line; `#` comments and blank lines skipped; duplicates merged (first wins)."""
    keywords: dict[str, Keyword] = {}
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        term, _, rest = line.partition("=")
        term = " ".join(term.split())
        if not term:
            raise InputError(f"{source}: line {number}: a '=' with no keyword before it")
        misheard = tuple(m for m in (" ".join(x.split()) for x in rest.split(",")) if m)
        key = term.casefold()
        if key in keywords:
            old = keywords[key]
            keywords[key] = Keyword(old.term, tuple(dict.fromkeys(old.misheard + misheard)))
        else:
            keywords[key] = Keyword(term, misheard)
    return list(keywords.values())


def load_keywords(path: Path) -> list[Keyword]:
    """Read a keywords.txt; one clear line when it is missing or not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"keywords file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None
    return parse_keywords(text, str(path))
