"""MlxConverter through mlx-lm's own conversion API (`mlx_lm.convert.convert`), as `mlx_lm.convert -q` runs it:
affine quantization at mlx-lm's default group size (64) and the given bits, every other weight at the
merged model's dtype. mlx-lm reads the merged folder through source_view (RoPE settings lifted)."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

from hubship.adapters.mlx.source_view import source_view
from hubship.adapters.mlx.support import unsupported
from hubship.domain.errors import PublishError
from hubship.ports.progress import Progress


class MlxLmConverter:
    def unsupported(self, model_type: str, architecture: str) -> str | None:
        return unsupported(model_type, architecture)

    def convert(self, model_dir: Path, out_dir: Path, *, bits: int | None, progress: Progress) -> tuple[str, ...]:
        from mlx_lm.convert import convert

        label = f"{bits}-bit" if bits else "16-bit"
        if out_dir.exists():
            if any(out_dir.iterdir()):
                raise PublishError(f"cannot convert to MLX into {out_dir}: the folder is not empty")
            out_dir.rmdir()  # mlx_lm.convert makes the folder itself and refuses an existing one
        with progress.task(f"convert to MLX {label} (mlx-lm)", total=1, unit="steps") as task, source_view(model_dir) as (view, lifted):
            log = io.StringIO()
            try:
                with contextlib.redirect_stdout(log):  # mlx-lm prints [INFO] lines; hubship's progress says the same
                    convert(str(view), str(out_dir), quantize=bits is not None, q_bits=bits)
            except (ValueError, KeyError, OSError, RuntimeError) as exc:
                shutil.rmtree(out_dir, ignore_errors=True)
                out_dir.mkdir(parents=True, exist_ok=True)
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise PublishError(f"mlx_lm.convert failed on the merged model: {first}") from None
            task.advance()
        if not lifted:
            return ()
        keys = ", ".join(lifted)
        return (f"config.json: {keys} copied from rope_parameters to the top level, where mlx-lm reads them (else: its defaults)",)
