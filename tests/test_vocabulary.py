"""Keywords: whole-term matching, count-based recall, and correction suggestions for mis-heard jargon."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import captions as caps
from core.captions import Cue, Word
from core.editing import EditSession
from core.errors import InputError
from core.vocabulary import (
    MIN_SCORE,
    Keyword,
    apply_suggestion,
    apply_suggestions,
    count_keywords,
    find_keywords,
    keyword_findings,
    keyword_recall,
    load_keywords,
    readings,
    sound_keys,
    suggest,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_KEYWORDS = load_keywords(ROOT / "sample_data" / "keywords.txt")
TERMS = ("Mixtral 8x7B", "Llama 70B", "Phi-2", "llama.cpp", "GPT-4o", "OpenChat", "LoRA", "GGUF")


def found(text: str, keywords=TERMS) -> list[tuple[str, str]]:
    """(text as written, keyword) for every match."""
    return [(text[m.start:m.end], m.term) for m in find_keywords(text, keywords)]


def squash(text: str) -> str:
    """Case and separators as the matcher ignores them (separators at a keyword's ends do not count)."""
    return re.sub(r"[\s\-\u2010\u2011]+", " ", text).strip().casefold()


# ---------------------------------------------------------------------------- matching


def test_terms_with_inner_punctuation_match_whole_and_case_insensitively():
    text = "Mixtral 8x7B beats llama 70b; run GPT-4o or phi-2 under llama.cpp."
    assert found(text) == [("Mixtral 8x7B", "Mixtral 8x7B"), ("llama 70b", "Llama 70B"), ("GPT-4o", "GPT-4o"),
                           ("phi-2", "Phi-2"), ("llama.cpp", "llama.cpp")]


@pytest.mark.parametrize("text", ["Phi-23", "Phi-2.5", "Phi-2b", "xPhi-2", "GPT-4omni", "llama.cppx",
                                  "llama.cpp.so", "Mixtral 8 x 7 b", "mixtral 8x7", "Llama 70", "Llama 70Bn"])
def test_no_match_inside_a_longer_term(text):
    assert found(text) == []


@pytest.mark.parametrize(("text", "written"), [
    ("use llama.cpp.", "llama.cpp"), ("Phi-2, then", "Phi-2"), ("(Phi-2)", "Phi-2"), ('"GPT-4o"?', "GPT-4o"),
    ("LoRA-based", "LoRA"), ("OpenChat's score", "OpenChat"), ("tiny-Phi-2 model", "Phi-2"),
])
def test_trailing_punctuation_and_hyphenated_compounds(text, written):
    assert [w for w, _ in found(text)] == [written]


def test_separators_are_flexible_only_where_the_keyword_has_one():
    assert found("llama-70B and LLAMA  70B and Phi 2 and GPT 4o") == [
        ("llama-70B", "Llama 70B"), ("LLAMA  70B", "Llama 70B"), ("Phi 2", "Phi-2"), ("GPT 4o", "GPT-4o")]
    # "open chat" is not OpenChat (no separator to be flexible about): suggest() offers it instead
    assert found("open chat, Open-Chat, openchat") == [("openchat", "OpenChat")]
    assert found("Phi2 and Llama70B") == []


def test_a_match_always_case_folds_to_the_keyword():
    # Python's regex folds case one character at a time: "İ" would match "I", "Straße" never "STRASSE"
    assert found("straße, STRASSE; İstanbul, Istanbul", ["Straße", "İstanbul"]) == [
        ("straße", "Straße"), ("İstanbul", "İstanbul")]


def test_overlapping_keywords_the_longest_wins():
    keywords = ["Llama", "Llama 70B", "70B"]
    assert found("Llama 70B, then Llama alone, then 70B", keywords) == [
        ("Llama 70B", "Llama 70B"), ("Llama", "Llama"), ("70B", "70B")]
    assert count_keywords("Llama 70B and llama", keywords) == Counter({"Llama 70B": 1, "Llama": 1})


@settings(max_examples=300, deadline=None)
@given(text=st.text(), keywords=st.lists(st.sampled_from(TERMS + ("İ", "ß", "ſ")) | st.text(min_size=1), max_size=4))
def test_matcher_never_raises_and_spans_map_back_to_their_term(text, keywords):
    matches = find_keywords(text, keywords)
    previous_end = 0
    for m in matches:
        assert previous_end <= m.start < m.end <= len(text)
        assert squash(text[m.start:m.end]) == squash(m.term)
        previous_end = m.end


@settings(max_examples=200, deadline=None)
@given(before=st.text(alphabet="ab -.,8x7BPhi2", max_size=20), after=st.text(alphabet="ab -.,8x7BPhi2", max_size=20),
       keyword=st.sampled_from(SAMPLE_KEYWORDS), upper=st.booleans())
def test_a_keyword_between_spaces_is_always_found(before, after, keyword, upper):
    term = keyword.term.upper() if upper else keyword.term
    text = f"{before} {term} {after}"
    start = len(before) + 1
    assert (start, start + len(term)) in [(m.start, m.end) for m in find_keywords(text, SAMPLE_KEYWORDS)]


# ---------------------------------------------------------------------------- recall


def test_recall_is_count_based_per_keyword_and_overall():
    result = keyword_recall("Mixtral 8x7B and Phi-2, Phi-2 and Phi-2.", "mixtral 8x7b, phi 2, Phi-23 and LoRA LoRA",
                            ["Mixtral 8x7B", "Phi-2", "LoRA", "GGUF"])
    assert [(k.term, k.reference, k.hypothesis, k.hits) for k in result.per_keyword] == [
        ("Mixtral 8x7B", 1, 1, 1), ("Phi-2", 3, 1, 1), ("LoRA", 0, 2, 0), ("GGUF", 0, 0, 0)]
    assert result["phi-2"].recall == pytest.approx(1 / 3) and result["LoRA"].recall is None
    assert (result.hits, result.reference, result.overall) == (2, 4, 0.5)


def test_recall_over_aligned_pairs_sums_per_pair_hits():
    refs, hyps = ["We use LoRA.", "Export to GGUF."], ["We use GGUF.", "Export to LoRA."]
    assert keyword_recall(refs, hyps, ["LoRA", "GGUF"]).overall == 0.0  # right words, wrong places
    assert keyword_recall(" ".join(refs), " ".join(hyps), ["LoRA", "GGUF"]).overall == 1.0
    assert keyword_recall(refs, refs, ["LoRA", "GGUF"]).overall == 1.0


def test_recall_as_plain_data():
    data = keyword_recall("LoRA and GGUF", "LoRA", ["LoRA", "GGUF"]).as_dict()
    assert data["overall"] == 0.5 and data["per_keyword"][1] == {
        "term": "GGUF", "reference": 1, "hypothesis": 0, "hits": 0, "recall": 0.0}
    assert json.loads(json.dumps(data)) == data


def test_recall_edge_cases():
    assert keyword_recall("no jargon here", "none", ["LoRA"]).overall is None
    assert keyword_recall([], [], ["LoRA"]).overall is None
    with pytest.raises(InputError, match="aligned"):
        keyword_recall(["a", "b"], ["a"], ["LoRA"])
    with pytest.raises(KeyError):
        keyword_recall("LoRA", "LoRA", ["LoRA"])["GGUF"]


# ---------------------------------------------------------------------------- how text sounds


def test_readings_spell_digits_and_letters():
    assert readings("8x7B")[0] == "eight by seven bee"
    assert "seventy" in readings("Llama 70B")[0] and "seven zero" in " ".join(readings("70"))
    assert "jee jee you ef" in readings("GGUF")
    assert readings("Mr. Smith")[0] == "mister smith"


@pytest.mark.parametrize(("a", "b"), [("Phi-2", "fie two"), ("LoRA", "llora"), ("Unsloth", "unsluff"),
                                      ("Mixtral", "mix trawl"), ("GGUF", "gee gee you eff")])
def test_sound_alike_spellings_share_a_key(a, b):
    assert set(sound_keys(a)) & set(sound_keys(b))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_sound_keys_never_raise(text):
    assert all(re.fullmatch("[a-z0]+", k) for k in sound_keys(text))


# ---------------------------------------------------------------------------- suggestions


def pairs(text: str) -> list[tuple[str, str]]:
    return [(s.original, s.term) for s in suggest(text, SAMPLE_KEYWORDS)]


@pytest.mark.parametrize(("text", "expected"), [
    ("I fine tuned open chat with a llora adapter.", [("open chat", "OpenChat"), ("llora", "LoRA")]),
    ("Our friends at Trellis explain it.", [("Trellis", "Trelis")]),
    ("Download safe tensor files.", [("safe tensor", "safetensors")]),
    ("We compare mixture 8 by 7b and llama 70v.", [("mixture 8 by 7b", "Mixtral 8x7B"), ("llama 70v", "Llama 70B")]),
    ("Export it to GGFF, then ask Unsoft.", [("GGFF", "GGUF"), ("Unsoft", "Unsloth")]),
])
def test_mis_hearings_are_found(text, expected):
    assert pairs(text) == expected


def test_listed_mis_hearing_and_same_letters_score_highest():
    listed, spaced = suggest("The Trellis video on open chat.", SAMPLE_KEYWORDS)
    assert (listed.score, spaced.score) == (0.97, 0.98)
    assert "listed" in listed.reason and "letters" in spaced.reason


def test_a_hyphen_that_glued_the_span_to_a_word_becomes_a_space():
    (s,) = suggest("the tiny-5-2 model", SAMPLE_KEYWORDS)
    assert (s.original, s.replacement, s.term) == ("-5-2", " Phi-2", "Phi-2")
    assert apply_suggestion(Cue(0, 1000, "the tiny-5-2 model"), s).text == "the tiny Phi-2 model"


@pytest.mark.parametrize("name", ["train", "validation", "control"])
def test_correct_captions_get_no_suggestions(name):
    """The reference captions are right: every suggestion on them would be a false positive."""
    assert suggest(caps.read(ROOT / "sample_data" / f"{name}.vtt"), SAMPLE_KEYWORDS) == []


def test_spans_that_are_already_keywords_or_only_function_words_are_left_alone():
    assert pairs("Llama 70B and LLAMA-70B run GGUF files.") == []
    assert pairs("I do it to the two of them.") == []


def test_sources_and_indices():
    cues = [Cue(0, 1000, "all fine"), Cue(1000, 2000, "open chat and llora")]
    assert [(s.index, s.term) for s in suggest(cues, SAMPLE_KEYWORDS)] == [(1, "OpenChat"), (1, "LoRA")]
    assert [s.index for s in suggest(["x", "llora"], SAMPLE_KEYWORDS)] == [1]
    assert suggest(caps.Captions(cues=cues), SAMPLE_KEYWORDS) == suggest(cues, SAMPLE_KEYWORDS)
    assert suggest(cues[1], SAMPLE_KEYWORDS)[0].index == 0
    assert suggest("llora", []) == [] and suggest("", SAMPLE_KEYWORDS) == []
    assert [s.term for s in suggest("llora", ["LoRA"], min_score=0.99)] == []


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
       | st.lists(st.sampled_from(["open", "chat", "5-2", "llora", "mixture", "8-5-7B", "the", "-", ".", " ",
                                   "Trellis", "LoRA", "euF"]), max_size=12).map(" ".join))
def test_suggestions_never_overlap_and_always_apply(text):
    cue = Cue(0, 1000, caps.clean_text(text))
    found_here = suggest(cue, SAMPLE_KEYWORDS)
    for s in found_here:
        assert 0 <= s.start < s.end <= len(cue.text) and cue.text[s.start:s.end] == s.original
        assert MIN_SCORE <= s.score <= 1
    spans = sorted((s.start, s.end) for s in found_here)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    (fixed,) = apply_suggestions([cue], found_here)
    assert (fixed.start, fixed.end) == (cue.start, cue.end)


# ---------------------------------------------------------------------------- applying


def test_applying_changes_text_only_and_keeps_word_timing():
    words = (Word(100, 400, "Right"), Word(400, 800, "now,"), Word(800, 1300, "llora"), Word(1300, 1900, "works."))
    cue = Cue(100, 1900, "Right now, llora works.", id="c7", words=words, settings="align:start")
    (s,) = suggest(cue, SAMPLE_KEYWORDS)
    fixed = apply_suggestion(cue, s)
    assert fixed.text == "Right now, LoRA works."
    assert (fixed.start, fixed.end, fixed.id, fixed.settings) == (cue.start, cue.end, cue.id, cue.settings)
    assert [(w.start, w.end, w.text) for w in fixed.words][2] == (800, 1300, "LoRA")


def test_apply_many_in_one_cue_and_refuse_stale_ones():
    cue = Cue(0, 5000, "open chat with a llora adapter, in GGFF")
    found_here = suggest(cue, SAMPLE_KEYWORDS)
    (fixed,) = apply_suggestions([cue], found_here)
    assert fixed.text == "OpenChat with a LoRA adapter, in GGUF" and (fixed.start, fixed.end) == (0, 5000)
    with pytest.raises(InputError, match="changed"):
        apply_suggestions([fixed], found_here[:1])
    with pytest.raises(InputError, match="cue 5"):
        apply_suggestions([cue], [found_here[0].__class__(**{**found_here[0].__dict__, "index": 4})])


def test_a_suggestion_is_an_undoable_edit():
    session = EditSession([Cue(0, 1000, "hello"), Cue(1000, 2000, "try open chat now")])
    (s,) = suggest(session.cues, SAMPLE_KEYWORDS)
    session.apply(s.as_edit())
    assert session.cues[1].text == "try OpenChat now" and session.cues[1].start == 1000
    session.undo()
    assert session.cues[1].text == "try open chat now"


# ---------------------------------------------------------------------------- validator findings


def test_keyword_findings_plug_into_validate():
    cues = [Cue(0, 2000, "fine tuning open chat"), Cue(2500, 4000, "nothing here")]
    findings = caps.validate(cues, extra=keyword_findings(cues, SAMPLE_KEYWORDS))
    (finding,) = findings
    assert (finding.severity, finding.code, finding.index, finding.start) == ("warning", "keyword-suspect", 0, 0)
    assert "'open chat'" in finding.message and "'OpenChat'" in finding.message


# ---------------------------------------------------------------------------- acceptance: the real draft


@pytest.fixture(scope="session")
def train_draft(model_cache) -> caps.Captions:
    """The bundled model's draft of train.mp3 with the default engine (faster-whisper int8, beam 5)."""
    from core.transcribe import transcribe_file

    return transcribe_file(ROOT / "sample_data" / "train.mp3", "tiny.en")


def recovery(draft: list[Cue], reference: list[Cue], keywords: list[Keyword]) -> dict[str, int]:
    """Apply every suggestion to the draft and count, region by region, what that fixed.

    Draft and reference cues do not line up one to one, so each draft cue belongs to the reference
    cue it overlaps most in time (a region). Per region and keyword:
      wrong     = reference count − draft count (when positive): occurrences the model got wrong;
      recovered = min(corrected count, reference count) − min(draft count, reference count).
    A suggestion is useful while its region still needs that keyword; the rest (a keyword the reference
    does not have there, or one too many) are false positives: precision = useful / all suggestions.
    """
    region = [max(range(len(reference)), key=lambda r: min(d.end, reference[r].end) - max(d.start, reference[r].start))
              for d in draft]
    suggestions = suggest(draft, keywords)
    corrected = apply_suggestions(draft, suggestions)
    totals = Counter(suggestions=len(suggestions))
    for r, ref in enumerate(reference):
        def count(cues: list[Cue], r: int = r) -> Counter:
            return sum((count_keywords(c.text, keywords) for c, g in zip(cues, region, strict=True) if g == r),
                       Counter())

        wanted, before, after = count_keywords(ref.text, keywords), count(draft), count(corrected)
        inserted = Counter(s.term for s in suggestions if region[s.index] == r)
        for k in keywords:
            term = k.term
            assert after[term] == before[term] + inserted[term]  # each applied suggestion really is a match now
            need = max(0, wanted[term] - before[term])
            totals["wrong"] += need
            totals["recovered"] += min(after[term], wanted[term]) - min(before[term], wanted[term])
            totals["useful"] += min(need, inserted[term])
    return totals


def test_suggestions_recover_most_mis_heard_keywords_in_the_real_draft(train_draft, samples):
    reference = caps.read(samples / "train.vtt").cues
    started = time.perf_counter()
    totals = recovery(train_draft.cues, reference, SAMPLE_KEYWORDS)
    took = time.perf_counter() - started
    recall, precision = totals["recovered"] / totals["wrong"], totals["useful"] / max(totals["suggestions"], 1)
    print(f"\ntrain draft: {totals['wrong']} wrong keyword occurrences, {totals['recovered']} recovered "
          f"({recall:.0%}); {totals['useful']}/{totals['suggestions']} suggestions useful ({precision:.0%}); "
          f"{took:.2f} s")
    assert totals["wrong"] >= 10  # the model really does get the jargon wrong
    assert recall >= 0.70 and precision >= 0.80
    assert took < 5


def test_check_subcommand_warns_about_keyword_suspects(tmp_path):
    draft = tmp_path / "draft.vtt"
    draft.write_text("WEBVTT\n\n00:01.000 --> 00:04.000\nI fine tuned open chat with a llora adapter.\n\n"
                     "00:04.500 --> 00:06.000\nMixtral 8x7B is fine.\n")
    run = [sys.executable, "-m", "core.cli", "check", str(draft), "--keywords", "sample_data/keywords.txt"]
    result = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr  # warnings only: still usable for training
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{draft}:3: warning [keyword-suspect] cue 1 (00:00:01.000): 'open chat' may be a "
                               "mis-hearing of 'OpenChat'")
    assert "'llora' may be a mis-hearing of 'LoRA'" in lines[1]
    assert lines[-1] == f"{draft}: 2 cues, 0 errors, 2 warnings (usable for training)"
    report = json.loads(subprocess.run([*run, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120).stdout)
    assert [(f["code"], f["index"]) for f in report["findings"]] == [("keyword-suspect", 0)] * 2
