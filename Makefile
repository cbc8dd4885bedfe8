# Two commands for a new user: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench clean

run: $(STAMP)
	$(BIN)/gullak run $(if $(PROFILE),--profile $(PROFILE))

# One test process per core (at most four), each with its own template and databases on the
# one server; TEST_PROCESSES=0 runs the suite in this process.
TEST_PROCESSES ?= auto

test: $(STAMP)
	$(BIN)/pytest $(if $(filter 0,$(TEST_PROCESSES)),,-n $(TEST_PROCESSES) --maxprocesses 4) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/gullak bench ledger

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Gullak needs Python 3.11 or newer")'
	@echo "setting up .venv: installing Gullak and its dependencies (once, about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	@touch $@

clean:
	rm -rf $(VENV) .gullak-test .pytest_cache
