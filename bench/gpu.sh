#!/usr/bin/env bash
# One prepared run for a lent GPU: training samples/s (ours vs the plain recipe, bf16 and fp16), transcription
# RTF (ours vs faster-whisper on the GPU) and the encoder's share of the card's peak FLOP/s. Writes the
# "## GPU (bench/gpu.sh)" section of bench/RESULTS.md (and copies it and the log to $OUT when set).
#
#   MODEL=openai/whisper-small bash bench/gpu.sh      # a Hub id needs the Hub; else a local whisper dir
#   MODEL=base bash bench/gpu.sh                      # the bundled multilingual base: works offline
#
# Needs: an NVIDIA GPU, and a Python with this project installed against a CUDA torch, e.g.
# `make venv TORCH=torch` (PYTHON=... to use another), plus ffmpeg or imageio-ffmpeg. About 10 minutes on an H100
# for whisper-small (4 training runs of 40 steps, a 5-minute transcription twice, the encoder timing).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
MODEL="${MODEL:-openai/whisper-small}"
STEPS="${STEPS:-40}"
if ! "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "bench/gpu.sh: no CUDA GPU visible to $PYTHON (for a CPU check of the script: python bench/gpu_bench.py --cpu-smoke --no-write)" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
mkdir -p bench/work/gpu
set -o pipefail
PYTHONUNBUFFERED=1 "$PYTHON" bench/gpu_bench.py --model "$MODEL" --steps "$STEPS" "$@" 2>&1 | tee bench/work/gpu/gpu.log
if [ -n "${OUT:-}" ]; then
  cp bench/work/gpu/gpu.log "$OUT/" && cp bench/RESULTS.md "$OUT/"
fi
