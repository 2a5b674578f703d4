# The README's two commands: `make demo` (run the main job) and `make test` (check everything).
PYTHON ?= python3
VENV ?= .venv
PIP := $(VENV)/bin/python -m pip
# Where there is no NVIDIA GPU the CPU build of torch is installed first (0.2 GB instead of 5.5 GB).
# Elsewhere, point TORCH_INDEX at the CPU wheel index, e.g. make setup TORCH_INDEX=<url>.
TORCH_CPU ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: setup demo test lint clean

# One line on stderr where a folder's disk has less free than a step needs: pip and the tests otherwise stop half-way
# with "No space left on device". $(1) folder, $(2) GB needed, $(3) the step.
define warn_disk
@free=$$(df -Pk "$(1)" | awk 'NR==2 {print int($$4/1048576)}'); \
if [ "$$free" -lt $(2) ]; then echo "warning: $$free GB free in $(1), $(3) needs about $(2) GB: free some space first" >&2; fi
endef

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile adapters/llama_cpp/install.py adapters/llama_cpp/tools_build.py adapters/llm_compressor/install.py
	$(call warn_disk,.,5,the set-up (.venv with llm-compressor's environment 3.1 GB and pip's unpacking))
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1 && ! $(VENV)/bin/python -c "import torch" 2>/dev/null; then \
	  $(PIP) install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),) "$(TORCH_CPU)"; fi
	$(PIP) install -e ".[dev,gguf,vllm]"
	# the MLX formats (hubship[mlx]) where mlx has wheels: macOS on Apple silicon, Linux x86_64 and aarch64 (mlx[cpu])
	if $(VENV)/bin/python -c "import platform, sys; sys.exit((platform.system(), platform.machine()) not in {('Darwin', 'arm64'), ('Linux', 'x86_64'), ('Linux', 'aarch64')})"; then \
	  $(PIP) install -e ".[mlx]"; else echo "no mlx wheels for this platform: the MLX formats are refused at plan time"; fi
	# the tests' Mistral tokenizers: data files of mistral-common's wheel, downloaded, not installed (it pins numpy<2.4)
	$(PIP) download -q --no-deps -d $(VENV)/share/hubship/wheels mistral-common==1.12.0
	# hubship's own bytecode, as a non-editable install has it (each run compiles its modules otherwise, 0.3 s, where
	# PYTHONDONTWRITEBYTECODE is set, as in many containers)
	$(VENV)/bin/python -m compileall -q -j 0 -x '/\.venv/|/tests/' .
	$(VENV)/bin/python -m hubship.adapters.llama_cpp.install install
	# llama.cpp's llama-imatrix and llama-quantize (low-bit GGUF quants), compiled once from the same source (~4 min on
	# 2 cores); cmake and ninja from the package index into the venv where the system has none.
	command -v cmake >/dev/null 2>&1 || $(PIP) install cmake
	command -v ninja >/dev/null 2>&1 || $(PIP) install ninja
	$(VENV)/bin/python -m hubship.adapters.llama_cpp.install tools
	# llama.cpp's llama-server (the chat proof runs its Jinja engine and tokenizer), same source, no web UI, cached apart
	$(VENV)/bin/python -m hubship.adapters.llama_cpp.install server
	# llm-compressor (fp8-dynamic, w4a16) in an environment of its own: it pins an older transformers than hubship's
	# (2.5-3 min, 1.5 GB: CPU torch, then llmcompressor and its pins; docs/adr/018-compressed-tensors.md)
	$(VENV)/bin/python -m hubship.adapters.llm_compressor.install "$(TORCH_CPU)" "$(TORCH_INDEX)"
	touch $@

demo: setup
	$(VENV)/bin/hubship demo --to dir:./published

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Branch coverage of the in-process runs (.coveragerc): at least 80% overall, 90% on domain/ and application/.
test: lint
	$(call warn_disk,$${TMPDIR:-/tmp},8,the test suite (tiny models and GGUFs))
	$(VENV)/bin/python -m pytest -q -n auto --dist loadfile --durations=15 --cov=hubship --cov-report=
	$(VENV)/bin/python -m coverage report --fail-under=80
	$(VENV)/bin/python -m coverage report --include='domain/*,application/*' --fail-under=90

clean:
	rm -rf published .pytest_cache build *.egg-info
