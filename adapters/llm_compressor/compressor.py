"""Compressor with llm-compressor: `oneshot_worker.py` run by the interpreter of llm-compressor's own environment,
then the saved `quantization_config` checked against compressed-tensors' schema in hubship's environment."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hubship.adapters.llm_compressor.environment import env_home, env_python, missing
from hubship.adapters.llm_compressor.schema import check_quantization_config
from hubship.domain.errors import PublishError
from hubship.ports.progress import Progress

WORKER = Path(__file__).with_name("oneshot_worker.py")
FAILED = "hubship-worker-failed: "  # as oneshot_worker.FAILED (the worker is a script of another environment: not imported)
MAX_SEQ_LENGTH = 512  # tokens per calibration window
NUM_SAMPLES = 256  # windows at most (hubship's default calibration text makes fewer)


def _failure(done: subprocess.CompletedProcess[str]) -> str:
    """The worker's own failure line, else the last line of its output, else its exit code."""
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    marked = [line.removeprefix(FAILED) for line in lines if line.startswith(FAILED)]
    return (marked or lines or [f"exit {done.returncode}"])[-1]


class LlmCompressorCompressor:
    """`home`: llm-compressor's environment (default environment.env_home())."""

    def __init__(self, home: Path | None = None) -> None:
        self._home = home

    @property
    def home(self) -> Path:
        return self._home or env_home()

    def missing(self) -> str | None:
        return missing(self.home)

    def compress(
        self, model_dir: Path, out_dir: Path, *, scheme: str, ignore: Sequence[str], calibration: str | None, progress: Progress
    ) -> None:
        if reason := self.missing():
            raise PublishError(reason)
        with (
            tempfile.TemporaryDirectory(prefix="hubship-llmc-") as tmp,
            progress.task(f"quantize {scheme} (llm-compressor)", total=1, unit="models") as task,
        ):
            spec = {"model": str(model_dir.resolve()), "out": str(out_dir.resolve()), "scheme": scheme, "ignore": list(ignore)}
            if calibration is not None:
                (Path(tmp) / "calibration.txt").write_text(calibration, encoding="utf-8")
                spec |= {"calibration": str(Path(tmp) / "calibration.txt"), "max_seq_length": MAX_SEQ_LENGTH, "num_samples": NUM_SAMPLES}
            (Path(tmp) / "spec.json").write_text(json.dumps(spec))
            # the model is a local folder: nothing to fetch from the Hub
            env = {**os.environ, "PYTHONNOUSERSITE": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
            env.pop("PYTHONPATH", None)  # hubship's own path must not shadow the environment's transformers
            done = subprocess.run(
                [str(env_python(self.home)), str(WORKER), str(Path(tmp) / "spec.json")],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise PublishError(f"llm-compressor failed on {model_dir} ({scheme}): {_failure(done)}")
            task.advance()
        check_quantization_config(out_dir / "config.json", ignore)
