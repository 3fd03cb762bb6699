# The two commands of the README:
#   make demo   set everything up, then run the demo benchmark end to end
#   make test   set everything up, then run the tests
# Both create .venv on first use and reuse it afterwards.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup browser sandbox demo test test-slow test-postgres lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "installing dependencies (the first time builds llama.cpp: about 5 minutes on 2 cores)"
	# LLAVA_BUILD=OFF: the multimodal library is never used and takes a good part of the build.
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(BIN)/python -m pip install --quiet --constraint requirements.lock --editable '.[dev]'
	@touch $@

# The site tests drive Debian's Chromium (never a downloaded browser); without
# root or apt they skip, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: the browser tests will skip"; }

# Code tasks run generated programs only under bubblewrap (evals/sandbox/launcher.py): Debian's
# bubblewrap is installed as the browser is; elsewhere code tasks refuse to run, saying
# how to install it or to accept weaker isolation (docs/operations.md).
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
		|| echo "bubblewrap not installed: code tasks will refuse to run (docs/operations.md, Sandbox)"; }

demo: setup sandbox
	$(BIN)/slmbench demo

test: setup browser sandbox
	$(BIN)/ruff check .
	# Two workers, a test file each at a time (module fixtures such as a local Ray stay in one process):
	# most of the suite waits on Prefect, Ray and subprocess start-ups, which overlap on 2 cores.
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-slow: setup
	$(BIN)/python -m pytest -m slow
	$(MAKE) test-postgres

# The ChatOps tests, end to end included, on a real Prefect server backed by a PostgreSQL the
# session creates with initdb and pg_ctl (tests/prefect_postgres.py; Debian's postgresql).
test-postgres: setup
	SLMBENCH_TEST_PREFECT=postgres $(BIN)/python -m pytest tests/flows/chatops

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf .slmbench warehouse site docs/generated
