"""How much memory each step's process peaks at, for `plan`: the libraries it runs on, plus what it holds of the
model at once. Checked step by step by tests/benchmarks/bench_estimates.py (each step's peak RSS, measured from
outside, on the tiny demo model and bf16 Llamas of 190M and 310M parameters; every estimate lands within 25%
but bitsandbytes' in its lower mode, below; figures in docs/formats-quality.md) and by
tests/integration/test_memory_estimates.py.

- A torch step (reference logits, the merge and its check, the 4-bit quantization) runs on torch,
  transformers and peft: about RUNTIME["torch"] before any weight is read.
- The merge holds three copies of the biggest weight it changes (read, fp32 sum, cast); verification runs
  the model a decoder layer at a time in fp32 and holds the probe's logits twice (reference and artifact).
- bitsandbytes loads the whole merged model to quantize it. Its peak is bimodal from run to run on the same
  input: above the libraries, 1.3 to 1.45 times the 16-bit model's size, or 2.3 to 3.2 times (transformers'
  load sometimes keeps about another model's worth; publishes at 190M parameters peaked at 927, 979 and
  1304 MB, at 310M at 1240, 2422 and 2430 MB). The estimate takes the upper mode, 2.5 times, so a plan never
  promises less than a run can reach: within 25% of every upper-mode run measured, 1.4 to 1.6 times a
  lower-mode one. Its heap is handed back before the check, which loads the 4-bit model and runs it whole:
  the step's peak is the higher of the two.
- llama.cpp's quantizer works a tensor at a time: the biggest one in fp32 (converted from a 16-bit source)
  and its output buffer (4 bytes a weight); the source is mapped, its pages reclaimable. The check of a GGUF
  maps the quantized file and holds both logits. The converter works a tensor or two at a time.
- llama-imatrix is a tool process of its own (a few MB of code) beside hubship's: it maps and reads the whole
  lossless intermediate and holds a 512-token batch's logits and compute buffers (about twice its fp32 logits).
- Copying and hashing files (the adapter, the Ollama files) streams them: the CLI's own libraries only.
"""

from __future__ import annotations

from hubship.application.formats.sizes import DTYPE_BYTES, merged_bytes
from hubship.domain.artifact_sizes import elements
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.gguf_types import kind_of, layer_of
from hubship.domain.probe import FULL_PROBE_TOKENS

MB = 1000**2
RUNTIME = {  # peak RSS of the process before any weight is read, by what it imports
    "torch": 440 * MB,  # torch, transformers, peft, safetensors
    "llama_cpp": 280 * MB,  # llama-cpp-python and numpy (no torch)
    "converter": 320 * MB,  # llama.cpp's convert_hf_to_gguf.py, a subprocess
    "tool": 20 * MB,  # one of llama.cpp's own tools (llama-imatrix), a C++ process
    "files": 60 * MB,  # Python and hubship's CLI (typer, rich, dependency-injector): copying and hashing files
}
BNB_LOAD = 12  # tenths: bitsandbytes' peak while quantizing, per byte of the 16-bit model it loads (memory.large_blocks_mapped)
SLAB = 16 * MB  # a slab of a big embedding or head, run slab by slab
PROBE_TOKENS = FULL_PROBE_TOKENS


def logits_bytes(base: BaseInfo) -> int:
    """The probe's logits in fp32, the reference's and an artifact's."""
    return 2 * PROBE_TOKENS * (base.vocab_size or 32_000) * 4


def layer_bytes_fp32(base: BaseInfo) -> int:
    """One decoder layer in fp32 (from the tensor shapes; else the weights spread over the layers, which errs high)."""
    if base.tensors:
        first = [s for name, s in base.tensors if layer_of(name) == 0 and kind_of(name, s) not in ("token_embd", "output")]
        return sum(elements(s) for s in first) * 4
    widen = 4 // DTYPE_BYTES.get(base.dtype, 2)
    return base.parameter_bytes * widen // max(base.num_layers or 1, 1)


def forward_bytes(base: BaseInfo) -> int:
    """Verification's own peak: one layer in fp32, a slab of the embedding or head, and the two logits."""
    return layer_bytes_fp32(base) + SLAB + logits_bytes(base)


def merge_bytes(checkpoint: Checkpoint, base: BaseInfo) -> int:
    """The merge's own peak: three fp32 copies of the biggest weight the adapter changes, and the copy buffer."""
    targets = {t.rsplit(".", 1)[-1] for t in checkpoint.target_modules}
    changed = [elements(s) for name, s in base.tensors if name.removesuffix(".weight").rsplit(".", 1)[-1] in targets]
    biggest = max(changed, default=0) * 4 or base.largest_tensor_bytes * 4 // DTYPE_BYTES.get(base.dtype, 2)
    return 3 * biggest + SLAB


def bnb_step_bytes(base: BaseInfo, four_bit_bytes: int) -> int:
    """merged-4bit's own peak: bitsandbytes quantizing the merged model (1.2 times its 16-bit size, with large blocks mapped), or
    the check after it (the 4-bit model of `four_bit_bytes`, run as verification runs), whichever is higher."""
    quantizing = BNB_LOAD * merged_bytes(base, base.dtype) // 10
    checking = four_bit_bytes + forward_bytes(base)
    return max(quantizing, checking)


IMATRIX_BATCH = 512  # hubship.adapters.llama_cpp.imatrix_tools: --ctx-size and --batch-size


def imatrix_step(base: BaseInfo) -> int:
    """The imatrix step: llama-imatrix (the intermediate it maps, two fp32 logits of a batch), or the hubship process
    that waits beside it holding llama.cpp, whichever is higher."""
    tool = RUNTIME["tool"] + merged_bytes(base, base.dtype) + 2 * IMATRIX_BATCH * (base.vocab_size or 32_000) * 4
    return max(RUNTIME["llama_cpp"], tool)


def torch_step(own: int) -> int:
    return RUNTIME["torch"] + own


def llama_cpp_step(own: int) -> int:
    return RUNTIME["llama_cpp"] + own


def biggest_elements(base: BaseInfo) -> int:
    """The weights of the base's biggest tensor."""
    return max((elements(s) for _, s in base.tensors), default=base.largest_tensor_bytes // DTYPE_BYTES.get(base.dtype, 2))


def quantize_bytes(base: BaseInfo) -> int:
    """llama.cpp's quantizer: the biggest tensor in fp32 (unless the source is fp32 already) and its output buffer."""
    return (1 if base.dtype == "fp32" else 2) * 4 * biggest_elements(base)


def converter_step(base: BaseInfo) -> int:
    """llama.cpp's converter: its libraries and two of the biggest tensor in fp32."""
    return RUNTIME["converter"] + 2 * biggest_elements(base) * 4


def files_step(own: int) -> int:
    return RUNTIME["files"] + own
