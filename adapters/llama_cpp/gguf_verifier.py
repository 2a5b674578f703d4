"""GgufVerifier through llama-cpp-python: size and bits per weight from llama.cpp, and logits against a reference.

The GGUF is loaded as llama.cpp runs it (every free core, every position's logits) and fed the
reference's own token ids, so tokenization plays no part in the comparison.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import llama_cpp
import numpy as np
from safetensors.numpy import load_file

from hubship.adapters.llama_cpp.projector_check import check_projector
from hubship.adapters.llama_cpp.threads import free_threads
from hubship.domain.errors import PublishError
from hubship.domain.imatrix import probe_halves
from hubship.ports.progress import Progress


@contextlib.contextmanager
def _model(path: Path, *, vocab_only: bool) -> Iterator[llama_cpp.llama_model_p]:
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = vocab_only
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise PublishError(f"llama.cpp cannot load {path.name}; the GGUF file is broken")
    try:
        yield model
    finally:
        llama_cpp.llama_model_free(model)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def compare(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Mean KL(reference || candidate) over positions, and the share of positions with the same top-1 token."""
    vocab = min(reference.shape[-1], candidate.shape[-1])
    ref, cand = reference[:, :vocab].astype(np.float64), candidate[:, :vocab].astype(np.float64)
    log_p, log_q = _log_softmax(ref), _log_softmax(cand)
    kl = (np.exp(log_p) * (log_p - log_q)).sum(axis=-1)
    return {
        "mean_kl": float(max(kl.mean(), 0.0)),
        "top1_agreement": float((ref.argmax(axis=-1) == cand.argmax(axis=-1)).mean()),
    }


def gguf_logits(path: Path, input_ids: Sequence[int], lora: Path | None = None) -> np.ndarray:
    """Logits [T, vocab] of the GGUF (with the GGUF LoRA `lora` applied) at every position of `input_ids`, one batch,
    on the free cores."""
    count = len(input_ids)
    llm = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=max(count, 16),
        n_batch=max(count, 16),
        n_ubatch=max(count, 16),
        n_threads=(threads := free_threads()),
        n_threads_batch=threads,
        logits_all=True,
        lora_path=str(lora) if lora is not None else None,
        verbose=False,
    )
    try:
        llm.eval(list(input_ids))
        return np.array(llm.scores[:count], dtype=np.float32)
    finally:
        llm.close()


class LlamaCppGgufVerifier:
    def measure(self, files: Sequence[Path], reference: Path | None, *, progress: Progress, lora: Path | None = None) -> dict[str, float]:
        first = Path(files[0])
        with progress.task(f"verify {first.name}", total=1, unit="files") as task:
            with _model(first, vocab_only=True) as model:
                n_params = llama_cpp.llama_model_n_params(model)
                tensor_bytes = llama_cpp.llama_model_size(model)
            metrics: dict[str, float] = {
                "file_size_bytes": sum(Path(f).stat().st_size for f in files),
                "bits_per_weight": round(tensor_bytes * 8 / max(n_params, 1), 3),
            }
            if reference is not None:
                probe = load_file(str(reference))
                logits = gguf_logits(first, probe["input_ids"].tolist(), lora)
                metrics |= compare(probe["logits"], logits)
                for half, at in probe_halves(len(logits)).items():  # where `--imatrix auto` chooses, and reports
                    if len(at):
                        part = slice(at.start, at.stop)
                        metrics |= {f"{k}_{half}": v for k, v in compare(probe["logits"][part], logits[part]).items()}
            task.advance()
        return metrics

    def projector(self, model_file: Path, projector_file: Path) -> dict[str, float | str]:
        return check_projector(Path(model_file), Path(projector_file))
