# emtheory: two commands do everything from nothing but Python 3.11 and the package registries.
#   make demo   create .venv, install emtheory (editable, with the dev extra), run the main job on the bundled data
#   make test   the same set-up if needed, then: nbdev_export (must change nothing), nbdev_clean (must change
#               nothing), nbdev_test over every notebook, pytest tests/ (its summary line is printed last)
# Other targets:
#   make readme      derive README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which these machines lack:
#                    tools/make_readme.py converts the notebook with nbconvert instead; tests/test_readme.py fails
#                    when README.md drifts from the notebook)
#   make docs        build the offline documentation site into _docs/
#   make docs-check  build it and check every page in headless Chromium
#   make bench       benchmarks against scikit-learn (ratios measured in the same run): the table in bench/RESULTS.md
#   make slow        nbdev_test including cells flagged `#| slow`

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test setup export-check notebooks pytest readme docs docs-check bench slow clean

setup: $(STAMP)

$(STAMP): setup.py settings.ini pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=64" wheel packaging
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/emtheory fit --method all --plot demo.png

export-check: $(STAMP)
	tools/unchanged.sh $(BIN)/nbdev_export
	tools/unchanged.sh $(BIN)/nbdev_clean

notebooks: $(STAMP)
	$(BIN)/nbdev_test --n_workers 2 --timing

pytest: $(STAMP)
	$(BIN)/python -m pytest tests/ -q -p no:cacheprovider

test: export-check notebooks pytest

slow: $(STAMP)
	$(BIN)/nbdev_test --n_workers 2 --flags slow --timing

readme: $(STAMP)
	$(BIN)/python tools/make_readme.py

docs: $(STAMP)
	tools/docs/build.sh

docs-check: $(STAMP)
	tools/docs/check.sh

bench: $(STAMP)
	$(BIN)/python bench/bench.py

clean:
	rm -rf _proc _docs _docs_check build dist *.egg-info
