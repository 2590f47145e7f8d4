# The README quotes these targets. Python 3.11; everything installs into .venv.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INDEX ?= ./data/index
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint learn bench bench-stard bench-resident bench-speed bench-scale clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY)"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dense,dense-test,bench,dev,llm-test,e2e]'
	touch $(STAMP)

venv: $(STAMP)

# Sets up, ingests the project's own corpus/ into the embedded Qdrant Edge index, runs a few searches.
demo: $(STAMP)
	$(BIN)/gridworker ingest corpus --index $(INDEX)
	$(BIN)/gridworker stats --index $(INDEX)
	$(BIN)/gridworker search "独居老人走访要注意什么" -k 3 --index $(INDEX)
	$(BIN)/gridworker search "楼道里给电动车充电怎么处理" -k 3 --index $(INDEX)
	$(BIN)/gridworker search "低保怎么申请" -k 3 --index $(INDEX)
	$(BIN)/gridworker search "邻居遛狗不拴绳" -k 3 --index $(INDEX)
	@echo "Add the full law corpus with: $(BIN)/gridworker ingest ../shared/corpus --index $(INDEX)"

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Rebuilds assistant/retrieval/data/learned.json from STARD train (about 35 s).
learn: $(STAMP)
	$(BIN)/gridworker learn

bench: bench-stard bench-resident bench-speed

bench-stard: $(STAMP)
	$(BIN)/python -m bench.stard

bench-resident: $(STAMP)
	$(BIN)/python -m bench.resident

bench-speed: $(STAMP)
	$(BIN)/python -m bench.speed

bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale

clean:
	rm -rf $(VENV) data
