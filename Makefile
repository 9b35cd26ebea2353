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
#   make bench       benchmarks against scikit-learn (ratios measured in the same run): the table in bench/RESULTS.md,
#                    then the speed table of the landing page and README (nbs/index.ipynb reads it)
#   make slow        nbdev_test including cells flagged `#| slow`, and the tests marked slow
#   make property-seeds  the Hypothesis property tests over SEEDS (default 20) explicit seeds (the suite itself runs
#                    them derandomised, the same examples everywhere)
#   make lock        re-resolve the development environment from settings.ini and rewrite constraints.txt
#   make test-latest the whole suite in a separate .venv-latest with the newest versions the registry serves
#   make mutation    mutation testing with mutmut ([tool.mutmut] in pyproject.toml): mutants of the loop, the Gaussian
#                    model, the data layer, the estimator shell and the stepwise schedule, each run against the fast
#                    tests that reach it; MODULES="online core" runs only those modules' mutants; results in mutants/
#                    (`mutmut results`, `mutmut show NAME`), the score per module printed last (killed / all; a
#                    timeout counts as killed), then without the equivalent mutants listed with their reasons in
#                    tools/mutation_equivalent.txt. Every module at once: about 100 minutes on 2 free cores (0.74
#                    mutants/s measured). Results are kept in mutants/: a later run checks only the mutants of changed
#                    functions (name others to recheck them). Changing [tool.mutmut] clears every result, so add new
#                    tests to the files already selected, and never change the selection during a run
#
# The development environment is pinned: `make setup` installs with `-c constraints.txt`, so a clean clone tests
# against exactly what CI tested. The package's own requirements (settings.ini) stay ranges.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONSTRAINTS ?= constraints.txt
SEEDS  ?= 20

.PHONY: demo test setup export-check notebooks pytest readme docs docs-check bench slow clean property-seeds lock test-latest mutation

setup: $(STAMP)

$(STAMP): setup.py settings.ini pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=64" wheel packaging $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	$(BIN)/python -m pip install --quiet -e ".[dev]" $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
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

property-seeds: $(STAMP)
	set -e; for s in $$(seq 1 $(SEEDS)); do echo "== hypothesis seed $$s"; \
	  HYPOTHESIS_PROFILE=seeds $(BIN)/python -m pytest tests/ -q -p no:cacheprovider -m property --hypothesis-seed=$$s; done

lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip "setuptools>=64" wheel packaging
	.venv-lock/bin/python -m pip install --quiet -e ".[dev]"
	{ echo "# The pinned development environment (make lock writes it; make setup installs with -c constraints.txt)."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^-e ' | grep -vi '^emtheory'; \
	  .venv-lock/bin/python -m pip freeze --all | grep -iE '^(pip|setuptools|wheel)=='; } > constraints.txt
	rm -rf .venv-lock

test-latest:
	$(MAKE) test VENV=.venv-latest CONSTRAINTS=

MODULES ?=
mutation: $(STAMP)
	$(BIN)/mutmut run $(foreach m,$(MODULES),"emtheory.$(m).*"); status=$$?; \
	  $(BIN)/python tools/mutation_score.py $(BIN)/mutmut; exit $$status

slow: $(STAMP)
	$(BIN)/nbdev_test --n_workers 2 --flags slow --timing
	EMTHEORY_SLOW=1 $(BIN)/python -m pytest tests/ -q -p no:cacheprovider -m slow

readme: $(STAMP)
	$(BIN)/python tools/make_readme.py

docs: $(STAMP)
	tools/docs/build.sh

docs-check: $(STAMP)
	tools/docs/check.sh

bench: $(STAMP)
	$(BIN)/python bench/bench.py
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace nbs/index.ipynb   # its speed table reads bench/RESULTS.md
	$(BIN)/nbdev_clean
	$(MAKE) readme
	$(BIN)/python bench/bench_expfam.py
	$(BIN)/python bench/bench_ppca.py

clean:
	rm -rf _proc _docs _docs_check build dist *.egg-info
