# Two commands on a fresh machine (see README): `make demo` and `make test`. Both build their own virtualenv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test lint unit bench clean

# The browser test (tests/ui/test_browser.py) drives Debian's chromium through Playwright (pip, dev extra); Playwright's
# own browser download is never used. Installed here when missing, with apt-get as root or passwordless sudo;
# otherwise a warning, and that one test skips saying why.
install: $(VENV)/.installed
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if ! command -v apt-get >/dev/null 2>&1; then echo "warning: no chromium and no apt-get: the browser test will skip"; \
	  else echo "installing Debian chromium for the browser test"; \
	    $(if $(filter 0,$(shell id -u)),,sudo -n) sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium' \
	    || echo "warning: could not install chromium (run: sudo apt-get install chromium): the browser test will skip"; fi; }

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# In CI (CI=true, set by GitHub Actions, GitLab and most runners) the demo starts both servers, checks they answer and
# exits instead of running until Ctrl-C.
demo: install
	$(VENV)/bin/supportbot demo $(if $(CI),--check)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest

test: lint unit

bench: install
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
