"""Makes llm-compressor's own environment: `python -m hubship.adapters.llm_compressor.install` (what `make setup` runs).

A virtual environment at environment.env_home() with CPU torch first where there is no NVIDIA GPU (as hubship's
own), then llm-compressor at LLMCOMPRESSOR_VERSION with what it pins (transformers 5.15–5.17, compressed-tensors
0.19). Nothing of it touches hubship's environment. An environment already holding that version is kept.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv

from hubship.adapters.llm_compressor.environment import env_home, env_python, installed_version

LLMCOMPRESSOR_VERSION = "0.14.0.1"
TORCH_CPU = "torch==2.13.0"


def install(torch_spec: str = TORCH_CPU, torch_index: str = "") -> None:
    """`torch_spec` (and its index, `make setup`'s TORCH_INDEX) where there is no NVIDIA GPU, then llm-compressor."""
    home = env_home()
    if installed_version(home) == LLMCOMPRESSOR_VERSION:
        print(f"llm-compressor {LLMCOMPRESSOR_VERSION} already in {home}")
        return
    if not env_python(home).exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
    pip = [str(env_python(home)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if shutil.which("nvidia-smi") is None:
        subprocess.run([*pip, *(["--index-url", torch_index] if torch_index else []), torch_spec], check=True)
    subprocess.run([*pip, f"llmcompressor=={LLMCOMPRESSOR_VERSION}"], check=True)
    print(f"llm-compressor {installed_version(home)} installed in {home}")


if __name__ == "__main__":
    install(*sys.argv[1:3])
