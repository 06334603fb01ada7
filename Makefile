# descenso — the two commands a new user needs are `make report` and `make test`.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PROFILE ?= full
JOBS    ?=
ONLY    ?=
RUN_OPTS := --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS)) $(if $(ONLY),--only '$(ONLY)')

.PHONY: report run test bench validate status schema clean distclean

# pip compiles every module it installs, one at a time, the packages' own test suites included;
# compileall compiles all but the test folders, on every core: the same bytecode, seconds sooner.
# A module that does not compile is left to Python, which compiles it if it is ever imported
# (as pip ignores such modules too).
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check --no-compile -c requirements.lock
COMPILE     := $(PY) -m compileall -q -j 0 -x '/tests?/' $(VENV)/lib || echo "compileall: some modules did not compile; Python compiles them on import"

# What `make report` needs, and no more: the test tools (pytest, Selenium and its dependencies)
# would add about 6 s to a cold install.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e .
	$(COMPILE)
	touch $@

## Train what is missing, then render reports/ (HTML, PDF, CSV, claims.json).
report: $(VENV)/.installed
	$(PY) -m engine run $(RUN_OPTS) --report

run: $(VENV)/.installed
	$(PY) -m engine run $(RUN_OPTS)

status: $(VENV)/.installed
	$(PY) -m engine status $(RUN_OPTS)

validate: $(VENV)/.installed
	$(PY) -m engine validate

# The test tools and the Dask extra: optional for `make report` (Dask would add ~20 s to a cold
# install), needed to test `engine run --executor dask`.
$(VENV)/.testing: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[test,cluster]'
	$(COMPILE)
	touch $@

## The test suite (CI runs this through .ci/run).
test: $(VENV)/.testing
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m engine.bench $(BENCH_OPTS)

## Regenerate the shipped JSON Schema of experiments.yaml from the registries.
schema: $(VENV)/.installed
	$(PY) -m engine schema > engine/config/experiments.schema.json

clean:
	rm -rf reports/index.html reports/report.pdf reports/results.csv reports/claims.json reports/en

distclean: clean
	rm -rf $(VENV) .store .pytest_cache
