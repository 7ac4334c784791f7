# Two commands on a fresh machine:  `make chat`  and  `make test`.
# Everything installs into .venv; torch is the CPU build 2.13.0, installed first and pinned
# (constraints.txt) so that no later install pulls the multi-GB CUDA build.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed
BENCH  := $(VENV)/.bench
BROWSER := $(VENV)/.browser
SUDO   := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup chat test lint bench bench-voice bench-safety clean lock

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	$(PIP) install --quiet --no-deps -c constraints.txt openai-whisper
	# Only Smart Turn's ONNX file is used, never pipecat itself: none of its dependencies.
	$(PIP) install --quiet --no-deps -c constraints.txt pipecat-ai
	touch $(STAMP)

# The peers the benchmarks (and their tests) compare with: Pipecat with its own dependencies.
$(BENCH): $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $(BENCH)

chat: $(STAMP)
	$(BIN)/assistant chat

# A real browser for the browser client's tests: Debian's chromium (Playwright drives it).
$(BROWSER):
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	    $(SUDO) apt-get install -y -qq chromium; }
	mkdir -p $(VENV) && touch $(BROWSER)

test: $(BENCH) $(BROWSER)
	$(BIN)/ruff check assistant tests benchmarks demos
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

bench: $(BENCH)
	$(BIN)/python -m benchmarks.bus
	$(BIN)/python -m benchmarks.cold_start
	$(BIN)/python -m benchmarks.chat_ready
	$(BIN)/python -m benchmarks.text_turn
	$(BIN)/python -m benchmarks.serve_http

# Speech: ASR WER/RTF per model (long: ~140 clips x 4 models), TTS, voice-to-voice latency
# (ours and, on the same recordings, a Pipecat pipeline: the bench extra).
bench-voice: $(BENCH)
	$(BIN)/python -m benchmarks.asr --prepare
	$(BIN)/python -m benchmarks.tts
	$(BIN)/python -m benchmarks.voice_latency
	$(BIN)/python -m benchmarks.serve_ws

# Understanding and safety on held-out sets: intents and entities, sentiment, guard, filter.
bench-safety: $(STAMP)
	$(BIN)/python -m benchmarks.nlu
	$(BIN)/python -m benchmarks.sentiment
	$(BIN)/python -m benchmarks.guard
	$(BIN)/python -m benchmarks.filter

# Re-pin every dependency after changing pyproject.toml (run with the venv installed).
lock: $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e '.[dev,bench]'
	{ head -n 2 constraints.txt; $(PIP) list --format=freeze --exclude-editable \
	    | grep -v -e '^-e ' -e '^voice-assistant-pipeline' \
	    | sed 's/^torch==.*/torch==2.13.0/'; } > constraints.tmp
	mv constraints.tmp constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
