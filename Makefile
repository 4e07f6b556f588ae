# The two set-up commands of the README. Both install what they need from nothing.
PY := .venv/bin/python

.PHONY: install test demo demo-dynamic pretrain-finetune bench clean

install:
	bash scripts/install.sh

test: install
	$(PY) -m pytest -q tests

demo: install
	bash scripts/demo.sh

demo-dynamic: install
	bash scripts/demo.sh --dynamic

# About 45 minutes on 2 cores: pretraining a small NEZHA, then ChnSentiCorp from it and from random init.
pretrain-finetune: install
	bash scripts/pretrain_finetune.sh

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf .venv demo_output demo_output_dynamic recipe_output
