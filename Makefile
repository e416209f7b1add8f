# sbd-course: `make lab` opens the course, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
# Jupyter refuses to run as root (containers, cloud VMs) unless told it may.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)
BROWSER_TESTS := tests/browser
# The browser suite drives Chromium: $$SBD_CHROMIUM, else chromium / chromium-browser on PATH
# (tests/browser/labdriver.py looks the same way). Playwright cannot download browsers here.
CHROMIUM := $(or $(SBD_CHROMIUM),$(shell command -v chromium || command -v chromium-browser))
CHROMIUM_HINT := browser tests NOT run: chromium not found. Install it with `sudo apt-get install -y chromium` (Debian/Ubuntu), then run `make test-browser`.

.PHONY: setup lab test test-browser unit colab figures results bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("sbd-course needs Python >= 3.10, found " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,distributed]"  # distributed: tests/test_distributed.py runs Ray
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install sbdlib with the test tools

lab: $(STAMP)  ## open the course in JupyterLab
	$(BIN)/jupyter lab notebooks/ $(LAB_FLAGS)

test: $(STAMP)  ## unit tests + every notebook executed in quick mode (nbval), then the browser suite if Chromium is here
	SBDLIB_SCALE=quick $(BIN)/python -m pytest tests $(NOTEBOOKS) --ignore=$(BROWSER_TESTS) --nbval-lax --nbval-current-env --nbval-cell-timeout=900 -q
	@if [ -n "$(CHROMIUM)" ]; then $(MAKE) --no-print-directory test-browser; else echo '*** $(CHROMIUM_HINT)'; fi

test-browser: $(STAMP)  ## the browser suite only: the notebooks' sliders moved in JupyterLab in headless Chromium; every notebook opened with autosave on
	$(BIN)/python -m pytest $(BROWSER_TESTS) -q

unit: $(STAMP)  ## unit tests only
	$(BIN)/python -m pytest tests --ignore=$(BROWSER_TESTS) -q

colab: $(STAMP)  ## regenerate every notebook's Colab setup cell and the README's Colab badges (sbdlib/colab.py)
	$(BIN)/python -m sbdlib.colab

figures: $(STAMP)  ## execute every notebook at course scale, headless; rewrites figures/ and the notebooks' outputs
	for nb in $(NOTEBOOKS); do SBDLIB_SCALE=course SBDLIB_SHIP_FIGURES=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 $$nb || exit 1; done
	$(BIN)/python -m sbdlib.notebook_format $(NOTEBOOKS)  # the form JupyterLab saves: opening them changes nothing

results: $(STAMP)  ## retrain and re-evaluate the shipped course-scale runs (data/checkpoints, data/results); see data/README.md
	SBDLIB_SCALE=course $(BIN)/python -m sbdlib.experiments circles-xy --seeds 0-9 --ship --retrain

bench: $(STAMP)  ## print the speed benchmarks
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
