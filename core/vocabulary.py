"""Keywords: the user's list of terms Whisper should learn, how to find them in text, how well a
transcript got them (recall), and which spans of a draft are probably mis-hearings of them.

Nothing here uses Whisper's English normaliser: it rewrites jargon ("Mixtral 8x7B" → "mixtral 8 x 7 b",
"GPT-4o" → "gpt 40"), so it is for WER only. Keywords are matched as written (see `find_keywords`).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Indel

from core.captions import Captions, Cue, Finding
from core.editing import EditText, ReplaceSpan
from core.errors import InputError

MAX_KEYWORD_CHARS = 200  # a term or a mis-heard form; real ones are a few words


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
        longest = max((term, *misheard), key=len)
        if len(longest) > MAX_KEYWORD_CHARS:  # matching a megabyte "term" takes minutes: not a keyword list
            raise InputError(f"{source}: line {number}: a keyword of {len(longest)} characters (at most "
                             f"{MAX_KEYWORD_CHARS}); one keyword per line")
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


# ---------------------------------------------------------------------------- matching
#
# Keywords are matched literally, never through Whisper's English normaliser (which turns "Mixtral 8x7B"
# into "mixtral 8 x 7 b" and "GPT-4o" into "gpt 40"). The rules, kept few so the TUI's highlights are
# predictable:
# - case-insensitive;
# - a run of spaces/hyphens inside the keyword matches any run of spaces/hyphens in the text ("Llama 70B"
#   matches "llama-70B", "Phi-2" matches "phi 2"), but no separator is invented: "open chat" is not
#   "OpenChat" (that is what `suggest` is for);
# - a whole term: no letter, digit or underscore right before or after it, and no ".x" continuing it, so
#   "Phi-2" is not in "Phi-23" or "Phi-2.5" while "llama.cpp." at a sentence end and "Phi-2," match;
# - a hyphen outside the term separates words, so "LoRA-based" contains LoRA;
# - where keywords overlap ("Llama" and "Llama 70B"), the longer one at the leftmost place wins.

_SEPARATORS = "\\s\\-\u2010\u2011"  # whitespace, hyphen-minus, hyphen, non-breaking hyphen
_BEFORE = r"(?<!\w)(?<!\w\.)"
_AFTER = r"(?!\w)(?!\.\w)"


@dataclass(frozen=True)
class KeywordMatch:
    """A keyword found in text: `text[start:end]` (character offsets), for highlighting and counting."""

    start: int
    end: int
    keyword: Keyword

    @property
    def term(self) -> str:
        return self.keyword.term


KeywordLike = Keyword | str


def _as_keywords(keywords: Iterable[KeywordLike]) -> tuple[Keyword, ...]:
    return tuple(k if isinstance(k, Keyword) else Keyword(" ".join(str(k).split())) for k in keywords)


@lru_cache(maxsize=4096)
def term_pattern(term: str) -> re.Pattern[str]:
    """The compiled whole-term pattern for one keyword (rules above)."""
    parts = [re.escape(p) for p in re.split(f"[{_SEPARATORS}]+", term) if p]
    body = f"[{_SEPARATORS}]+".join(parts) if parts else re.escape(term)
    return re.compile(f"{_BEFORE}(?:{body}){_AFTER}", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _fold(text: str) -> str:
    """Text as matching compares it: separator runs as one space, Unicode case folded."""
    return " ".join(p for p in re.split(f"[{_SEPARATORS}]+", text) if p).casefold()


def find_keywords(text: str, keywords: Iterable[KeywordLike]) -> list[KeywordMatch]:
    """Every keyword occurrence in `text`, in order and never overlapping (longest wins, then list order).

    The regex's case-insensitivity is checked against full Unicode case folding, so that a match always
    reads as the keyword ("İ" is not "I")."""
    found = [KeywordMatch(m.start(), m.end(), k)
             for k in _as_keywords(keywords) if k.term for m in term_pattern(k.term).finditer(text)
             if m.end() > m.start() and _fold(m.group()) == _fold(k.term)]
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    chosen: list[KeywordMatch] = []
    for match in found:
        if not chosen or match.start >= chosen[-1].end:
            chosen.append(match)
    return chosen


def count_keywords(text: str, keywords: Iterable[KeywordLike]) -> Counter[str]:
    """Occurrences per keyword term (as `find_keywords` sees them); keywords not found are absent."""
    return Counter(m.term for m in find_keywords(text, keywords))


# ---------------------------------------------------------------------------- recall


@dataclass(frozen=True)
class KeywordScore:
    """One keyword's counts: occurrences in the reference and hypothesis, and hits (count-based:
    min(reference, hypothesis), per aligned text pair, summed)."""

    term: str
    reference: int
    hypothesis: int
    hits: int

    @property
    def recall(self) -> float | None:
        """hits / reference occurrences; None when the reference never says the keyword."""
        return self.hits / self.reference if self.reference else None


@dataclass(frozen=True)
class KeywordRecall:
    """Keyword recall over a whole text (or aligned text pairs): overall and per keyword."""

    per_keyword: tuple[KeywordScore, ...]

    @property
    def hits(self) -> int:
        return sum(k.hits for k in self.per_keyword)

    @property
    def reference(self) -> int:
        return sum(k.reference for k in self.per_keyword)

    @property
    def overall(self) -> float | None:
        """Sum of hits / sum of reference occurrences; None when no keyword occurs in the reference."""
        return self.hits / self.reference if self.reference else None

    def __getitem__(self, term: str) -> KeywordScore:
        for score in self.per_keyword:
            if score.term.casefold() == term.casefold():
                return score
        raise KeyError(term)

    def as_dict(self) -> dict:
        """Plain data for report.json: totals and each keyword's counts and recall."""
        return {"overall": self.overall, "hits": self.hits, "reference": self.reference,
                "per_keyword": [{**asdict(k), "recall": k.recall} for k in self.per_keyword]}


def keyword_recall(reference: str | Sequence[str], hypothesis: str | Sequence[str],
                   keywords: Iterable[KeywordLike]) -> KeywordRecall:
    """Count-based keyword recall. Lists are aligned pairs (e.g. per cue): hits are taken per pair and
    summed, so a keyword said in the wrong place does not count as a hit."""
    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise InputError(f"keyword recall needs aligned texts: {len(refs)} references, {len(hyps)} hypotheses")
    keywords = _as_keywords(keywords)
    totals = {k.term: [0, 0, 0] for k in keywords}
    for ref, hyp in zip(refs, hyps, strict=True):
        ref_counts, hyp_counts = count_keywords(ref, keywords), count_keywords(hyp, keywords)
        for term, total in totals.items():
            total[0] += ref_counts[term]
            total[1] += hyp_counts[term]
            total[2] += min(ref_counts[term], hyp_counts[term])
    return KeywordRecall(tuple(KeywordScore(term, *counts) for term, counts in totals.items()))


# ---------------------------------------------------------------------------- how text sounds
#
# Whisper mis-hears jargon as ordinary words that sound alike ("Mixtral 8x7B" → "mixture 8-5-7B", "Phi-2"
# → "5-2", "LoRA" → "llora"), so suggestions compare *sound keys*. Text is first read aloud as words:
# digits as number words (both "seventy" and "seven zero" for 70), "x" between digits as "by" or "ex",
# all-caps or oddly cased pieces both as a word and letter by letter ("GGUF" → "jee jee you ef"), "Mr."
# as "mister". Each word is then reduced to a consonant skeleton in the spirit of Metaphone: spellings
# of one sound share a letter (ph → f, soft c → s, ch/sh/j/soft g → j), voiced and voiceless pairs merge
# (b/p, d/t, g/k, v/f, z/s) and so do th and f after a word's start ("Unsloth" → "Unsuff"), because a
# small model confuses them; silent letters go, and every vowel run becomes one "a" so that syllables
# still count. Keys are compared by normalized indel similarity (2 × common subsequence / total length).



def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ONES = _words("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
               "sixteen seventeen eighteen nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_LETTER_NAMES = dict(zip(string.ascii_lowercase, _words(
    "ay bee see dee ee ef jee aitch eye jay kay el em en oh pee cue ar es tee you vee doubleyou ex why zee"
), strict=True))
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "st": "saint", "vs": "versus"}
_RESPELL = {"one": "wun", "two": "too", "once": "wunce"}  # number words the rules below would get wrong
_ATOM = re.compile(r"\d+|[^\W\d_]+")  # a run of (decimal) digits or of letters
_MAX_READINGS = 16

# (pattern, replacement) on a lower-case ASCII word, in order. Y and W are placeholders for the
# consonants y and w, which must survive the vowel step.
_SOUND_RULES = [(re.compile(p), r) for p, r in (
    (r"^[kgp]n", "n"), (r"^wr", "r"), (r"^ps", "s"), (r"^x", "s"), (r"^wh", "w"), (r"(?<!^)gh", ""),
    (r"ph", "f"), (r"^th", "0"), (r"th", "f"), (r"tch|dg|[cs]h|zh", "j"), (r"ck", "k"), (r"qu", "kw"), (r"x", "ks"),
    (r"c(?=[eiy])", "s"), (r"g(?=[eiy])", "j"), (r"[cqg]", "k"), (r"b", "p"), (r"d", "t"), (r"v", "f"),
    (r"z", "s"), (r"h", ""), (r"^y(?=[aeiou])", "Y"), (r"(?<![aeiouy])w(?=[aeiouy])", "W"), (r"[aeiouyw]+", "a"),
)]
_SILENT_E = re.compile(r"(?<=[aeiouy][^aeiouy])e$|(?<=[aeiouy][^aeiouy]{2})e$")  # "five", "paste"; not "the"


def _ascii_letters(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if "a" <= c <= "z")


@lru_cache(maxsize=65536)
def sound_key(word: str) -> str:
    """A word's consonant skeleton ("mixture" → "makstar", "Phi" → "fa"); see the section comment."""
    key = _ascii_letters(word)
    key = _SILENT_E.sub("", _RESPELL.get(key, key))
    for pattern, replacement in _SOUND_RULES:
        key = pattern.sub(replacement, key)
    return _squeeze(key.lower())


def _squeeze(key: str) -> str:
    """Collapse repeated letters ("ll" → "l", the "a" of two vowel runs that meet across words)."""
    return re.sub(r"(.)\1+", r"\1", key)


def _cardinal(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return f"{_ONES[n // 100]} hundred" + ("" if n % 100 == 0 else " " + _cardinal(n % 100))
    return f"{_cardinal(n // 1000)} thousand" + ("" if n % 1000 == 0 else " " + _cardinal(n % 1000))


def _number_readings(digits: str) -> tuple[str, ...]:
    """"70" → ("seventy", "seven zero"): ASR writes "eight five seven" as 857 and "seventy" as 70."""
    values = [int(d) for d in digits]
    by_digit = " ".join(_ONES[v] for v in values)
    if len(values) == 1 or values[0] == 0 or len(values) > 6:
        return (by_digit,)
    return (_cardinal(int("".join(map(str, values)))), by_digit)


def _atom_readings(text: str, atoms: list[re.Match[str]], index: int) -> tuple[str, ...]:
    atom = atoms[index]
    word = atom.group()
    if word.isdecimal():
        return _number_readings(word)
    low = word.lower()
    if low in _ABBREVIATIONS and text[atom.end():atom.end() + 1] == ".":
        return (_ABBREVIATIONS[low],)
    if low == "x" and 0 < index < len(atoms) - 1 and atoms[index - 1].group().isdecimal() \
            and atoms[index + 1].group().isdecimal() and atoms[index - 1].end() == atom.start() == \
            atoms[index + 1].start() - 1:
        return ("by", "ex")  # 8x7B, 1920x1080
    spelled = " ".join(_LETTER_NAMES[c] for c in _ascii_letters(word))
    if len(word) == 1:
        return (spelled, low)
    if word.isupper() or any(c.isupper() for c in word[1:]):
        return (low, spelled)  # an acronym or odd casing: a word or letters
    return (low,)


def readings(text: str) -> list[str]:
    """Ways to read `text` aloud as plain words, most literal first ("8x7B" → "eight by seven bee", …);
    at most 16, later pieces keep only their first reading when there would be more."""
    atoms = list(_ATOM.finditer(text))
    out = [""]
    for index in range(len(atoms)):
        options = _atom_readings(text, atoms, index)
        if len(out) * len(options) > _MAX_READINGS:
            options = options[:1]
        out = [f"{head} {option}".strip() for head in out for option in options]
    return out


def sound_keys(text: str) -> tuple[str, ...]:
    """The sound keys of every reading of `text`, without duplicates ("Phi-2" → ("fata",))."""
    return _keys(readings(text))


def _keys(spoken: Iterable[str]) -> tuple[str, ...]:
    keys = (_squeeze("".join(sound_key(w) for w in reading.split())) for reading in spoken)
    return tuple(dict.fromkeys(k for k in keys if k))


# ---------------------------------------------------------------------------- suggestions
#
# Every run of 1-4 words (and of sub-word pieces: "tiny-5-2" holds "5-2") that does not touch a keyword
# already in the text is scored against every keyword:
#   score = 0.6 × sound similarity + 0.4 × spelling similarity (of the letters and of the readings)
#           − 0.12 × share of its pieces that are common English words
#           − 0.08 per function word at either end,
# and spans that are nothing but function words are skipped. Exactly the keyword's letters with other
# spacing ("open chat") scores 0.98, a form listed in keywords.txt ("Trellis") 0.97. Per cue, the best
# spans at or above MIN_SCORE win, never overlapping. The threshold was chosen on the sample drafts and
# checked against plain English (the control recording, the reference captions, licence texts): there
# the best-scoring ordinary words stay below 0.7.

SOUND_WEIGHT = 0.6  # how much sounding alike counts against looking alike
COMMON_PENALTY = 0.12  # for a span made only of common words ("opened" is rarely a mis-heard "OpenChat")
EDGE_PENALTY = 0.08  # per function word at either end ("lore as" → "LoRA" would eat the "as")
SAME_LETTERS, LISTED = 0.98, 0.97
MIN_SCORE = 0.7
_SPAN_WORDS = 4  # at most this many words (whitespace-separated) in a span
_SPAN_PIECES = 8  # and this many letter/digit runs ("8-5-7B" is three)
_PIECE = re.compile(r"[^\W_]+")
_GAP = re.compile("[\\s\\-\u2010\u2011'\u2019.]*")  # what a span may cross between two pieces
_SENTENCE_END = re.compile(r"\.\s")

# Words that are not mis-hearings on their own (a span of only these is skipped) and rarely part of one.
_FUNCTION_WORDS = frozenset(_words(
    "a an the and or but nor so yet of to in on at by for with from as into onto over under up down out off "
    "is are was were be been being am do does did have has had it its this that these those there here i you he "
    "she we they me him her us them my your his our their what which who whom whose how when where why if then "
    "than not no all any some can could will would shall should may might must just also very too s t d ll re ve"))


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Lower-case words that Whisper's own BPE vocabulary (the bundled tiny.en) spells as one piece:
    about 25,000 of the most common English words. Mis-heard jargon mostly comes out as rarer pieces
    ("llora", "Unsuff", "euF"), so a span of common words needs a closer match. Empty when the bundled
    model is not installed (then no span is penalised as common)."""
    from core.models import BUNDLED

    try:
        path = BUNDLED["tiny.en"].source_dirs()[0] / "vocabulary.txt"
        tokens = path.read_text(encoding="utf-8").splitlines()
    except (InputError, OSError, UnicodeDecodeError):
        return frozenset()
    return frozenset(t[1:].lower() for t in tokens if t.startswith("\u0120") and t[1:].isalpha())


@dataclass(frozen=True)
class Suggestion:
    """`original` (= text[start:end] of cue `index`) is probably a mis-hearing of `term`; `score` 0-1.

    `replacement` is what goes in its place: the term, with a space where a hyphen glued the span to
    a neighbouring word ("tiny-5-2" → "tiny Phi-2").
    """

    index: int
    start: int
    end: int
    original: str
    term: str
    score: float
    reason: str
    replacement: str

    def as_edit(self) -> ReplaceSpan:
        """The undoable edit that applies this suggestion (text only; timing untouched)."""
        return ReplaceSpan(self.index, self.start, self.end, self.replacement)


@dataclass(frozen=True)
class _Form:
    """Text prepared for comparison: its letters, its readings as letters, and its sound keys."""

    letters: str
    spellings: tuple[str, ...]
    keys: tuple[str, ...]


def _letters(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


def _form(*texts: str) -> _Form:
    spoken = [readings(text) for text in texts]
    spellings = (_letters(t) for text, said in zip(texts, spoken, strict=True) for t in (text, *said))
    keys = (k for said in spoken for k in _keys(said))
    return _Form(_letters(texts[0]), tuple(dict.fromkeys(s for s in spellings if s)), tuple(dict.fromkeys(keys)))


class _Targets:
    """The keywords prepared once per `suggest` call and flattened, so that a span is compared with all
    of them in two rapidfuzz calls. A keyword's listed mis-hearings count as more of its forms."""

    _NONE = ("#",)  # stands in for a keyword with no sound keys (all CJK, say): no key or spelling is like it

    def __init__(self, keywords: Sequence[Keyword]) -> None:
        self.terms = [k.term for k in keywords]
        self.exact: dict[str, tuple[float, int, str]] = {}  # letters -> (score, keyword index, reason)
        for index, keyword in reversed(list(enumerate(keywords))):  # the first keyword wins a tie
            self.exact.update({_letters(m): (LISTED, index, f"listed mis-hearing {m!r}") for m in keyword.misheard})
        for index, keyword in reversed(list(enumerate(keywords))):
            self.exact[_letters(keyword.term)] = (SAME_LETTERS, index, "the keyword's letters, spaced differently")
        forms = [_form(k.term, *k.misheard) for k in keywords]
        self.keys, self.key_starts = self._flatten([f.keys for f in forms])
        self.spellings, self.spelling_starts = self._flatten([f.spellings for f in forms])

    @classmethod
    def _flatten(cls, groups: list[tuple[str, ...]]) -> tuple[list[str], np.ndarray]:
        groups = [g or cls._NONE for g in groups]
        starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
        return [x for g in groups for x in g], starts

    def best(self, span: _Form, penalty: float) -> tuple[float, str, str]:
        """(score, term, reason) of the keyword the span most likely is a mis-hearing of."""
        if span.letters in self.exact:
            score, index, reason = self.exact[span.letters]
            return score, self.terms[index], reason
        sound = self._similarity(span.keys, self.keys, self.key_starts)
        spelling = self._similarity(span.spellings, self.spellings, self.spelling_starts)
        scores = SOUND_WEIGHT * sound + (1 - SOUND_WEIGHT) * spelling - penalty
        index = int(scores.argmax())
        return float(scores[index]), self.terms[index], f"sounds {sound[index]:.0%} and looks " \
                                                        f"{spelling[index]:.0%} like it"

    def _similarity(self, queries: Sequence[str], choices: list[str], starts: np.ndarray) -> np.ndarray:
        """Per keyword, the best indel similarity between any query and any of its choices."""
        if not queries:
            return np.zeros(len(starts))
        matrix = process.cdist(queries, choices, scorer=Indel.normalized_similarity)
        return np.maximum.reduceat(matrix.max(axis=0), starts)


def _penalty(pieces: list[str], common: Collection[str]) -> float:
    """Common words make a real phrase likelier; function words at the edges are likely really said."""
    usual = sum(p in common for p in pieces) / len(pieces)
    edges = (pieces[0] in _FUNCTION_WORDS) + (len(pieces) > 1 and pieces[-1] in _FUNCTION_WORDS)
    return COMMON_PENALTY * usual + EDGE_PENALTY * edges


def _spans(text: str, taken: Sequence[KeywordMatch]) -> Iterable[tuple[int, int]]:
    """Candidate (start, end) spans: consecutive pieces (≤ _SPAN_PIECES, within ≤ _SPAN_WORDS words)
    crossing only spaces, hyphens, apostrophes and periods that do not end a sentence, and touching no
    keyword already in the text."""
    pieces = [m.span() for m in _PIECE.finditer(text)]
    for first, (start, _) in enumerate(pieces):
        words = 1
        for last in range(first, min(first + _SPAN_PIECES, len(pieces))):
            end = pieces[last][1]
            if last > first:
                gap = text[pieces[last - 1][1]:pieces[last][0]]
                if not _GAP.fullmatch(gap) or (_SENTENCE_END.search(gap) and text[pieces[last][0]].isupper()):
                    break
                words += any(c.isspace() for c in gap)
                if words > _SPAN_WORDS:
                    break
            if any(m.start < end and start < m.end for m in taken):
                break
            yield start, end


Texts = str | Cue | Captions | Sequence[Cue] | Sequence[str]


def _texts(source: Texts) -> list[str]:
    """Cue texts in order: a plain string or one Cue is cue 0; a sequence of strings is cues in order."""
    if isinstance(source, str | Cue):
        source = [source]
    elif isinstance(source, Captions):
        source = source.cues
    return [item if isinstance(item, str) else item.text for item in source]


def suggest(source: Texts, keywords: Iterable[KeywordLike], min_score: float = MIN_SCORE,
            common: Collection[str] | None = None) -> list[Suggestion]:
    """Spans of cue text that are probably mis-hearings of a keyword, in cue and text order, never
    overlapping each other or a keyword already in the text (see the section comment for the score).

    `common` is the set of lower-case common words (default: `common_words()`).
    """
    keywords = [k for k in _as_keywords(keywords) if _letters(k.term)]
    if not keywords:
        return []
    targets = _Targets(keywords)
    common = common_words() if common is None else common
    out: list[Suggestion] = []
    for index, text in enumerate(_texts(source)):
        out += _suggest_in(index, text, targets, keywords, min_score, common)
    return out


def _suggest_in(index: int, text: str, targets: _Targets, keywords: list[Keyword], min_score: float,
                common: Collection[str]) -> list[Suggestion]:
    found: list[Suggestion] = []
    for start, end in _spans(text, find_keywords(text, keywords)):
        span = text[start:end]
        pieces = [p.casefold() for p in _PIECE.findall(span)]
        if all(p in _FUNCTION_WORDS for p in pieces):
            continue
        score, term, reason = targets.best(_form(span), _penalty(pieces, common))
        if score >= min_score:
            found.append(_suggestion(index, text, start, end, term, score, reason))
    found.sort(key=lambda s: (-s.score, s.start - s.end, s.start))
    chosen: list[Suggestion] = []
    for candidate in found:
        if all(candidate.end <= c.start or c.end <= candidate.start for c in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda s: s.start)


def _suggestion(index: int, text: str, start: int, end: int, term: str, score: float, reason: str) -> Suggestion:
    replacement = term
    if start >= 2 and text[start - 1] == "-" and text[start - 2].isalnum():
        start, replacement = start - 1, " " + replacement
    if end + 1 < len(text) and text[end] == "-" and text[end + 1].isalnum():
        end, replacement = end + 1, replacement + " "
    return Suggestion(index, start, end, text[start:end], term, round(min(score, 1.0), 3), reason, replacement)


def apply_suggestion(cue: Cue, suggestion: Suggestion) -> Cue:
    """The cue with one suggestion applied: only the text changes, never the timing."""
    return apply_suggestions([cue], [replace(suggestion, index=0)])[0]


def apply_suggestions(cues: Sequence[Cue], suggestions: Iterable[Suggestion]) -> list[Cue]:
    """Apply many suggestions at once (right to left within a cue, so offsets stay valid). InputError
    when one no longer fits its cue (the text changed since) or two overlap; timing is never touched."""
    cues = list(cues)
    by_cue: dict[int, list[Suggestion]] = {}
    for s in suggestions:
        by_cue.setdefault(s.index, []).append(s)
    for index, group in sorted(by_cue.items()):
        if not 0 <= index < len(cues):
            raise InputError(f"a suggestion for cue {index + 1}, but there are {len(cues)} cues")
        text, limit = cues[index].text, len(cues[index].text)
        for s in sorted(group, key=lambda s: s.start, reverse=True):
            if s.end > limit or text[s.start:s.end] != s.original:
                raise InputError(f"cue {index + 1} has changed: {s.original!r} is no longer at {s.start}-{s.end}")
            text, limit = text[: s.start] + s.replacement + text[s.end:], s.start
        cues[index] = EditText(index, text).apply(cues)[index]
    return cues


# ---------------------------------------------------------------------------- validator findings


def keyword_findings(captions: Captions | Sequence[Cue], keywords: Iterable[KeywordLike],
                     min_score: float = MIN_SCORE) -> list[Finding]:
    """`keyword-suspect` warnings for `validate(extra=...)`: each suggestion, naming the span and the keyword."""
    cues = captions.cues if isinstance(captions, Captions) else list(captions)
    return [Finding("warning", "keyword-suspect", f"{s.original.strip(' -')!r} may be a mis-hearing of {s.term!r} "
                    f"({s.reason}; score {s.score:.2f})", s.index, start=cues[s.index].start)
            for s in suggest(cues, keywords, min_score)]
