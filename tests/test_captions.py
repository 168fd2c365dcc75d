"""Reading, writing and validating captions: exact round trips, nothing dropped silently."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core import captions as caps
from core.captions import Captions, Cue, Finding, ParseProblem, Word
from core.errors import InputError

GOOD = "WEBVTT\n\n00:01.000 --> 00:02.500\nfirst cue\n\n00:03.000 --> 00:04.000\nsecond cue\n"


def cues_of(text: str, fmt: str = "vtt") -> list[tuple[int, int, str]]:
    return [(c.start, c.end, c.text) for c in caps.parse(text, fmt).cues]


def codes(captions: Captions) -> list[tuple[int, str, str]]:
    return [(p.line, p.code, p.severity) for p in captions.problems]


# ---------------------------------------------------------------------------- reading


def test_sample_captions_load_whole(samples):
    captions = caps.read(samples / "train.vtt")
    assert len(captions) == 17 and captions.problems == []
    assert (captions.cues[0].start, captions.cues[0].end) == (300, 8307)
    assert captions.cues[0].text.startswith("Welcome back to the show")
    assert captions.cue_lines[:2] == [3, 6]


def test_malformed_timestamp_among_good_cues_is_reported_with_its_line():
    text = GOOD.replace("\n\n00:03.000", "\n\n00:02.600 --> 00:0x.900\nbroken\n\n00:03.000")
    captions = caps.parse(text)
    assert [c.text for c in captions.cues] == ["first cue", "second cue"]
    assert codes(captions) == [(6, "bad-timestamp", "error")]
    assert "00:0x.900" in captions.problems[0].message
    assert "broken" in captions.problems[0].block


def test_bom_and_crlf_read_like_plain_lf():
    assert cues_of("\ufeff" + GOOD.replace("\n", "\r\n")) == cues_of(GOOD)
    assert cues_of(GOOD.replace("\n", "\r")) == cues_of(GOOD)


@pytest.mark.parametrize("arrow", ["->", "—>", "–>", "=>", "--->"])
def test_arrow_typos_are_read_with_a_warning(arrow):
    captions = caps.parse(GOOD.replace("00:03.000 -->", f"00:03.000 {arrow}"))
    assert [c.text for c in captions.cues] == ["first cue", "second cue"]
    assert codes(captions) == [(6, "arrow", "warning")]
    assert repr(arrow) in captions.problems[0].message


def test_arrow_typos_are_counted_once():
    text = "WEBVTT\n\n" + "".join(f"00:0{i}.000 -> 00:0{i}.500\ncue {i}\n\n" for i in range(1, 5))
    captions = caps.parse(text)
    assert len(captions) == 4
    assert codes(captions) == [(3, "arrow", "warning")] and "4 times" in captions.problems[0].message


def test_arrow_without_spaces_is_valid_webvtt():
    captions = caps.parse(GOOD.replace(" --> ", "-->"))
    assert cues_of(GOOD.replace(" --> ", "-->")) == cues_of(GOOD) and captions.problems == []


def test_hours_and_no_hours():
    text = "WEBVTT\n\n01:02:03.004 --> 1:02:04.000\nlate\n\n59:59.999 --> 01:00:00.000\nedge\n"
    assert cues_of(text) == [(3_723_004, 3_724_000, "late"), (3_599_999, 3_600_000, "edge")]


def test_cue_settings_ids_and_multiline_text():
    text = "WEBVTT\n\nintro\n00:01.000 --> 00:02.000 align:start position:10%\nline one\n  line two  \n"
    captions = caps.parse(text)
    assert captions.cues == [Cue(1000, 2000, "line one line two", "intro", settings="align:start position:10%")]
    assert "intro\n00:01.000 --> 00:02.000 align:start position:10%\nline one line two" in caps.to_vtt(captions.cues)


def test_note_style_region_blocks_are_not_cues_and_the_header_is_kept():
    header = "WEBVTT - a title\nKind: captions"
    style = "STYLE\n::cue { color: yellow }"
    region = "REGION\nid:fred width:40%"
    text = f"{header}\n\n{style}\n\n{region}\n\nNOTE a comment\n\n00:01.000 --> 00:02.000\nhi\n\nNOTE\nlater\n\n" \
           "00:03.000 --> 00:04.000\nthere\n"
    captions = caps.parse(text)
    assert [c.text for c in captions.cues] == ["hi", "there"] and captions.problems == []
    assert captions.header == (header, style, region, "NOTE a comment")
    written = caps.render(captions, "vtt")
    assert written.startswith(f"{header}\n\n{style}\n\n{region}\n\nNOTE a comment\n\n00:01.000 --> 00:02.000\nhi\n")
    assert caps.parse(written).header == captions.header


def test_empty_cue_text_is_a_cue():
    assert cues_of("WEBVTT\n\n00:01.000 --> 00:02.000\n\n00:03.000 --> 00:04.000\nx\n") == [
        (1000, 2000, ""), (3000, 4000, "x")]


def test_missing_blank_line_between_cues_reads_both():
    captions = caps.parse("WEBVTT\n\n00:01.000 --> 00:02.000\nhi\n7\n00:03.000 --> 00:04.000\nthere\n")
    assert [(c.text, c.id) for c in captions.cues] == [("hi", ""), ("there", "7")]
    assert codes(captions) == [(6, "missing-blank", "warning")]


def test_missing_blank_line_after_header():
    captions = caps.parse("WEBVTT\n00:01.000 --> 00:02.000\nhi\n")
    assert [c.text for c in captions.cues] == ["hi"] and captions.header == ("WEBVTT",)
    assert codes(captions) == [(2, "header-blank", "warning")]


def test_stray_text_is_an_error_and_the_cue_still_loads():
    captions = caps.parse("WEBVTT\n\nsome stray words\n3\n00:01.000 --> 00:02.000\nhi\n\nlonely text\n")
    assert [(c.text, c.id) for c in captions.cues] == [("hi", "3")]
    assert codes(captions) == [(3, "stray-text", "error"), (8, "no-timing", "error")]


def test_srt_passed_as_vtt_says_so():
    srt = "1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n00:00:03,000 --> 00:00:04,000\nworld\n"
    captions = caps.parse(srt, "vtt")
    assert [c.text for c in captions.cues] == ["hello", "world"]
    assert codes(captions) == [(1, "wrong-format", "warning")] and "SRT" in captions.problems[0].message
    assert "WebVTT" in caps.parse(GOOD, "srt").problems[0].message


def test_vtt_without_header_is_read_with_a_warning():
    captions = caps.parse(GOOD.removeprefix("WEBVTT\n\n"))
    assert len(captions) == 2 and codes(captions) == [(1, "no-header", "warning")]


def test_srt_decimal_point_and_missing_index_lines():
    captions = caps.parse("00:00:01.000 --> 00:00:02,000\nhi\n\n00:00:03,000 --> 00:00:04,000\nthere\n", "srt")
    assert [(c.start, c.text) for c in captions.cues] == [(1000, "hi"), (3000, "there")]
    assert codes(captions) == [(1, "decimal-marker", "warning")]


@pytest.mark.parametrize(("text", "fmt"), [
    ("hello world\nthis is prose", "vtt"), ("", "vtt"), ("NOTE only a note", "vtt"), ("1\n2\n3", "srt"),
])
def test_not_captions_at_all_is_one_input_error(text, fmt):
    with pytest.raises(InputError) as err:
        caps.parse(text, fmt, "x." + fmt)
    assert "\n" not in str(err.value) and str(err.value).startswith("x.")


def test_empty_srt_and_header_only_vtt_have_no_cues():
    assert caps.parse("", "srt").cues == [] and caps.parse("WEBVTT\n").cues == []


def test_read_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="not found"):
        caps.read(tmp_path / "missing.vtt")
    (tmp_path / "latin.vtt").write_bytes(b"WEBVTT\n\n00:01.000 --> 00:02.000\ncaf\xe9\n")
    with pytest.raises(InputError, match="not UTF-8"):
        caps.read(tmp_path / "latin.vtt")
    (tmp_path / "bad.json").write_text('{"segments": [{"start": "x"}]}')
    with pytest.raises(InputError, match="not a whisper-tui JSON"):
        caps.read(tmp_path / "bad.json")


def test_timestamps():
    assert caps.format_timestamp(62_003) == "01:02.003"
    assert caps.format_timestamp(3_723_004) == "01:02:03.004"
    assert caps.format_timestamp(1, always_include_hours=True, decimal_marker=",") == "00:00:00,001"
    assert caps.parse_timestamp(" 1:02:03,004 ") == 3_723_004
    with pytest.raises(ValueError):
        caps.parse_timestamp("1:2:3.4")


# ---------------------------------------------------------------------------- writing

CUES = [Cue(0, 1500, "Hello there.", "a"),
        Cue(1500, 3_723_004, "Mixtral 8x7B --> GGUF", words=(Word(1500, 2000, "M"),))]


def test_vtt_follows_openai_whisper():
    assert caps.to_vtt(CUES) == ("WEBVTT\n\na\n00:00.000 --> 00:01.500\nHello there.\n\n"
                                 "00:01.500 --> 01:02:03.004\nMixtral 8x7B -> GGUF\n\n")
    assert caps.to_vtt([]) == "WEBVTT\n"


def test_srt_follows_openai_whisper():
    assert caps.to_srt(CUES) == ("1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
                                 "2\n00:00:01,500 --> 01:02:03,004\nMixtral 8x7B -> GGUF\n\n")


def test_txt_and_json(tmp_path):
    captions = Captions(cues=CUES, language="en")
    assert caps.to_txt(CUES) == "Hello there.\nMixtral 8x7B -> GGUF\n"
    data = json.loads(caps.to_json(captions))
    assert data["language"] == "en" and data["segments"][1]["words"][0] == {
        "word": "M", "start": 1.5, "end": 2.0, "probability": None}
    path = caps.write(captions, tmp_path / "out.json")
    assert caps.read(path).cues == CUES


def test_write_picks_format_from_extension_and_rejects_unknown(tmp_path):
    captions = Captions(cues=CUES)
    assert caps.read(caps.write(captions, tmp_path / "a.srt")).cues[0] == Cue(0, 1500, "Hello there.")
    with pytest.raises(InputError, match="unknown caption format"):
        caps.write(captions, tmp_path / "a.doc")
    assert caps.parse_formats("srt, vtt,srt") == ["srt", "vtt"] and caps.parse_formats("all") == list(caps.FORMATS)


def test_clean_text_is_the_valid_text_contract():
    assert caps.clean_text("  two\nlines\t here ") == "two lines here"
    assert caps.clean_text("a --> b ---> c") == "a -> b -> c"
    assert "-->" not in caps.clean_text("a--->b")


# ---------------------------------------------------------------------------- properties

# Valid cue text: what clean_text leaves unchanged (one stripped line, single spaces, no "-->").
valid_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30).map(caps.clean_text)
valid_ids = valid_text  # an id follows the same contract as text
valid_settings = st.sampled_from(["", "align:start", "position:10% line:0"])
times = st.tuples(st.integers(0, 30_000_000), st.integers(1, 600_000)).map(lambda t: (t[0], t[0] + t[1]))


@st.composite
def cue_lists(draw, with_ids: bool) -> list[Cue]:
    spans = draw(st.lists(times, max_size=8))
    return [Cue(start, end, draw(valid_text), draw(valid_ids) if with_ids else "",
                settings=draw(valid_settings) if with_ids else "") for start, end in spans]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cue_lists(with_ids=True))
def test_vtt_round_trip_is_exact(cues):
    captions = caps.parse(caps.to_vtt(cues))
    assert captions.cues == cues and captions.problems == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cue_lists(with_ids=False))
def test_srt_round_trip_is_exact(cues):
    captions = caps.parse(caps.to_srt(cues), "srt")
    assert captions.cues == cues and captions.problems == []


caption_fragments = st.sampled_from([
    "WEBVTT", "NOTE", "STYLE", "1", "00:01.000 --> 00:02.000", "00:00:01,000 --> 00:00:02,000", "00:01.000 -> 2",
    "-->", "x --> y", "99:99.999 --> 00:00.000", "00:01.000-->00:02.000 align:start", "", " ", "\r", "\ufeff",
    "text", "—>", "0:0.0 => 1:1.1",
])
caption_like = st.lists(st.one_of(caption_fragments, st.text(max_size=12)), max_size=14).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), caption_like), st.sampled_from(["vtt", "srt"]))
def test_any_text_gives_captions_or_one_input_error(text, fmt):
    try:
        captions = caps.parse(text, fmt)
    except InputError as err:
        assert "\n" not in str(err)
        return
    for cue in captions.cues:
        assert caps.clean_text(cue.text) == cue.text and cue.start >= 0
    assert all(p.line >= 1 and p.severity in ("error", "warning") for p in captions.problems)
    assert len(captions.cue_lines) == len(captions.cues)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(), st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=5),
                                         lambda kids: st.lists(kids) | st.dictionaries(st.sampled_from(
                                             ["segments", "start", "end", "text", "words", "word"]), kids),
                                         max_leaves=12).map(json.dumps)))
def test_any_json_gives_captions_or_one_input_error(text):
    try:
        captions = caps.from_json(text)
    except InputError as err:
        assert "\n" not in str(err) and "not a whisper-tui JSON transcript" in str(err)
        return
    segments = json.loads(text)["segments"]  # a parse succeeds only on a dict with a segments list
    assert [c.text for c in captions.cues] == [s["text"] for s in segments]
    assert [(c.start, c.end) for c in captions.cues] == [(round(s["start"] * 1000), round(s["end"] * 1000))
                                                         for s in segments]
    assert all(type(c.start) is int and c.start >= 0 and type(c.end) is int and c.end >= 0 for c in captions.cues)
    assert [len(c.words) for c in captions.cues] == [len(s.get("words") or ()) for s in segments]
    written = caps.to_json(captions)
    assert caps.to_json(caps.from_json(written)) == written  # what was read writes back stably


# A transcript in the documented layout where each field is right or, now and then, wrong on purpose: the test
# knows the answer (the exact cues, or an error) without asking the parser.
json_time = st.one_of(st.integers(0, 10**9).map(lambda ms: (ms / 1000, ms)),  # (seconds with a fraction, ms)
                      st.integers(0, 10**6).map(lambda s: (s, s * 1000)))  # whole seconds as a JSON int
bad_time = st.sampled_from([-0.001, "1.5", None, True, [], {}, float("nan"), float("inf")]).map(lambda t: (t, None))
bad_string = st.sampled_from([None, 3, 1.5, True, [], {}])
bad_optional = st.sampled_from([3, 1.5, True, [], {}])  # null is fine where a field may be absent


@st.composite
def whisper_transcripts(draw) -> tuple[str, tuple | None]:
    """(JSON text, the (cues, language, header) it must give, or None when a field is wrong)."""
    wrong: list[str] = []
    spoil = draw(st.booleans())  # half the transcripts are right throughout

    def pick(good, bad, name: str):
        if spoil and draw(st.integers(0, 7)) == 0:  # in the others, a field in eight is wrong
            wrong.append(name)
            return draw(bad)
        return draw(good)

    def span(name: str) -> tuple[object, object, int | None, int | None]:
        (start, start_ms), (end, end_ms) = pick(json_time, bad_time, f"{name} start"), pick(json_time, bad_time,
                                                                                             f"{name} end")
        return start, end, start_ms, end_ms

    segments, cues = [], []
    for _ in range(draw(st.integers(0, 4))):
        start, end, start_ms, end_ms = span("segment")
        text = pick(st.text(max_size=12), bad_string, "text")
        segment: dict = {"id": len(segments), "start": start, "end": end, "text": text}
        words = []
        for _ in range(draw(st.integers(0, 3))):
            w_start, w_end, w_start_ms, w_end_ms = span("word")
            word = pick(st.text(max_size=6), bad_string, "word")
            probability = pick(st.none() | st.floats(0, 1), st.sampled_from(["sure", [], {}]), "probability")
            segment.setdefault("words", []).append({"word": word, "start": w_start, "end": w_end,
                                                    "probability": probability})
            words.append(Word(w_start_ms, w_end_ms, word, probability))
        cue_id = pick(st.text(max_size=4), bad_optional, "cue_id") if draw(st.booleans()) else None
        if cue_id is not None:
            segment["cue_id"] = cue_id
        if spoil and draw(st.integers(0, 7)) == 0:  # a required key left out
            del segment[draw(st.sampled_from(["start", "end", "text"]))]
            wrong.append("missing key")
        segments.append(segment)
        cues.append(Cue(start_ms, end_ms, text, cue_id or "", tuple(words)))
    data: dict = {"text": "ignored on reading", "segments": segments}
    language = pick(st.sampled_from(["en", "fr"]), bad_optional, "language") if draw(st.booleans()) else None
    if language is not None or draw(st.booleans()):
        data["language"] = language  # absent and null both mean unknown
    header = [pick(st.sampled_from(["WEBVTT", "Kind: captions"]), bad_string, "header")
              for _ in range(draw(st.integers(0, 2)))]
    if header:
        data["vtt_header"] = header
    if spoil and draw(st.integers(0, 7)) == 0:
        data = draw(st.sampled_from([{"segments": {}}, {"segments": None}, {}, [data], "segments"]))
        wrong.append("layout")
    return json.dumps(data), None if wrong else (cues, language, tuple(header))


@settings(max_examples=200, deadline=None)
@given(whisper_transcripts())
@example((json.dumps({"segments": [{"start": 1.001, "end": 4.35, "text": "x"}]}),  # 1.001 * 1000 < 1001: rounded
          ([Cue(1001, 4350, "x")], None, ())))
def test_json_transcripts_parse_exactly_or_fail_in_one_line(case):
    text, expected = case
    if expected is None:
        with pytest.raises(InputError) as info:
            caps.from_json(text)
        assert "\n" not in str(info.value) and "not a whisper-tui JSON transcript" in str(info.value)
        return
    captions = caps.from_json(text)
    assert (captions.cues, captions.language, captions.header) == expected


good_block = st.builds(lambda c: ("good", c), st.builds(Cue, st.integers(0, 10**6), st.integers(10**6 + 1, 2 * 10**6),
                                                        valid_text.filter(bool)))
bad_block = st.sampled_from([("bad", "00:0x.000 --> 00:01.000\nbroken"), ("bad", "just words\nmore words"),
                             ("note", "NOTE a comment")])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(good_block, bad_block), max_size=10))
def test_nothing_is_dropped_silently(blocks):
    """Every good block becomes its cue, in order; every bad one an error at its first line."""
    parts, line, expected_cues, expected_errors = ["WEBVTT"], 3, [], []
    for kind, item in blocks:
        text = caps.to_vtt([item]).removeprefix("WEBVTT\n\n").strip() if kind == "good" else item
        if kind == "good":
            expected_cues.append(item)
        elif kind == "bad":
            expected_errors.append(line)
        parts.append(text)
        line += text.count("\n") + 2
    captions = caps.parse("\n\n".join(parts) + "\n")
    assert captions.cues == expected_cues
    assert [p.line for p in captions.problems if p.severity == "error"] == expected_errors
    assert all(p.severity == "error" for p in captions.problems)


# ---------------------------------------------------------------------------- validation


def findings(cues, **kwargs) -> list[tuple[str, str, int | None]]:
    return [(f.severity, f.code, f.index) for f in caps.validate(cues, **kwargs)]


def test_validate_clean_cues_find_nothing(samples):
    assert caps.validate(caps.read(samples / "train.vtt"), audio_duration_ms=104_470) == []


def test_validate_errors_and_warnings():
    cues = [Cue(1000, 1000, "zero length"), Cue(900, 2000, "starts early"), Cue(3000, 40_000, "far too long"),
            Cue(40_000, 41_000, ""), Cue(41_000, 42_000, "x" * 25), Cue(50_000, 61_000, "past the end")]
    assert findings(cues, audio_duration_ms=60_000) == [
        ("error", "bad-timing", 0), ("warning", "overlap", 1), ("error", "too-long", 2), ("warning", "empty-text", 3),
        ("warning", "too-fast", 4), ("error", "past-audio", 5)]
    assert findings(cues[4:5], max_cps=30.0) == []
    assert findings(cues[2:3], max_cue_ms=60_000) == []


def test_validate_reports_parse_problems_and_lines():
    captions = caps.parse(GOOD.replace("00:03.000 -->", "00:0x.000 -->") + "\n00:05.000 -> 00:04.000\nback\n")
    result = caps.validate(captions)
    assert [(f.severity, f.code, f.index, f.line) for f in result] == [
        ("error", "bad-timestamp", None, 6), ("warning", "arrow", 1, 9), ("error", "bad-timing", 1, 9)]
    assert result[2].format("a.vtt") == (
        "a.vtt:9: error [bad-timing] cue 2 (00:00:05.000): ends at 00:00:04.000, not after its start 00:00:05.000")
    assert result[0].format() == "6: error [bad-timestamp]: bad timestamp '00:0x.000'"


def test_validate_extension_point_merges_extra_findings():
    captions = caps.parse(GOOD)
    extra = [Finding("warning", "keyword-suspect", "'mix trawl' may be Mixtral", index=1)]
    result = caps.validate(captions, extra=extra)
    assert [(f.code, f.line) for f in result] == [("keyword-suspect", 6)]


def test_summary_line():
    assert caps.summarize([], 3) == "3 cues, no problems"
    one = Finding("error", "x", "m")
    assert caps.summarize([one, Finding("warning", "y", "m")], 3) == "3 cues, 1 error, 1 warning"


def test_parse_problem_str():
    assert str(ParseProblem(4, "bad")) == "line 4: bad"


@pytest.mark.parametrize("text", [
    "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello\n\n00:00:02.500 -> 00:00:03.000\ntypo arrow\n",
    "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello\n\n00:61:00.000 --> 00:62:00.000\nbad minute\n",
    "1\n00:00:01,000 --> 00:00:02,000\nSRT saved as VTT\n",
])
def test_reading_without_the_cross_check_gives_the_same_cues_and_it_can_run_later(tmp_path, text):
    """The editor reads with cross_check=False (faster open) and runs the cross-check in the background."""
    path = tmp_path / "c.vtt"
    path.write_text(text, encoding="utf-8")
    full, fast = caps.read(path), caps.read(path, cross_check=False)
    assert fast.cues == full.cues and fast.cue_lines == full.cue_lines
    assert fast.problems == [p for p in full.problems if p.code != "cross-check"]
    assert caps.cross_check_problems(path) == [p for p in full.problems if p.code == "cross-check"]
