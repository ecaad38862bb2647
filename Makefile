# Two commands on a fresh clone: `make demo` and `make test` (both create .venv when needed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CITY   ?= data/venues/shenzhen-longgang.toml
OUT    ?= out/shenzhen-longgang

.PHONY: install demo test lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mapgen build --city $(CITY) --out $(OUT)
	@echo "Open $(OUT)/index.html in a browser (works offline; only the base-map tiles need internet)."

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy mapgen

test: $(STAMP) lint
	$(BIN)/python -m pytest

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
