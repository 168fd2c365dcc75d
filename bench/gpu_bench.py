"""GPU figures for a lent card (`bench/gpu.sh` runs this once): the numbers a CPU box cannot give.

1. LoRA training throughput on MODEL (default openai/whisper-small) at bf16 and fp16: our recipe (decoder
   LoRA, encoder outputs cached) beside the plain recipe (q/v LoRA on encoder and decoder, batch 3), as
   samples/s over the logged training steps (setup excluded) and as wall time to the last step (setup,
   encoder caching and the step-0 evaluation included). Each run is `whisper-tui train` in its own process.
2. Transcription of a 5-minute recording on the GPU: `whisper-tui transcribe` beside faster-whisper called
   directly, same CTranslate2 model, float16, beam 5: real-time factor and the ratio.
3. The encoder's forward pass: FLOPs counted by torch's FlopCounterMode on a batch of real 30 s inputs,
   timed with CUDA events, as a fraction of the card's peak dense bf16 FLOP/s (table below or --peak-tflops).

`--cpu-smoke` runs every step on the CPU with tiny.en and a few steps: it proves the script, not the figures.

Usage: python bench/gpu_bench.py [--model openai/whisper-small] [--steps 40] [--peak-tflops N]
                                 [--cpu-smoke] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, SAMPLE_DATA, WORK, cli_command, measure_process, times, versions, write_section
from transcribe_bench import build_recording

SECTION = "## GPU (bench/gpu.sh)"
BENCH_DIR = WORK / "gpu"
KEYWORDS = SAMPLE_DATA / "keywords.txt"
TRAIN_PAIR = ("--audio", "sample_data/train.mp3", "--captions", "sample_data/train.vtt")
PLAIN_PAIR = ("--audio", "sample_data/plain.mp3", "--captions", "sample_data/plain.vtt")
VALIDATION = ("--val-audio", "sample_data/validation.mp3", "--val-captions", "sample_data/validation.vtt")
PLAIN_RECIPE = ("--lora-layers", "all", "--speeds", "1.0", "--batch-size", "3", "--distill", "0")
# Peak dense (no sparsity) bf16/fp16 tensor-core TFLOP/s from the vendors' data sheets, by name fragment.
PEAK_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0, "H100": 756.0,
               "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10G": 70.0, "A10": 125.0, "RTX 4090": 165.0}


@dataclass(frozen=True)
class TrainFigure:
    recipe: str
    precision: str
    batch: int
    steps: int
    samples_per_s: float | None
    wall_s: float
    peak_rss_mb: float
    returncode: int | None


def peak_tflops(name: str, override: float | None) -> float | None:
    if override:
        return override
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def prepare(name: str, args: tuple[str, ...]) -> Path:
    out = BENCH_DIR / f"dataset-{name}"
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run(cli_command("prepare", *args, *VALIDATION, "-o", out), cwd=ROOT, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"prepare {name} failed: {done.stderr.strip()[-500:]}")
    return out


def steady_samples_per_s(run_dir: Path, batch: int) -> float | None:
    """Samples/s between the first and the last logged training step (setup and step 0 left out)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [(r["time"], r["step"]) for r in rows if r.get("kind") == "train"]
    if len(steps) < 2 or steps[-1][0] <= steps[0][0]:
        return None
    return (steps[-1][1] - steps[0][1]) * batch / (steps[-1][0] - steps[0][0])


def train_figure(recipe: str, dataset: Path, extra: tuple[str, ...], precision: str, model: str, steps: int,
                 device: str, batch: int) -> TrainFigure:
    run_dir = BENCH_DIR / f"run-{recipe}-{precision}"
    shutil.rmtree(run_dir, ignore_errors=True)
    log = BENCH_DIR / f"run-{recipe}-{precision}.log"
    cmd = cli_command("train", "--dataset", dataset, "-m", model, "--keywords", KEYWORDS, "-o", run_dir,
                      "--max-steps", steps, "--eval-every", steps, "--precision", precision, "--device", device,
                      *extra)
    with open(log, "wb") as sink:
        stats = measure_process(cmd, timeout_s=900, poll_s=0.5, stdout=sink, stderr=sink)
    speed = steady_samples_per_s(run_dir, batch) if (run_dir / "metrics.jsonl").is_file() else None
    return TrainFigure(recipe, precision, batch, steps, speed, stats.wall_s, stats.peak_rss_mb, stats.returncode)


def encoder_flops_fraction(model: str, device: str, precision: str, batch: int) -> dict:
    """FLOPs of one encoder forward (counted, not estimated) ÷ its time ÷ the card's peak."""
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    from core.audio import load_audio
    from core.models import resolve

    hf_dir = resolve(model).hf_dir
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    net = WhisperForConditionalGeneration.from_pretrained(hf_dir, torch_dtype=dtype).to(device).eval()
    audio = load_audio(SAMPLE_DATA / "train.mp3")[: 30 * 16000].astype(np.float32)
    features = WhisperFeatureExtractor.from_pretrained(hf_dir)(audio, sampling_rate=16000,
                                                                 return_tensors="pt").input_features
    inputs = features.repeat(batch, 1, 1).to(device, dtype)
    encoder = net.get_encoder()
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            encoder(inputs)
        flops = counter.get_total_flops()
        for _ in range(3):
            encoder(inputs)
        if device == "cuda":
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(10):
                encoder(inputs)
            end.record()
            torch.cuda.synchronize()
            seconds = start.elapsed_time(end) / 1000 / 10
        else:
            began = time.perf_counter()
            for _ in range(2):
                encoder(inputs)
            seconds = (time.perf_counter() - began) / 2
    return {"flops": flops, "seconds": seconds, "tflops": flops / seconds / 1e12, "batch": batch}


def ct2_dir_for(model: str) -> Path:
    """The model as CTranslate2 float16 (what faster-whisper loads): bundled models have one already."""
    from core.ct2 import export_model
    from core.models import resolve

    resolved = resolve(model)
    if resolved.ct2_dir is not None:
        return resolved.ct2_dir
    out = BENCH_DIR / "ct2-model"
    if not (out / "model.bin").is_file():
        export_model(resolved.hf_dir, out, "float16")
    return out


FASTER_WHISPER = """
import sys, time
from faster_whisper import WhisperModel
model = WhisperModel(sys.argv[1], device=sys.argv[3], compute_type="float16" if sys.argv[3] == "cuda" else "int8")
segments, _ = model.transcribe(sys.argv[2], beam_size=5)
print(sum(len(s.text.split()) for s in segments))
"""


def transcription(ct2_dir: Path, audio: Path, device: str) -> dict[str, object]:
    out = BENCH_DIR / "transcribe"
    shutil.rmtree(out, ignore_errors=True)
    ours = measure_process(cli_command("transcribe", audio, "-m", ct2_dir, "--device", device, "-o", out),
                           timeout_s=600)
    direct = measure_process([sys.executable, "-c", FASTER_WHISPER, str(ct2_dir), str(audio), device],
                             timeout_s=600)
    return {"ours": ours, "direct": direct}


def gpu_name(device: str) -> str:
    import torch

    if device != "cuda":
        return "CPU (smoke test)"
    props = torch.cuda.get_device_properties(0)
    return f"{props.name}, {props.total_memory / 1024**3:.0f} GiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="openai/whisper-small", help="model spec (Hub id needs the Hub)")
    parser.add_argument("--steps", type=int, default=40, help="training steps per run")
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the transcribed recording")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the card's peak dense bf16 TFLOP/s")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny.en on CPU, a few steps: test the script")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    device, precisions = ("cpu", ("fp32",)) if args.cpu_smoke else ("cuda", ("bf16", "fp16"))
    model = "tiny.en" if args.cpu_smoke else args.model
    steps = 4 if args.cpu_smoke else args.steps
    seconds = 15.0 if args.cpu_smoke else args.seconds
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    card = gpu_name(device)
    print(f"device: {card}", file=sys.stderr, flush=True)

    datasets = {"ours": (prepare("ours", (*TRAIN_PAIR, *PLAIN_PAIR, "--views")), (), 8),
                "plain": (prepare("plain", (*TRAIN_PAIR, "--no-views")), PLAIN_RECIPE, 3)}
    figures = []
    for precision in precisions:
        for recipe, (dataset, extra, batch) in datasets.items():
            figures.append(train_figure(recipe, dataset, extra, precision, model, steps, device, batch))
            print(f"  train {recipe} {precision}: {figures[-1]}", file=sys.stderr, flush=True)

    encoder = encoder_flops_fraction(model, device, precisions[0], batch=2 if args.cpu_smoke else 16)
    peak = peak_tflops(card, args.peak_tflops)
    ct2 = ct2_dir_for(model)
    audio = build_recording(seconds)
    speed = transcription(ct2, audio, device)
    ours, direct = speed["ours"], speed["direct"]

    train_rows = ["| recipe | precision | batch | steps | samples/s (steady) | wall s to last step | peak RSS MB "
                  "| exit |",
                  "|---|---|---|---|---|---|---|---|"]
    for f in figures:
        rate = "—" if f.samples_per_s is None else f"{f.samples_per_s:.1f}"
        train_rows.append(f"| {f.recipe} | {f.precision} | {f.batch} | {f.steps} | {rate} | {f.wall_s:.0f} | "
                          f"{f.peak_rss_mb:.0f} | {f.returncode} |")
    ratio_rows = []
    for precision in precisions:
        mine = next(f for f in figures if f.recipe == "ours" and f.precision == precision)
        theirs = next(f for f in figures if f.recipe == "plain" and f.precision == precision)
        if mine.samples_per_s and theirs.samples_per_s:
            ratio_rows.append(f"- {precision}: ours ÷ plain samples/s {times(mine.samples_per_s, theirs.samples_per_s)}"
                              f"; wall to {steps} steps {times(mine.wall_s, theirs.wall_s)}")
    fraction = (f"{encoder['tflops'] / peak:.1%} of the card's {peak:g} TFLOP/s peak" if peak else
                "a fraction unknown: the card's peak is not in the table (pass --peak-tflops)")
    body = (
        f"Card: {card}; {versions(('torch', 'transformers', 'peft', 'ctranslate2', 'faster-whisper'))}.\n"
        f"Command: `bash bench/gpu.sh` (= `python bench/gpu_bench.py --model {model}"
        f"{' --cpu-smoke' if args.cpu_smoke else ''}`); model {model}.\n\n"
        "### LoRA training throughput\n" + "\n".join(train_rows) + "\n\n" + "\n".join(ratio_rows) + "\n\n"
        "### Transcription on the GPU (float16, beam 5)\n"
        "| contender | wall s | RTF | peak RSS MB | exit |\n|---|---|---|---|---|\n"
        f"| faster-whisper direct | {direct.wall_s:.1f} | {direct.wall_s / seconds:.3f} | {direct.peak_rss_mb:.0f} | "
        f"{direct.returncode} |\n"
        f"| ours (`whisper-tui transcribe`) | {ours.wall_s:.1f} | {ours.wall_s / seconds:.3f} | "
        f"{ours.peak_rss_mb:.0f} | {ours.returncode} |\n\n"
        f"ours ÷ faster-whisper: {times(ours.wall_s, direct.wall_s)} ({seconds:g} s of audio; wall time of a fresh "
        "process each, model load included).\n\n"
        "### Encoder forward, achieved FLOP/s\n"
        f"{encoder['batch']} × 30 s inputs, {precisions[0]}: {encoder['flops'] / 1e12:.2f} TFLOP counted per "
        f"forward, {encoder['seconds'] * 1000:.1f} ms → {encoder['tflops']:.2f} TFLOP/s, {fraction}.\n")
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
    return 0 if all(f.returncode == 0 for f in figures) and ours.returncode == 0 and direct.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
