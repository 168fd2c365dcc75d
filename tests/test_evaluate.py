"""Evaluation: the shared metrics on hand-made texts, the real-speech control set, and `whisper-tui evaluate`
end to end with the real tiny.en on the sample recordings plus real human speech."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import audio as audio_io
from core import captions as caps
from core.errors import InputError
from core.evaluate import evaluate, reference_captions, resolve_run
from core.report import load_report
from core.scores import Substitution, normalize, score_texts
from tests.human_speech import MissingSpeechData, build_human_control, has_asterisk, librivox_clips

ROOT = Path(__file__).resolve().parent.parent
MAIN = ("--audio", "sample_data/validation.mp3", "--captions", "sample_data/validation.vtt")
CONTROL = ("--control-audio", "sample_data/control.mp3", "--control-captions", "sample_data/control.vtt")


def run_cli(*args: object) -> subprocess.CompletedProcess:
    # one torch thread: with two on a busy 2-core machine, decoding thrashes (10x slower)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "core.cli", "evaluate", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=600)


# ---------------------------------------------------------------------------- metrics


def test_normalizer_spells_numbers_and_british_forms_like_whisper():
    assert normalize("Mixtral 8x7B") == "mixtral 8 x 7 b"
    assert normalize("The colour, it's GPT-4o!") == "the color it is gpt 40"
    assert normalize("The colour", english=False) == "the colour"
    scores = score_texts(["The colour of Mixtral 8x7B."], ["the color of mixtral 8 x 7 b"], ["Mixtral 8x7B"])
    assert scores.wer == 0 and scores.cer == 0 and scores.reference_words == 8
    assert scores.recall == 0  # recall reads the raw text: "mixtral 8 x 7 b" is not the keyword as written


def test_keyword_recall_counts_hits_per_aligned_pair():
    refs = ["We fine tune with LoRA.", "Phi-2 is small.", "Nothing here."]
    hyps = ["We fine tune with Laura.", "phi-2 is small.", "LoRA here."]
    scores = score_texts(refs, hyps, ["LoRA", "Phi-2"])
    assert scores.keywords["Phi-2"].hits == 1 and scores.keywords["LoRA"].hits == 0  # LoRA said in the wrong cue
    assert scores.recall == 0.5
    assert score_texts([" ".join(refs)], [" ".join(hyps)], ["LoRA", "Phi-2"]).recall == 1.0  # whole text: a hit


def test_substitutions_counted_from_the_alignment():
    refs = ["the cat sat on the mat", "the cat ran home"]
    hyps = ["the bat sat on a hat", "the bat ran"]
    scores = score_texts(refs, hyps)
    assert scores.top_substitutions == (Substitution("cat", "bat", 2), Substitution("mat", "hat", 1),
                                        Substitution("the", "a", 1))
    assert (scores.substitutions, scores.deletions, scores.insertions) == (4, 1, 0)
    assert scores.wer == pytest.approx(5 / 10) and scores.hypothesis_words == 9
    assert len(score_texts(refs, hyps, top=1).top_substitutions) == 1


def test_empty_references_and_misaligned_lists():
    assert score_texts([""], [""]).wer == 0
    assert score_texts([""], ["hello there"]).wer == 1.0  # anything said over silence is all wrong
    assert score_texts(["", "a cat"], ["dog", "a cat"]).wer == 0.5
    assert score_texts([], []).wer == 0
    with pytest.raises(InputError):
        score_texts(["a", "b"], ["a"])
    with pytest.raises(TypeError):
        score_texts("a b", "a b")


def test_run_directory_gives_its_merged_model_and_base(tmp_path):
    run = tmp_path / "run"
    (run / "merged").mkdir(parents=True)
    assert resolve_run(run) == (str(run / "merged"), None)
    (run / "report.json").write_text(json.dumps({"base_model": "base"}))
    assert resolve_run(run) == (str(run / "merged"), "base")
    assert resolve_run("tiny.en") == ("tiny.en", None)


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    missing = run_cli("-m", "tiny.en", "--audio", tmp_path / "nope.mp3", "--captions", "sample_data/validation.vtt",
                      "-o", tmp_path / "out")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "not found" in missing.stderr
    unpaired = run_cli("-m", "tiny.en", *MAIN, "--control-audio", "sample_data/control.mp3", "-o", tmp_path / "out")
    assert unpaired.returncode == 2 and "--control-captions" in unpaired.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- real human speech


@pytest.fixture(scope="module")
def human(tmp_path_factory) -> tuple[Path, Path]:
    try:
        return build_human_control(tmp_path_factory.mktemp("human"))
    except MissingSpeechData as err:
        pytest.fail(str(err))


def test_human_control_cues_match_the_audio(human):
    wav, vtt = human
    samples = audio_io.load_audio(wav)
    cues = caps.read(vtt).cues
    seconds = len(samples) / audio_io.SAMPLE_RATE
    if has_asterisk():
        assert 30 <= len(cues) <= 40 and 150 <= seconds <= 210
    else:  # no apt-get: the five LibriVox sentences alone (tests/setup_test_data.py), with a LibriVoxOnly warning
        assert len(cues) == 5 and 20 <= seconds <= 35
    assert abs(cues[-1].end - len(samples) * 1000 / audio_io.SAMPLE_RATE) <= 1
    assert [c.id for c in cues[-5:]] == [c.path.stem for c in librivox_clips()]
    for before, after in zip(cues, cues[1:], strict=False):
        assert after.start - before.end == 500
        gap = audio_io.slice_ms(samples, before.end + 1, after.start - 1)
        assert not gap.any()  # the 0.5 s between cues is digital silence: the cue edges are the clip edges
    assert all(np.abs(audio_io.slice_ms(samples, c.start, c.end)).max() > 0.05 for c in cues)
    assert all(len(c.text.split()) >= 6 and not any(ch.isdigit() for ch in c.text) for c in cues)


def test_tiny_en_gets_real_human_speech_right(tiny, human):
    """The forgetting check's premise: the base model is good at plain English said by people."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on a busy 2-core machine thrash (decoding 10x slower)
    try:
        report = evaluate("tiny.en", *human)
    finally:
        torch.set_num_threads(threads)
    (row,) = report.variants
    scores = row.main.scores
    cues = len(row.main.hypothesis)
    print(f"\nhuman control: {cues} clips, {audio_io.duration_seconds(human[0]):.1f} s, {scores.reference_words} "
          f"words: tiny.en WER {scores.wer:.1%} (cues mode, {report.seconds:.0f} s)")
    assert scores.wer < 0.10


# ---------------------------------------------------------------------------- whisper-tui evaluate


@pytest.fixture(scope="module")
def cues_run(tiny, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """One evaluation of tiny.en (baseline + prompted) on validation with the sample control."""
    out = tmp_path_factory.mktemp("eval") / "out"
    result = run_cli("-m", "tiny.en", *MAIN, "--keywords", "sample_data/keywords.txt", *CONTROL, "-o", out)
    return result, out


def test_evaluate_cli_writes_report_tables_and_vtts(cues_run):
    result, out = cues_run
    assert result.returncode == 0, result.stderr
    vtts = {f"{s}.{v}.vtt" for s in ("validation", "control") for v in ("baseline", "prompted")}
    vtts.add("validation.baseline.longform.vtt")  # the main recording transcribed whole, by default
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md", *vtts}  # nothing else, no temp files
    assert {Path(line).name for line in result.stdout.splitlines() if line.startswith("/")} == \
           {"report.json", "report.md", *vtts}
    assert "keyword recall" in result.stdout and "baseline" in result.stdout  # the rich table
    assert result.stdout.index("before → after") < result.stdout.index("re-transcribed") < \
        result.stdout.index("cues mode")  # what a user asks first, first
    markdown = (out / "report.md").read_text()
    headings = ("## Your keywords, before → after", "## The whole recording, re-transcribed", "## Overall",
                "## Top substitutions")
    assert [markdown.index(h) for h in headings] == sorted(markdown.index(h) for h in headings)
    assert "| baseline | tiny.en |" in markdown
    assert re.search(r"\| Mixtral 8x7B \| 2 \| [0-2] → – \| [0-2] \|", markdown)  # no fine-tuned model here
    whole = caps.read(out / "validation.baseline.longform.vtt").cues
    assert len(whole) >= 5 and [c.start for c in whole] == sorted(c.start for c in whole)
    longform = json.loads((out / "report.json").read_text())["longform"]["baseline"]
    assert longform["vtt"] == "validation.baseline.longform.vtt" and longform["wer"] < 0.6
    reference = caps.read(ROOT / "sample_data/validation.vtt").cues
    retranscribed = caps.read(out / "validation.prompted.vtt").cues
    assert [(c.start, c.end) for c in retranscribed] == [(c.start, c.end) for c in reference]


def test_evaluate_report_numbers(cues_run):
    result, out = cues_run
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "cues" and report["base_model"] == "tiny.en"
    rows = {v["name"]: v for v in report["variants"]}
    assert list(rows) == ["baseline", "prompted"]  # -m equals the baseline: no separate fine-tuned row
    base, prompted = rows["baseline"], rows["prompted"]
    print(f"\nvalidation: baseline WER {base['wer']:.1%} recall {base['recall']:.0%}; prompted WER "
          f"{prompted['wer']:.1%} recall {prompted['recall']:.0%}; control WER {base['control_wer']['control']:.1%} "
          f"→ {prompted['control_wer']['control']:.1%}")
    assert base["prompt"] is None and "Mixtral 8x7B" in prompted["prompt"]
    assert base["recall"] < 0.3 < prompted["recall"]  # tiny.en misses the jargon; the prompt helps
    assert 0.2 < base["wer"] < 0.8
    assert base["control_wer"]["control"] < 0.15
    assert prompted["delta"]["recall"] == pytest.approx(prompted["recall"] - base["recall"])
    assert prompted["delta"]["control_wer"]["control"] == pytest.approx(
        prompted["control_wer"]["control"] - base["control_wer"]["control"])
    per_keyword = base["sets"]["validation"]["keywords"]["per_keyword"]
    assert len(per_keyword) == 10 and all(k["reference"] == 2 for k in per_keyword)
    assert base["sets"]["validation"]["top_substitutions"][0]["count"] >= 1


def test_report_read_from_another_cwd_finds_its_sets(cues_run, tmp_path, monkeypatch):
    """`evaluate` was given paths relative to its cwd (sample_data/…): the report names them against its own
    folder (absolutely, when the two share no folder but the root), so it reads back whole from anywhere. It held
    `sample_data/validation.vtt` before, which only the cwd of that command could find."""
    result, out = cues_run
    assert result.returncode == 0, result.stderr
    stored = json.loads((out / "report.json").read_text())
    for stored_path, file in ((stored["main"]["captions"], "validation.vtt"),
                              (stored["controls"][0]["audio"], "control.mp3")):
        assert Path(os.path.normpath(out.resolve() / stored_path)) == (ROOT / "sample_data" / file).resolve()
    monkeypatch.chdir(tmp_path)
    report = load_report(out)
    assert [c.text for c in reference_captions(report).cues] == \
           [c.text for c in caps.read(ROOT / "sample_data/validation.vtt").cues]
    assert len(reference_captions(report, "control").cues) == len(caps.read(ROOT / "sample_data/control.vtt").cues)


def test_evaluate_longform_on_a_short_recording(tiny, tmp_path):
    result = run_cli("-m", "tiny.en", "--audio", "sample_data/control.mp3", "--captions", "sample_data/control.vtt",
                     "--mode", "longform", "--no-prompted", "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "longform" and [v["name"] for v in report["variants"]] == ["baseline"]
    assert report["variants"][0]["wer"] < 0.15
    assert caps.read(tmp_path / "control.baseline.vtt").cues  # the engine's own segmentation


def test_run_directory_gets_a_fine_tuned_row_and_keeps_its_base(tiny, tmp_path):
    """A run dir whose merged/ holds tiny.en's own weights: the fine-tuned row must equal the baseline."""
    run = tmp_path / "run"
    shutil.copytree(tiny.hf_dir, run / "merged")
    (run / "report.json").write_text(json.dumps({"base_model": "tiny.en"}))
    two_cues = caps.write(caps.Captions(cues=caps.read(ROOT / "sample_data/validation.vtt").cues[:2]),
                          tmp_path / "two.vtt")
    result = run_cli("-m", run, "--audio", "sample_data/validation.mp3", "--captions", two_cues, "--no-prompted")
    assert result.returncode == 0, result.stderr
    report = json.loads((run / "evaluation" / "report.json").read_text())  # beside train's report, not over it
    assert report["base_model"] == "tiny.en" and report["model"] == str(run / "merged")
    baseline, tuned = report["variants"]
    assert (baseline["name"], tuned["name"]) == ("baseline", "fine-tuned")
    assert tuned["wer"] == baseline["wer"] and tuned["delta"]["wer"] == 0
    assert (run / "evaluation" / "two.fine-tuned.vtt").read_text() == \
           (run / "evaluation" / "two.baseline.vtt").read_text()
    assert json.loads((run / "report.json").read_text()) == {"base_model": "tiny.en"}
