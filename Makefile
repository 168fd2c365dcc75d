# Two commands do all set-up on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch 2.13.0: on this kind of machine pip takes a local CPU build; on a GPU box it takes the CUDA one.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast test-data demo bench bench-scale bench-quality lint clean-venv venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,base]'
	touch $(STAMP)

venv: $(STAMP)

# The workbench on the bundled sample project; without a terminal (CI, a pipe) the sample is transcribed instead.
run: $(STAMP)
	@if [ -t 0 ] && [ -t 1 ]; then $(BIN)/whisper-tui --sample; else \
	    echo "no terminal: transcribing the sample instead of opening the workbench"; \
	    $(BIN)/whisper-tui transcribe sample_data/train.mp3 -m tiny.en -o out/; fi

# The whole loop on sample_data/ with the defaults only: prepare → train (baseline = its step-0 evaluation) → evaluate
# on a voice the model never heard, with the plain-English control set as the forgetting check.
demo: $(STAMP)
	$(BIN)/whisper-tui prepare --audio sample_data/train.mp3 --captions sample_data/train.vtt -o out/dataset
	rm -rf out/run
	$(BIN)/whisper-tui train --dataset out/dataset --keywords sample_data/keywords.txt -o out/run
	$(BIN)/whisper-tui evaluate -m out/run --audio sample_data/validation.mp3 --captions sample_data/validation.vtt \
	    --keywords sample_data/keywords.txt --control-audio sample_data/control.mp3 \
	    --control-captions sample_data/control.vtt -o out/evaluation

# The real human speech the forgetting checks use: present → nothing; root with apt-get → the Debian packages;
# otherwise the same files into $(VENV)/share/whisper-tui-test-data (apt-get download, or PyPI without apt).
test-data: $(STAMP)
	$(BIN)/python tests/setup_test_data.py

test: test-data
	$(BIN)/python -m pytest -q

# everything but the end-to-end training runs (minutes each): the quick loop while developing
test-fast: test-data
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check core tui tests bench sample_data

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The quality protocol (bench/quality.py): recipes compared on the tuning sets, the defaults scored on the test sets,
# 3 seeds each; regenerates the "Quality protocol" section of bench/RESULTS.md. Hours on a 2-core CPU; kept runs
# in bench/work/quality/ are reused, so an interrupted run continues.
# Training against dataset size (bench/train_memory_bench.py): peak memory and time to the first step on 5, 60 and 300
# minutes of looped audio, a cold and a warm disk cache; about an hour on a 2-core CPU.
bench-scale: $(STAMP)
	$(BIN)/python bench/train_memory_bench.py

bench-quality: $(STAMP)
	$(BIN)/python tests/setup_test_data.py --bench
	$(BIN)/python bench/quality.py

clean-venv:
	rm -rf $(VENV)
