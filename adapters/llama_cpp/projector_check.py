"""A vision-language GGUF's projector (`mmproj-*.gguf`) as llama.cpp's multimodal library (mtmd) uses it: loaded
beside the text model it belongs to, and one image encoded through it into the text model's embedding space.

llama-mtmd-cli and llama-server do the same with `-m MODEL --mmproj PROJECTOR`: a projector that does not fit its
model (another model's, a broken conversion) fails here, not in front of a user. The image is a fixed gradient
(no image file, no decoder): what is checked is that the vision tower runs and gives finite embeddings of the text
model's width, not what it sees.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp import mtmd_cpp
from llama_cpp._utils import suppress_stdout_stderr

from hubship.adapters.llama_cpp.threads import free_threads
from hubship.domain.errors import PublishError

IMAGE_SIDE = 64  # pixels: the smallest side every projector llama.cpp converts resizes up from


def _image() -> np.ndarray:
    ramp = np.linspace(0, 255, IMAGE_SIDE, dtype=np.uint8)
    return np.ascontiguousarray(np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], 128), axis=-1).astype(np.uint8))


def check_projector(model_file: Path, projector: Path) -> dict[str, float | str]:
    """Load `projector` for the GGUF `model_file` and encode one image: its figures, or PublishError naming the file."""
    params = llama_cpp.llama_model_default_params()
    model = llama_cpp.llama_model_load_from_file(str(model_file).encode(), params)
    if not model:
        raise PublishError(f"llama.cpp cannot load {model_file.name}; the GGUF file is broken")
    ctx_params = mtmd_cpp.mtmd_context_params_default()
    ctx_params.use_gpu, ctx_params.print_timings, ctx_params.n_threads = False, False, free_threads()
    with suppress_stdout_stderr(disable=False):  # mtmd logs every step of loading and encoding to stderr
        ctx = mtmd_cpp.mtmd_init_from_file(str(projector).encode(), model, ctx_params)
    try:
        if not ctx or not mtmd_cpp.mtmd_support_vision(ctx):
            raise PublishError(f"llama.cpp's multimodal library cannot use {projector.name} as the vision projector of {model_file.name}")
        with suppress_stdout_stderr(disable=False):
            return _encode(ctx, llama_cpp.llama_model_n_embd(model), projector)
    finally:
        if ctx:
            mtmd_cpp.mtmd_free(ctx)
        llama_cpp.llama_model_free(model)


def _encode(ctx: mtmd_cpp.mtmd_context_p, width: int, projector: Path) -> dict[str, float | str]:
    pixels = _image()
    bitmap = mtmd_cpp.mtmd_bitmap_init(IMAGE_SIDE, IMAGE_SIDE, pixels.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
    chunks = mtmd_cpp.mtmd_input_chunks_init()
    try:
        text = mtmd_cpp.mtmd_input_text(mtmd_cpp.mtmd_default_marker(), len(mtmd_cpp.mtmd_default_marker()), False, True)
        bitmaps = (mtmd_cpp.mtmd_bitmap_p_ctypes * 1)(bitmap)
        if mtmd_cpp.mtmd_tokenize(ctx, chunks, ctypes.byref(text), bitmaps, 1) != 0:
            raise PublishError(f"llama.cpp could not prepare an image for {projector.name}")
        for i in range(mtmd_cpp.mtmd_input_chunks_size(chunks)):
            chunk = mtmd_cpp.mtmd_input_chunks_get(chunks, i)
            if mtmd_cpp.mtmd_input_chunk_get_type(chunk) != mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                continue
            tokens = mtmd_cpp.mtmd_input_chunk_get_n_tokens(chunk)
            if mtmd_cpp.mtmd_encode_chunk(ctx, chunk) != 0:
                raise PublishError(f"llama.cpp could not encode an image through {projector.name}")
            embd = np.ctypeslib.as_array(mtmd_cpp.mtmd_get_output_embd(ctx), shape=(tokens * width,))
            if not np.isfinite(embd).all():
                raise PublishError(f"an image encoded through {projector.name} gives non-finite embeddings")
            return {"projector_file": projector.name, "projector_image_tokens": float(tokens), "projector_embedding_width": float(width)}
        raise PublishError(f"llama.cpp made no image input for {projector.name}")
    finally:
        mtmd_cpp.mtmd_input_chunks_free(chunks)
        mtmd_cpp.mtmd_bitmap_free(bitmap)
