# The two set-up commands of the README. Both install what they need from nothing.
PY := .venv/bin/python

.PHONY: install test demo demo-dynamic bench clean

install:
	bash scripts/install.sh

test: install
	$(PY) -m pytest -q tests

demo: install
	bash scripts/demo.sh

demo-dynamic: install
	bash scripts/demo.sh --dynamic

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf .venv demo_output demo_output_dynamic
