"""A reading script: sentences a user reads aloud so that Whisper hears every keyword often enough.

Correcting a draft transcript by hand is slow, and a draft only holds the keywords the speaker happened to say. A
script instead says every keyword at least `min_occurrences` times, at the start, in the middle and at the end of
sentences (a model that only ever hears "Phi-2" before a full stop learns that too), each time in another
sentence, mixed with plain sentences (about a third) that make the recording ordinary speech to replay as well.
Sentences come from templates (core/data/script_templates.txt, plus the user's own); `coverage` checks any
script, also one the user wrote or edited, with the same keyword matcher as recall (`core.vocabulary`).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.errors import InputError
from core.files import atomic_write_text
from core.vocabulary import Keyword, find_keywords

if TYPE_CHECKING:
    from core.workspace import Workspace

TEMPLATES_PATH = Path(__file__).resolve().parent / "data" / "script_templates.txt"

Position = Literal["start", "middle", "end"]
POSITIONS: tuple[Position, ...] = ("start", "middle", "end")
SLOTS = ("{k}", "{k2}")  # the first and the second keyword of a template
SECTIONS = ("keyword", "plain")

_PLACEHOLDER = re.compile(r"\{[^{}\s]*\}")
_WORD = re.compile(r"\w")
PLAIN_SHARE_SLACK = 0.1  # how far the plain share may stray from the target before `coverage` warns


# ---------------------------------------------------------------------------- templates


def position_of(text: str, start: int, end: int) -> Position:
    """Where `text[start:end]` sits in its sentence: "start" when no word comes before it, "end" when no word
    comes after it (final punctuation and quotes do not count), else "middle"; a span that is the whole sentence
    counts as "start"."""
    if not _WORD.search(text[:start]):
        return "start"
    if not _WORD.search(text[end:]):
        return "end"
    return "middle"


@dataclass(frozen=True)
class Template:
    """One keyword sentence with its slots: `positions[0]` is where `{k}` sits, `positions[1]` (if any) `{k2}`."""

    text: str
    positions: tuple[Position, ...]

    @property
    def slots(self) -> int:
        return len(self.positions)

    def fill(self, *terms: str) -> str:
        """The sentence with the keywords in their written form (a lower-case one opening it stays lower-case)."""
        if len(terms) != self.slots:
            raise InputError(f"template {self.text!r} takes {self.slots} keyword(s), got {len(terms)}")
        text = self.text
        for slot, term in zip(SLOTS, terms, strict=False):
            text = text.replace(slot, term)
        return text


@dataclass(frozen=True)
class Templates:
    """Keyword templates and plain sentences, in file order, without duplicates."""

    keyword: tuple[Template, ...]
    plain: tuple[str, ...]

    def __add__(self, other: Templates) -> Templates:
        """Both sets of sentences; a sentence already present is not added twice."""
        keyword = {t.text: t for t in (*self.keyword, *other.keyword)}
        return Templates(tuple(keyword.values()), tuple(dict.fromkeys((*self.plain, *other.plain))))


def _template(text: str, where: str) -> Template:
    """A keyword template, checked: `{k}` exactly once, `{k2}` at most once, no other placeholder."""
    unknown = sorted({p for p in _PLACEHOLDER.findall(text) if p not in SLOTS})
    if unknown:
        raise InputError(f"{where}: unknown placeholder {unknown[0]} (use {{k}} and, for a second keyword, {{k2}})")
    counts = [text.count(slot) for slot in SLOTS]
    if counts[0] != 1 or counts[1] > 1:
        raise InputError(f"{where}: a keyword template needs {{k}} exactly once (and {{k2}} at most once)")
    positions = []
    for slot, other in (SLOTS, SLOTS[::-1])[: 1 + counts[1]]:
        sentence = text.replace(other, "X")  # the other slot is a word like any other
        at = sentence.index(slot)
        positions.append(position_of(sentence, at, at + len(slot)))
    return Template(text, tuple(positions))


def parse_templates(text: str, source: str = "<templates>") -> Templates:
    """Read the template format: `[keyword]` and `[plain]` section headers, one sentence per line, `#` comment
    lines and blank lines skipped. Before any header a line with a slot is a keyword template, else plain."""
    keyword: dict[str, Template] = {}
    plain: dict[str, None] = {}
    section: str | None = None
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = " ".join(raw.split())
        where = f"{source}: line {number}"
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            if section not in SECTIONS:
                raise InputError(f"{where}: unknown section {line} (use [keyword] or [plain])")
            continue
        has_slot = bool(_PLACEHOLDER.search(line))
        if section == "plain" and has_slot:
            raise InputError(f"{where}: a plain sentence with a placeholder (keyword templates go under [keyword])")
        if section == "keyword" or (section is None and has_slot):
            keyword.setdefault(line, _template(line, where))
        else:
            plain.setdefault(line, None)
    return Templates(tuple(keyword.values()), tuple(plain))


def load_templates(path: Path | None = None) -> Templates:
    """Templates from a file (default: the shipped one); one clear line when it is missing, not UTF-8 or empty."""
    path = TEMPLATES_PATH if path is None else Path(path)
    templates = parse_templates(_read_text(path, "templates file"), str(path))
    if not templates.keyword and not templates.plain:
        raise InputError(f"{path}: no templates (keyword templates under [keyword], plain sentences under [plain])")
    return templates


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None


# ---------------------------------------------------------------------------- making a script


@dataclass(frozen=True)
class ScriptOptions:
    """How a script is made and judged. `plain_share` is the share of sentences without a keyword;
    `extra_templates` is the user's own template file, added to the shipped one."""

    min_occurrences: int = 4
    plain_share: float = 1 / 3
    seed: int = 0
    words_per_minute: int = 150
    extra_templates: Path | None = None

    def __post_init__(self) -> None:
        if isinstance(self.min_occurrences, bool) or not isinstance(self.min_occurrences, int) \
                or self.min_occurrences < 1:
            raise InputError(f"min_occurrences must be a whole number of at least 1, not {self.min_occurrences!r}")
        if not 0 <= self.plain_share < 1:
            raise InputError(f"plain_share must be at least 0 and below 1, not {self.plain_share!r}")
        if isinstance(self.words_per_minute, bool) or not isinstance(self.words_per_minute, int | float) \
                or self.words_per_minute <= 0:
            raise InputError(f"words_per_minute must be above 0, not {self.words_per_minute!r}")

    def templates(self) -> Templates:
        """The shipped templates plus the user's, if any."""
        shipped = load_templates()
        return shipped if self.extra_templates is None else shipped + load_templates(self.extra_templates)


def _unique_keywords(keywords: Iterable[Keyword | str]) -> list[Keyword]:
    """Keywords with a term, first spelling of each (case-insensitively) kept; InputError when none is left."""
    unique: dict[str, Keyword] = {}
    for k in keywords:
        keyword = k if isinstance(k, Keyword) else Keyword(" ".join(str(k).split()))
        if keyword.term.strip():
            unique.setdefault(keyword.term.casefold(), keyword)
    if not unique:
        raise InputError("no keywords to write a script for (keywords.txt: one keyword per line)")
    return list(unique.values())


def _without_keywords(templates: Templates, keywords: Sequence[Keyword]) -> Templates:
    """Templates whose own words hold none of the keywords, so that every count in the script is one we meant."""
    def clean(text: str) -> bool:
        return not find_keywords(_PLACEHOLDER.sub(" ", text), keywords)
    return Templates(tuple(t for t in templates.keyword if clean(t.text)),
                     tuple(p for p in templates.plain if clean(p)))


def _demands(keywords: Sequence[Keyword], count: int, rng: random.Random) -> dict[str, list[Position]]:
    """Per keyword, the positions its sentences should put it in: all three in turn, from a random first one."""
    demands = {}
    for keyword in keywords:
        order = list(POSITIONS)
        rng.shuffle(order)
        demands[keyword.term] = [order[i % len(order)] for i in range(count)]
    return demands


@dataclass(frozen=True)
class _Sentence:
    text: str
    terms: frozenset[str]


def _least_used(candidates: Sequence[Template], uses: Counter[str], rng: random.Random) -> Template:
    """The candidate used least so far in this script (ties drawn at random), so that templates vary."""
    return min(candidates, key=lambda t: (uses[t.text], rng.random()))


def _keyword_sentences(keywords: Sequence[Keyword], templates: Templates, count: int,
                       rng: random.Random) -> list[_Sentence]:
    """Sentences that together say each keyword `count` times in the positions `_demands` asks for, never
    through the same template twice for one keyword. Two-keyword templates each serve one pair of keywords."""
    singles = [t for t in templates.keyword if t.slots == 1]
    pairs = [t for t in templates.keyword if t.slots == 2]
    if count > len(singles):
        raise InputError(f"{count} sentences per keyword need at least {count} keyword templates, there are "
                         f"{len(singles)}: add some under [keyword] in your own template file or ask for fewer")
    demands = _demands(keywords, count, rng)
    used: dict[str, set[str]] = {k.term: set() for k in keywords}
    uses: Counter[str] = Counter()
    sentences: list[_Sentence] = []

    def take(term: str, template: Template, position: Position) -> None:
        demands[term].remove(position)
        used[term].add(template.text)
        uses[template.text] += 1

    rng.shuffle(pairs)
    for template in pairs:
        first_at, second_at = template.positions
        firsts = [k.term for k in keywords if first_at in demands[k.term]]
        if not firsts:
            continue
        first = max(firsts, key=lambda t: (len(demands[t]), rng.random()))
        seconds = [k.term for k in keywords if k.term != first and second_at in demands[k.term]]
        if not seconds:
            continue
        second = max(seconds, key=lambda t: (len(demands[t]), rng.random()))
        take(first, template, first_at)
        take(second, template, second_at)
        sentences.append(_Sentence(template.fill(first, second), frozenset((first, second))))

    wanted = [(term, position) for term, positions in demands.items() for position in positions]
    rng.shuffle(wanted)  # no keyword always gets the templates the others left
    for term, position in wanted:
        fresh = [t for t in singles if t.text not in used[term]]
        template = _least_used([t for t in fresh if t.positions[0] == position] or fresh, uses, rng)
        take(term, template, position)  # met, if need be, in another place: `coverage` judges the places
        sentences.append(_Sentence(template.fill(term), frozenset((term,))))
    return sentences


def _spread(sentences: list[_Sentence], rng: random.Random) -> list[_Sentence]:
    """A random order in which, where possible, no sentence shares a keyword with the one before it: each next
    sentence is one of those for the keyword with the most sentences still to place, so that no keyword is left
    over to bunch up at the end."""
    remaining = list(sentences)
    rng.shuffle(remaining)
    left = Counter(term for s in remaining for term in s.terms)
    ordered: list[_Sentence] = []
    while remaining:
        before = ordered[-1].terms if ordered else frozenset()
        allowed = [s for s in remaining if not s.terms & before] or remaining
        chosen = max(allowed, key=lambda s: max(left[t] for t in s.terms))  # the first of equals: drawn by shuffle
        remaining.remove(chosen)
        left.subtract(chosen.terms)
        ordered.append(chosen)
    return ordered


def _plain_slots(total: int, plain: int, rng: random.Random) -> set[int]:
    """Indices for `plain` sentences among `total`: one drawn from each of `plain` equal stretches, so that
    they are spread through the script rather than bunched at its end."""
    bounds = [i * total // plain for i in range(plain + 1)] if plain else []
    return {rng.randrange(lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False)}


def make_script(keywords: Sequence[Keyword], options: ScriptOptions = ScriptOptions()) -> list[str]:
    """The sentences to read aloud, the same for the same keywords, templates and seed: each keyword at least
    `min_occurrences` times in different templates and positions, plain sentences interleaved to make about
    `plain_share` of them (fewer when the templates run out: `coverage` says so), no sentence twice."""
    keywords = _unique_keywords(keywords)
    rng = random.Random(options.seed)
    templates = _without_keywords(options.templates(), keywords)
    spoken = _spread(_keyword_sentences(keywords, templates, options.min_occurrences, rng), rng)
    share = options.plain_share
    wanted = round(len(spoken) * share / (1 - share))
    plain = rng.sample(templates.plain, min(wanted, len(templates.plain)))
    total = len(spoken) + len(plain)
    slots = _plain_slots(total, len(plain), rng)
    keyword_texts, plain_texts = iter(s.text for s in spoken), iter(plain)
    return [next(plain_texts) if i in slots else next(keyword_texts) for i in range(total)]


# ---------------------------------------------------------------------------- coverage


@dataclass(frozen=True)
class KeywordCoverage:
    """How often a script says one keyword, and where: `positions` counts (start, middle, end). `too_rare`:
    fewer occurrences than wanted, or always in the same place (when at least two are wanted)."""

    term: str
    occurrences: int
    positions: tuple[int, int, int]
    too_rare: bool

    @property
    def distinct_positions(self) -> int:
        return sum(1 for n in self.positions if n)

    def as_dict(self) -> dict[str, int]:
        return dict(zip(POSITIONS, self.positions, strict=True))


@dataclass(frozen=True)
class Coverage:
    """A script judged against the keywords: per keyword, sentence and word counts, the reading time, warnings."""

    keywords: tuple[KeywordCoverage, ...]
    sentences: int
    plain_sentences: int
    words: int
    reading_seconds: float
    words_per_minute: float
    warnings: tuple[str, ...] = field(default=())

    @property
    def plain_share(self) -> float:
        return self.plain_sentences / self.sentences if self.sentences else 0.0

    def __getitem__(self, term: str) -> KeywordCoverage:
        for item in self.keywords:
            if item.term.casefold() == term.casefold():
                return item
        raise KeyError(term)


def _count_words(sentence: str) -> int:
    """Words as a reader says them: whitespace-separated pieces holding a letter or digit ("—" is no word)."""
    return sum(1 for piece in sentence.split() if _WORD.search(piece))


def coverage(sentences: Sequence[str], keywords: Sequence[Keyword],
             options: ScriptOptions = ScriptOptions()) -> Coverage:
    """Count every keyword in every sentence (written form, `core.vocabulary.find_keywords`) with its position;
    warn about keywords said too rarely or always in one place, a plain share far from the target, repeats."""
    keywords = _unique_keywords(keywords)
    counts = {k.term: [0, 0, 0] for k in keywords}
    plain = 0
    for sentence in sentences:
        matches = find_keywords(sentence, keywords)
        plain += not matches
        for match in matches:
            counts[match.term][POSITIONS.index(position_of(sentence, match.start, match.end))] += 1
    wanted_places = min(2, options.min_occurrences)
    per_keyword = tuple(KeywordCoverage(term, sum(c), (c[0], c[1], c[2]), sum(c) < options.min_occurrences
                                        or sum(1 for n in c if n) < wanted_places) for term, c in counts.items())
    words = sum(_count_words(s) for s in sentences)
    result = Coverage(per_keyword, len(sentences), plain, words, words * 60 / options.words_per_minute,
                      options.words_per_minute)
    return replace(result, warnings=tuple(_warnings(result, sentences, options)))


def _warnings(cov: Coverage, sentences: Sequence[str], options: ScriptOptions) -> Iterable[str]:
    if not cov.sentences:
        yield "the script has no sentences"
        return
    for item in cov.keywords:
        if item.occurrences < options.min_occurrences:
            times = "never" if not item.occurrences else f"only {_times(item.occurrences)}"
            yield f"{item.term!r} is said {times}; read it at least {_times(options.min_occurrences)}"
        elif item.too_rare:
            place = POSITIONS[next(i for i, n in enumerate(item.positions) if n)]
            yield f"{item.term!r} is always at the {place} of a sentence; put it elsewhere too"
    if abs(cov.plain_share - options.plain_share) > PLAIN_SHARE_SLACK:
        yield (f"{cov.plain_sentences} of {cov.sentences} sentences ({cov.plain_share:.0%}) have no keyword; "
               f"about {options.plain_share:.0%} keeps the recording ordinary speech too")
    first_seen: dict[str, int] = {}
    for number, sentence in enumerate(sentences, start=1):
        key = " ".join(sentence.split()).casefold()
        if key in first_seen:
            yield f"sentence {number} repeats sentence {first_seen[key]}"
        else:
            first_seen[key] = number


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def reading_time(seconds: float) -> str:
    """"4 min 5 s": how long a script takes to read, to the second."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def coverage_table(cov: Coverage) -> str:
    """A plain-text report: one line per keyword (times said, at start / middle / end, a mark when too rare),
    the totals with the reading time, then the warnings."""
    width = max([len("keyword"), *(len(k.term) for k in cov.keywords)])
    lines = [f"{'keyword':<{width}}  {'times':>5}  {'start':>5}  {'middle':>6}  {'end':>5}"]
    for item in cov.keywords:
        start, middle, end = item.positions
        mark = "  ! too rare" if item.too_rare else ""
        lines.append(f"{item.term:<{width}}  {item.occurrences:>5}  {start:>5}  {middle:>6}  {end:>5}{mark}")
    wpm = f"{cov.words_per_minute:g}"
    lines += ["", f"{cov.sentences} sentences ({cov.plain_sentences} plain, {cov.plain_share:.0%}), {cov.words} "
              f"words: about {reading_time(cov.reading_seconds)} to read at {wpm} words/min"]
    if cov.warnings:
        lines += ["", "warnings:", *(f"  - {w}" for w in cov.warnings)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- script files


def read_script(path: Path) -> list[str]:
    """A script file's sentences: one per non-blank line, `#` comment lines skipped, spaces tidied."""
    path = Path(path)
    text = _read_text(path, "script file")
    sentences = [" ".join(line.split()) for line in text.lstrip("\ufeff").splitlines()]
    sentences = [s for s in sentences if s and not s.startswith("#")]
    if not sentences:
        raise InputError(f"{path}: no sentences (one sentence per line)")
    return sentences


def write_script(path: Path, sentences: Sequence[str]) -> Path:
    """Write one sentence per line (atomically, trailing newline); refuses what would not read back the same:
    no sentences, a blank one, or one starting with '#' (a comment to `read_script`)."""
    lines = [" ".join(str(s).split()) for s in sentences]
    if not lines:
        raise InputError(f"no sentences to write to {path}")
    for number, line in enumerate(lines, start=1):
        if not line:
            raise InputError(f"sentence {number} is blank")
        if line.startswith("#"):
            raise InputError(f"sentence {number} starts with '#', which a script file reads as a comment")
    return atomic_write_text(Path(path), "\n".join(lines) + "\n")


# ---------------------------------------------------------------------------- a workspace's script

SCRIPT_FILE = "script.txt"  # a workspace's reading script, beside keywords.txt


def workspace_script(workspace: Workspace, options: ScriptOptions = ScriptOptions()) -> tuple[Path, bool, str]:
    """(path, written now, coverage table) of the workspace's script: made from its keywords the first time, and
    from then on reported as it stands (the user edits it freely)."""
    keywords = workspace.keywords()
    if not keywords:
        raise InputError("no keywords yet: add them in keywords.txt (screen 2, k) before writing a script")
    path = workspace.root / SCRIPT_FILE
    made = not path.is_file()
    sentences = make_script(keywords, options) if made else read_script(path)
    if made:
        write_script(path, sentences)
    return path, made, coverage_table(coverage(sentences, keywords, options))
