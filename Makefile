# Two commands on a fresh clone: `make demo` and `make test` (both create .venv when needed).
# Both first run scripts/system-packages.sh (Debian packages: installed as root, else one `sudo apt-get` line
# is printed and the run goes on; MAPGEN_SKIP_SYSTEM=1 skips the installing).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
CITY   ?= data/venues/shenzhen-longgang.toml
OUT    ?= out/shenzhen-longgang
SYSTEM := scripts/system-packages.sh
# Installs use the versions the suite was last run with (pip freeze of a working venv).
CONSTRAINTS := -c constraints.txt
# pytest-xdist processes for `make test` / `make test-fast` (the cities they test are built once, shared).
TEST_WORKERS ?= 2
# A worker that crashes (a native fault) fails its test and ends the run: pytest-xdist 3.6's loadfile
# scheduler, replacing a crashed worker, can wait for ever for work it never hands out.
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --max-worker-restart=0

.PHONY: install demo test test-fast notebooks lint typecheck wheel-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# `make demo` installs what the demo needs (the pdf extra); `make install` / `make test` everything.
$(DEMO_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e ".[pdf]"
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e ".[test]"
	touch $(STAMP) $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(SYSTEM) pdf
	$(BIN)/mapgen build --city $(CITY) --out $(OUT)
	@echo "Open $(OUT)/index.html in a browser (works offline; only the base-map tiles need internet)."

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/nbstripout --verify notebooks/*.ipynb

typecheck: $(STAMP)
	$(BIN)/mypy mapgen webapp

test: $(STAMP) lint typecheck
	$(SYSTEM) test
	$(PYTEST)
	$(MAKE) --no-print-directory notebooks

# The edit loop: unit and small real-extract tests (no browser, no Heidelberg builds, no notebooks).
test-fast: $(STAMP)
	$(PYTEST) -q -m "not slow and not browser"

# The planner notebooks run top to bottom (nbmake) on each of these cities; each city is built once
# into a temporary folder that both notebooks read (with a cache folder of its own, not ~/.cache).
NOTEBOOK_CITIES ?= shenzhen-longgang heidelberg
notebooks: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && for city in $(NOTEBOOK_CITIES); do \
	  echo "notebooks on $$city"; \
	  MAPGEN_CACHE_DIR=$$tmp/cache MAPGEN_CITY=$$city MAPGEN_BUILD=$$tmp/$$city $(BIN)/python -m pytest \
	    -p no:cacheprovider --nbmake --nbmake-timeout=600 notebooks || exit 1; \
	done

# The wheel, installed into a clean venv, builds Monaco from a temporary folder and serves a search.
wheel-check:
	scripts/wheel-check.sh

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
