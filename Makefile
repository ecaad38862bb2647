# Two commands on a fresh clone: `make demo` and `make test` (both create .venv when needed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CITY   ?= data/venues/shenzhen-longgang.toml
OUT    ?= out/shenzhen-longgang

.PHONY: install demo test notebooks lint typecheck clean

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
	$(BIN)/nbstripout --verify notebooks/*.ipynb

typecheck: $(STAMP)
	$(BIN)/mypy mapgen webapp

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory notebooks

# The planner notebooks run top to bottom (nbmake) on each of these cities; each city is built once
# into a temporary folder that both notebooks read.
NOTEBOOK_CITIES ?= shenzhen-longgang heidelberg
notebooks: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && for city in $(NOTEBOOK_CITIES); do \
	  echo "notebooks on $$city"; \
	  MAPGEN_CITY=$$city MAPGEN_BUILD=$$tmp/$$city $(BIN)/python -m pytest -p no:cacheprovider \
	    --nbmake --nbmake-timeout=600 notebooks || exit 1; \
	done

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
