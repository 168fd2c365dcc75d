# Two commands do all set-up on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch 2.13.0: on this kind of machine pip takes a local CPU build; on a GPU box it takes the CUDA one.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: run test demo bench lint clean-venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,base]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/whisper-tui transcribe sample_data/train.mp3 -m tiny.en -o out/

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check core tui tests bench sample_data

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean-venv:
	rm -rf $(VENV)
