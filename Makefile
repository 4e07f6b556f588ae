# The two set-up commands of the README. Both install what they need from nothing.
# STACK=classic (Python 3.9-3.11, .venv) or STACK=current (Python 3.12-3.13, .venv-current); without it,
# scripts/install.sh picks the one this machine's Pythons allow (classic when both can be had).
ifeq ($(origin STACK),undefined)
STACK := $(shell bash scripts/install.sh --which-stack 2>/dev/null || echo classic)
endif
export STACK
PY := $(if $(filter current,$(STACK)),.venv-current,.venv)/bin/python

.PHONY: install test demo demo-dynamic pretrain-finetune bench clean

install:
	bash scripts/install.sh

test: install
	$(PY) -m pytest -q tests

demo: install
	PY=$(PY) bash scripts/demo.sh

demo-dynamic: install
	PY=$(PY) bash scripts/demo.sh --dynamic

# About 45 minutes on 2 cores: pretraining a small NEZHA, then ChnSentiCorp from it and from random init.
pretrain-finetune: install
	PY=$(PY) bash scripts/pretrain_finetune.sh

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf .venv .venv-current demo_output demo_output_dynamic recipe_output
