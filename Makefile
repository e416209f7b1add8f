# sbd-course: `make lab` opens the course, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
# Jupyter refuses to run as root (containers, cloud VMs) unless told it may.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup lab test unit figures bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("sbd-course needs Python >= 3.10, found " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install sbdlib with the test tools

lab: $(STAMP)  ## open the course in JupyterLab
	$(BIN)/jupyter lab notebooks/ $(LAB_FLAGS)

test: $(STAMP)  ## unit tests + every notebook executed in quick mode (nbval)
	SBDLIB_SCALE=quick $(BIN)/python -m pytest tests $(NOTEBOOKS) --nbval-lax --nbval-current-env --nbval-cell-timeout=900 -q

unit: $(STAMP)  ## unit tests only
	$(BIN)/python -m pytest tests -q

figures: $(STAMP)  ## execute every notebook at course scale, headless; rewrites figures/
	for nb in $(NOTEBOOKS); do SBDLIB_SCALE=course $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 $$nb || exit 1; done

bench: $(STAMP)  ## print the speed benchmarks
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
