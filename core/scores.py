"""Scores of aligned (reference, hypothesis) texts: WER, CER, keyword recall and the top word substitutions.

The metrics (`normalize`, `score_texts`) are pure and fast: the trainer computes its eval metrics with them,
so a number in the training table means the same as one in the evaluation report (core/evaluate.py).

WER and CER are measured on Whisper's normalised text (its English normaliser with the spelling map, so
"colour" = "color" and "It's" = "it is"); keyword recall on the raw text (see core/vocabulary.py: the
normaliser would turn "Mixtral 8x7B" into "mixtral 8 x 7 b").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

from core.errors import InputError
from core.vocabulary import KeywordLike, KeywordRecall, keyword_recall

TOP_SUBSTITUTIONS = 15


@lru_cache(maxsize=2)
def _normalizer(english: bool) -> Callable[[str], str]:
    if english:
        from whisper_normalizer.english import EnglishTextNormalizer

        return EnglishTextNormalizer()
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer()


def normalize(text: str, english: bool = True) -> str:
    """Text as WER sees it: Whisper's English normaliser (numbers, contractions, US spelling), or its
    basic one for other languages; single spaces. Never for keyword matching."""
    return " ".join(_normalizer(english)(text).split())


@dataclass(frozen=True)
class Substitution:
    """A reference word the model wrote as another word, and how often (normalised text)."""

    reference: str
    hypothesis: str
    count: int


@dataclass(frozen=True)
class TextScores:
    """Word and character error rates (fractions) with their counts, keyword recall and top substitutions."""

    wer: float
    cer: float
    reference_words: int
    hypothesis_words: int
    substitutions: int
    deletions: int
    insertions: int
    keywords: KeywordRecall
    top_substitutions: tuple[Substitution, ...] = ()

    @property
    def recall(self) -> float | None:
        """Overall keyword recall; None when no keyword occurs in the references."""
        return self.keywords.overall

    def as_dict(self) -> dict:
        return {"wer": self.wer, "cer": self.cer, "recall": self.recall, "reference_words": self.reference_words,
                "hypothesis_words": self.hypothesis_words, "substitutions": self.substitutions,
                "deletions": self.deletions, "insertions": self.insertions, "keywords": self.keywords.as_dict(),
                "top_substitutions": [asdict(s) for s in self.top_substitutions]}


def _error_rate(errors: int, reference_units: int) -> float:
    """errors / reference length; with an empty reference, any output is 100 % wrong and none is 0 %."""
    if reference_units:
        return errors / reference_units
    return 1.0 if errors else 0.0


def score_texts(references: Sequence[str], hypotheses: Sequence[str], keywords: Iterable[KeywordLike] = (),
                english: bool = True, top: int = TOP_SUBSTITUTIONS) -> TextScores:
    """Score aligned (reference, hypothesis) pairs: WER/CER over all pairs on normalised text, keyword recall
    per pair on raw text, and the `top` most frequent word substitutions."""
    import jiwer

    if isinstance(references, str) or isinstance(hypotheses, str):
        raise TypeError("score_texts takes lists of texts (aligned pairs), not one string")
    if len(references) != len(hypotheses):
        raise InputError(f"cannot score {len(references)} references against {len(hypotheses)} hypotheses")
    recall = keyword_recall(list(references), list(hypotheses), keywords)
    refs = [normalize(t, english) for t in references]
    hyps = [normalize(t, english) for t in hypotheses]
    if not refs:
        return TextScores(0.0, 0.0, 0, 0, 0, 0, 0, recall)
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    ref_words = sum(len(r) for r in words.references)
    ref_chars = sum(len(r) for r in chars.references)
    word_errors = words.substitutions + words.deletions + words.insertions
    char_errors = chars.substitutions + chars.deletions + chars.insertions
    return TextScores(
        wer=_error_rate(word_errors, ref_words), cer=_error_rate(char_errors, ref_chars),
        reference_words=ref_words, hypothesis_words=sum(len(h) for h in words.hypotheses),
        substitutions=words.substitutions, deletions=words.deletions, insertions=words.insertions,
        keywords=recall, top_substitutions=_top_substitutions(words, top))


def _top_substitutions(output, top: int) -> tuple[Substitution, ...]:
    """Count (reference word → hypothesis word) pairs in jiwer's alignment; most frequent first, then A-Z."""
    pairs: Counter[tuple[str, str]] = Counter()
    for ref, hyp, chunks in zip(output.references, output.hypotheses, output.alignments, strict=True):
        for chunk in chunks:
            if chunk.type == "substitute":
                pairs.update(zip(ref[chunk.ref_start_idx:chunk.ref_end_idx],
                                 hyp[chunk.hyp_start_idx:chunk.hyp_end_idx], strict=True))
    ranked = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Substitution(r, h, n) for (r, h), n in ranked[:top])
