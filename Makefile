# The two commands: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: venv run test test-packages clean

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	    echo "make: need Python 3.11+ with the venv module (Debian: apt-get install python3-venv)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed

# Migrates, starts Redis (embedded), a worker and the API, trains LeNet-5 over REST, stays up.
run: venv
	$(BIN)/convforge up --demo

# The services the tests start for real, from Debian's packages. apt-get runs only when one is
# missing; without apt-get (or the rights to use it) the tests that need them are skipped.
TEST_PACKAGES := redis-server postgresql chromium chromium-driver docker-compose dataset-fashion-mnist

test-packages:
	@missing=$$(for p in $(TEST_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    echo "make: installing the services the tests use:" $$missing; \
	    { $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; } || \
	    echo "make: could not install" $$missing "- the tests that need them will be skipped" >&2; \
	fi

test: venv test-packages
	$(BIN)/python -m pytest -ra

clean:
	rm -rf $(VENV) var
