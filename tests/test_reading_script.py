"""Reading scripts: every keyword said often enough, in varied places and sentences, among plain speech; coverage of
any script, also a hand-edited one; the template and script files."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import InputError
from core.reading_script import (
    TEMPLATES_PATH,
    Coverage,
    ScriptOptions,
    coverage,
    coverage_table,
    load_templates,
    make_script,
    parse_templates,
    position_of,
    read_script,
    write_script,
)
from core.vocabulary import Keyword, find_keywords, load_keywords

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = load_keywords(ROOT / "sample_data" / "keywords.txt")
SEEDS = range(6)


@pytest.fixture(scope="module")
def script() -> list[str]:
    return make_script(KEYWORDS)


def plain_indices(sentences: list[str], keywords=KEYWORDS) -> list[int]:
    return [i for i, s in enumerate(sentences) if not find_keywords(s, keywords)]


# ---------------------------------------------------------------------------- the shipped templates


def test_shipped_templates_cover_every_position_and_plain_sentences_are_everyday_length() -> None:
    templates = load_templates()
    assert load_templates(TEMPLATES_PATH) == templates
    singles = Counter(t.positions[0] for t in templates.keyword if t.slots == 1)
    assert sum(singles.values()) >= 40
    assert all(singles[p] >= sum(singles.values()) / 4 for p in ("start", "middle", "end")), singles
    assert len(templates.plain) >= 30
    lengths = {p: len(p.split()) for p in templates.plain}
    assert all(8 <= n <= 16 for n in lengths.values()), lengths
    assert not any("{" in p or find_keywords(p, KEYWORDS) for p in templates.plain)
    assert not any(find_keywords(t.text, KEYWORDS) for t in templates.keyword)


# ---------------------------------------------------------------------------- making a script


@pytest.mark.parametrize("seed", SEEDS)
def test_every_sample_keyword_at_least_four_times_in_at_least_two_places(seed: int) -> None:
    options = ScriptOptions(seed=seed)
    cov = coverage(make_script(KEYWORDS, options), KEYWORDS, options)
    assert [k.term for k in cov.keywords] == [k.term for k in KEYWORDS]
    for item in cov.keywords:
        assert item.occurrences >= 4, item
        assert item.distinct_positions >= 2, item
        assert not item.too_rare
    assert cov.warnings == ()


def test_most_keywords_get_all_three_places(script: list[str]) -> None:
    cov = coverage(script, KEYWORDS)
    assert sum(item.distinct_positions == 3 for item in cov.keywords) >= len(KEYWORDS) - 1


@pytest.mark.parametrize("seed", SEEDS)
def test_about_a_third_plain_sentences_spread_through_the_script(seed: int) -> None:
    sentences = make_script(KEYWORDS, ScriptOptions(seed=seed))
    plain = plain_indices(sentences)
    assert 0.25 <= len(plain) / len(sentences) <= 0.45
    assert plain[0] < len(sentences) / 4 and plain[-1] >= len(sentences) * 3 / 4, plain
    assert max(b - a for a, b in zip([-1, *plain], [*plain, len(sentences)], strict=True)) <= 6, plain


def test_plain_share_follows_the_option() -> None:
    sentences = make_script(KEYWORDS, ScriptOptions(plain_share=0.0))
    assert plain_indices(sentences) == []
    sentences = make_script(KEYWORDS, ScriptOptions(plain_share=0.5))
    assert 0.45 <= len(plain_indices(sentences)) / len(sentences) <= 0.55


def test_the_same_seed_gives_the_same_script_and_another_seed_another(script: list[str]) -> None:
    assert make_script(KEYWORDS, ScriptOptions(seed=0)) == script
    assert make_script(list(KEYWORDS)) == script
    other = make_script(KEYWORDS, ScriptOptions(seed=1))
    assert other != script and set(other) != set(script)


def skeleton(sentence: str, keywords=KEYWORDS) -> str:
    """The template a sentence came from, as far as it shows: every keyword replaced by "_"."""
    for match in reversed(find_keywords(sentence, keywords)):
        sentence = sentence[:match.start] + "_" + sentence[match.end:]
    return sentence


@pytest.mark.parametrize("count", [4, 12])
@pytest.mark.parametrize("seed", SEEDS)
def test_no_sentence_twice_and_no_template_twice_for_one_keyword(seed: int, count: int) -> None:
    sentences = make_script(KEYWORDS, ScriptOptions(seed=seed, min_occurrences=count))
    assert len(set(sentences)) == len(sentences)
    for keyword in KEYWORDS:
        mine = [skeleton(s) for s in sentences if any(m.term == keyword.term for m in find_keywords(s, KEYWORDS))]
        assert len(mine) >= count and len(mine) == len(set(mine)), (keyword.term, mine)


@pytest.mark.parametrize("seed", SEEDS)
def test_templates_are_shared_out_evenly_and_neighbours_differ(seed: int) -> None:
    sentences = make_script(KEYWORDS, ScriptOptions(seed=seed))
    uses = Counter(skeleton(s) for s in sentences if find_keywords(s, KEYWORDS))
    assert max(uses.values()) <= 2, uses.most_common(3)  # 44 one-keyword templates for 40 mentions
    terms = [{m.term for m in find_keywords(s, KEYWORDS)} for s in sentences]
    assert not [(a, b) for a, b in zip(terms, terms[1:], strict=False) if a & b]  # never twice in a row


def test_keywords_appear_in_their_written_form_even_at_the_start() -> None:
    openers = set()
    for seed in SEEDS:
        for sentence in make_script(KEYWORDS, ScriptOptions(seed=seed)):
            for match in find_keywords(sentence, KEYWORDS):
                assert sentence[match.start:match.end] == match.term, sentence
                if match.start == 0:
                    openers.add(match.term)
    assert "safetensors" in openers  # lower-case, and it stays so


def test_plain_sentences_holding_a_keyword_are_left_out() -> None:
    keywords = [Keyword("Phi-2"), Keyword("coffee")]  # "The coffee shop on the corner ..." is a shipped plain one
    for seed in SEEDS:
        options = ScriptOptions(seed=seed, plain_share=0.9)  # asks for more plain sentences than there are
        sentences = make_script(keywords, options)
        cov = coverage(sentences, keywords, options)
        assert cov["coffee"].occurrences == 4
        assert not any("coffee shop" in s for s in sentences)


def test_duplicate_and_blank_keywords_count_once() -> None:
    keywords = [Keyword("Phi-2"), Keyword("phi-2"), Keyword(" "), Keyword("GGUF")]
    sentences = make_script(keywords)
    cov = coverage(sentences, keywords)
    assert [k.term for k in cov.keywords] == ["Phi-2", "GGUF"]
    assert all(k.occurrences == 4 for k in cov.keywords)


def test_a_single_keyword_and_more_occurrences() -> None:
    options = ScriptOptions(min_occurrences=9)
    cov = coverage(make_script([Keyword("Trelis")], options), [Keyword("Trelis")], options)
    assert cov["Trelis"].occurrences == 9 and cov["Trelis"].positions == (3, 3, 3)
    assert cov.warnings == ()


def test_user_templates_are_added_to_the_shipped_ones(tmp_path: Path) -> None:
    shipped = load_templates()
    singles = sum(t.slots == 1 for t in shipped.keyword)
    mine = tmp_path / "mine.txt"
    mine.write_text("# my own\n[keyword]\nOn the drive home I kept thinking about {k}.\n{k} is my pick for Friday.\n"
                    "[plain]\nThe bakery sold out of croissants before eight.\n"
                    "The hinge on the garden gate squeaks every time it moves.\n", encoding="utf-8")
    keywords = [Keyword("Phi-2")]  # one keyword: no two-keyword templates, so it takes every one-keyword template
    with pytest.raises(InputError, match="keyword templates"):
        make_script(keywords, ScriptOptions(min_occurrences=singles + 2, plain_share=0.5))
    options = ScriptOptions(min_occurrences=singles + 2, plain_share=0.5, extra_templates=mine)
    assert len(options.templates().keyword) == len(shipped.keyword) + 2
    assert options.templates().plain[-2:] == ("The bakery sold out of croissants before eight.",
                                              "The hinge on the garden gate squeaks every time it moves.")
    sentences = make_script(keywords, options)
    for text in ("On the drive home I kept thinking about Phi-2.", "Phi-2 is my pick for Friday.",
                 "The bakery sold out of croissants before eight.",
                 "The hinge on the garden gate squeaks every time it moves."):
        assert text in sentences
    assert coverage(sentences, keywords, options)["Phi-2"].occurrences == singles + 2
    assert len(set(sentences)) == len(sentences)


def test_a_place_without_templates_left_is_made_up_in_another(tmp_path: Path) -> None:
    singles = sum(t.slots == 1 for t in load_templates().keyword)
    mine = tmp_path / "openers.txt"
    mine.write_text("".join(f"{{k}} opens sentence number {n}.\n" for n in range(3)), encoding="utf-8")
    keywords = [Keyword("Phi-2")]
    options = ScriptOptions(min_occurrences=singles + 3, extra_templates=mine)  # more starts, fewer middles
    for seed in SEEDS:
        sentences = make_script(keywords, replace(options, seed=seed))
        item = coverage(sentences, keywords, options)["Phi-2"]
        assert item.occurrences == singles + 3 and not item.too_rare
        assert len(set(sentences)) == len(sentences)


# ---------------------------------------------------------------------------- coverage of any script


@pytest.mark.parametrize(("sentence", "place"), [
    ("Phi-2 is here.", "start"),
    ('"Phi-2," she said.', "start"),
    ("We use Phi-2 daily.", "middle"),
    ("I like Phi-2.", "end"),
    ("Is it Phi-2?!", "end"),
    ("It is phi 2", "end"),
])
def test_position_of_a_keyword_in_a_sentence(sentence: str, place: str) -> None:
    (match,) = find_keywords(sentence, ["Phi-2"])
    assert position_of(sentence, match.start, match.end) == place


def test_a_hand_edited_script_reports_the_keyword_it_lost(tmp_path: Path, script: list[str]) -> None:
    path = write_script(tmp_path / "script.txt", script)
    lines = path.read_text(encoding="utf-8").splitlines()
    only_phi = [i for i, line in enumerate(lines) if [m.term for m in find_keywords(line, KEYWORDS)] == ["Phi-2"]]
    kept = [line for i, line in enumerate(lines) if i not in only_phi[1:]]  # the user deleted all but one
    path.write_text("# my edit\n\n" + "\n".join(kept) + "\n", encoding="utf-8")
    cov = coverage(read_script(path), KEYWORDS)
    said = sum("Phi-2" in line for line in kept)
    assert said < 4 and cov["Phi-2"].occurrences == said and cov["Phi-2"].too_rare
    assert [k.term for k in cov.keywords if k.too_rare] == ["Phi-2"]
    assert any(w.startswith("'Phi-2' is said only") for w in cov.warnings), cov.warnings
    table = coverage_table(cov)
    assert [line.split("  ")[0] for line in table.splitlines() if "too rare" in line] == ["Phi-2"]
    assert "'Phi-2' is said only" in table


def test_a_keyword_always_in_the_same_place_is_too_rare() -> None:
    sentences = [f"LoRA {rest}." for rest in ("is fast", "is small", "is cheap", "is popular")]
    sentences += ["We walked home in the rain and talked about nothing much."] * 2
    cov = coverage(sentences, [Keyword("LoRA")])
    assert cov["LoRA"].occurrences == 4 and cov["LoRA"].positions == (4, 0, 0) and cov["LoRA"].too_rare
    assert any("always at the start" in w for w in cov.warnings)
    assert any("sentence 6 repeats sentence 5" in w for w in cov.warnings)
    assert cov.plain_sentences == 2
    assert not coverage(sentences, [Keyword("LoRA")], ScriptOptions(min_occurrences=1))["LoRA"].too_rare


def test_a_script_without_plain_sentences_is_warned_about() -> None:
    sentences = ["LoRA is fast.", "We like LoRA a lot.", "It all ran on LoRA.", "LoRA again, and we love LoRA."]
    cov = coverage(sentences, [Keyword("LoRA")])
    assert cov["LoRA"].occurrences == 5 and cov["LoRA"].positions == (2, 1, 2) and not cov["LoRA"].too_rare
    assert cov.plain_share == 0 and any("have no keyword" in w for w in cov.warnings)


def test_reading_time_is_words_at_150_a_minute(script: list[str]) -> None:
    cov = coverage(script, KEYWORDS)
    words = sum(len(s.split()) for s in script)
    assert cov.words == words and cov.sentences == len(script)
    assert cov.reading_seconds == pytest.approx(words / 150 * 60)
    minutes, seconds = divmod(round(words / 150 * 60), 60)
    assert f"about {minutes} min {seconds} s to read at 150 words/min" in coverage_table(cov)
    slow = coverage(script, KEYWORDS, ScriptOptions(words_per_minute=100))
    assert slow.reading_seconds == pytest.approx(words / 100 * 60)
    assert "at 100 words/min" in coverage_table(slow)


def test_coverage_table_lists_every_keyword_with_its_counts(script: list[str]) -> None:
    cov = coverage(script, KEYWORDS)
    table = coverage_table(cov)
    rows = {line.split("  ")[0]: line.split()[-4:] for line in table.splitlines()[1:len(KEYWORDS) + 1]}
    assert list(rows) == [k.term for k in KEYWORDS]
    for item in cov.keywords:
        assert rows[item.term] == [str(n) for n in (item.occurrences, *item.positions)]
    assert "too rare" not in table and "warnings" not in table
    assert f"{cov.sentences} sentences ({cov.plain_sentences} plain" in table


def test_empty_script_coverage() -> None:
    cov = coverage([], KEYWORDS)
    assert isinstance(cov, Coverage) and cov.sentences == cov.words == 0 and cov.reading_seconds == 0
    assert cov.warnings[0] == "the script has no sentences" and all(k.too_rare for k in cov.keywords)


# ---------------------------------------------------------------------------- files


def test_script_files_round_trip(tmp_path: Path, script: list[str]) -> None:
    path = tmp_path / "out" / "script.txt"
    assert write_script(path, script) == path
    text = path.read_text(encoding="utf-8")
    assert text.endswith(".\n") and text.count("\n") == len(script)
    assert read_script(path) == script
    write_script(path, ["One short line.", "  Two   spaced\tout  "])
    assert read_script(path) == ["One short line.", "Two spaced out"]
    assert not list(path.parent.glob(".*.tmp"))


def test_read_script_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("\ufeff# read slowly\n\nFirst one.\n   # indented comment\nSecond one.\n\n", encoding="utf-8")
    assert read_script(path) == ["First one.", "Second one."]


def test_template_format() -> None:
    templates = parse_templates("# c\n{k} leads here.\nNo slot before any header.\n[plain]\nPlain one.\n"
                                "[KEYWORD]\nWe tried {k} and then {k2}.\nA middle {k} one.\n")
    assert [(t.text, t.positions) for t in templates.keyword] == [
        ("{k} leads here.", ("start",)), ("We tried {k} and then {k2}.", ("middle", "end")),
        ("A middle {k} one.", ("middle",))]
    assert templates.plain == ("No slot before any header.", "Plain one.")
    assert templates.keyword[1].fill("Phi-2", "GGUF") == "We tried Phi-2 and then GGUF."


@pytest.mark.parametrize(("text", "message"), [
    ("[keyword]\nNo slot here.\n", "line 2: a keyword template needs"),
    ("[keyword]\n{k} and {k} again.\n", "exactly once"),
    ("[keyword]\nOnly {k2} here.\n", "exactly once"),
    ("[keyword]\nWe like {kw}.\n", "unknown placeholder {kw}"),
    ("[plain]\nWe like {k}.\n", "plain sentence with a placeholder"),
    ("[verbs]\nRun.\n", "unknown section"),
])
def test_bad_template_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(message)):
        load_templates(path)


@pytest.mark.parametrize("make", [
    lambda: make_script([]),
    lambda: make_script([Keyword("  ")]),
    lambda: ScriptOptions(min_occurrences=0),
    lambda: ScriptOptions(min_occurrences=-3),
    lambda: ScriptOptions(plain_share=1.0),
    lambda: ScriptOptions(plain_share=-0.1),
    lambda: ScriptOptions(words_per_minute=0),
    lambda: make_script(KEYWORDS, ScriptOptions(min_occurrences=500)),
    lambda: make_script(KEYWORDS, ScriptOptions(extra_templates=Path("/nonexistent/mine.txt"))),
    lambda: write_script(Path("/tmp/never-written.txt"), []),
    lambda: write_script(Path("/tmp/never-written.txt"), ["fine", "   "]),
    lambda: write_script(Path("/tmp/never-written.txt"), ["# looks like a comment"]),
])
def test_bad_inputs_give_one_line_input_errors(make) -> None:
    with pytest.raises(InputError) as err:
        make()
    assert "\n" not in str(err.value) and str(err.value)


@pytest.mark.parametrize("content", [None, b"", b"# only a comment\n\n", b"caf\xe9 au lait\n"])
def test_unreadable_script_files(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "script.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_script(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    with pytest.raises(InputError):
        load_templates(path)


def test_script_command_writes_a_script_and_reports_its_coverage(tmp_path: Path) -> None:
    """`whisper-tui script` as a user runs it: the file, then the coverage table (every sample keyword ≥ 4 times in
    ≥ 2 places); `--check` reports on a script the user edited and writes nothing."""
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "core.cli", "script", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    out = tmp_path / "script.txt"
    result = cli("sample_data/keywords.txt", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert read_script(out) == make_script(KEYWORDS) == read_script(ROOT / "sample_data" / "script" / "script.txt")
    rows = {line[:12].strip(): [int(n) for n in line[12:].split()] for line in result.stdout.splitlines()[1:11]}
    assert set(rows) == {k.term for k in KEYWORDS}
    for term, (times, *places) in rows.items():
        assert times >= 4 and sum(places) == times and sum(1 for n in places if n) >= 2, term
    assert re.search(r"54 sentences \(18 plain, 33%\), \d+ words: about 3 min \d+ s to read", result.stdout)

    edited = tmp_path / "edited.txt"
    edited.write_text("\n".join(s for s in read_script(out) if "GGUF" not in s) + "\n", encoding="utf-8")
    result = cli("sample_data/keywords.txt", "--check", str(edited))
    assert result.returncode == 0, result.stderr
    assert re.search(r"^GGUF +0 +0 +0 +0  ! too rare$", result.stdout, re.MULTILINE)
    assert "'GGUF'" in result.stdout.split("warnings:")[1]
    result = cli("sample_data/keywords.txt", "-o", str(tmp_path / "x.txt"), "--min", "0")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.txt", "script.txt"]
