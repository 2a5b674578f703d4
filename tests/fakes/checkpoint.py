from __future__ import annotations

from pathlib import Path

from hubship.domain.checkpoint import FULL, BaseInfo, BaseRef, Checkpoint
from hubship.domain.quantization import Quantization


class FakeCheckpointReader:
    """Reads nothing: describes a LoRA checkpoint in `root` (files are created so they can be hashed); a folder that
    holds a model (a config.json, as FakeModelLoader's base) reads as a full fine-tune, as the base yardstick reads it."""

    def check_values(self, checkpoint: Checkpoint) -> None:
        return None

    def read(self, path: Path, base: str | None = None, pick: str | None = None, *, check_values: bool = True) -> Checkpoint:
        if (path / "config.json").is_file() and not (path / "adapter_config.json").exists():
            return Checkpoint(root=str(path), kind=FULL, base=BaseRef(path=str(path)), files=("config.json",))
        path.mkdir(parents=True, exist_ok=True)
        (path / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 4}')
        (path / "adapter_model.safetensors").write_bytes(b"adapter")
        return Checkpoint(
            root=str(path),
            adapter_config={"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"]},
            adapter_weights="adapter_model.safetensors",
            adapter_bytes=7,
            base=BaseRef(path=base or str(path.parent / "base")),
            files=("adapter_config.json", "adapter_model.safetensors"),
            training_method="sft",
        )


class FakeModelLoader:
    """A base in `base_dir` (a config.json only), bf16, or stored quantized (`quantization`: a QLoRA base)."""

    def __init__(self, base_dir: Path, quantization: Quantization | None = None) -> None:
        self.base_dir = base_dir
        self.quantization = quantization

    def base_info(self, ref: BaseRef) -> BaseInfo:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "config.json").write_text("{}")
        return BaseInfo(
            path=str(self.base_dir),
            architecture="LlamaForCausalLM",
            model_type="llama",
            dtype="bf16",
            parameter_bytes=1000,
            weight_files=("model.safetensors",),
            license="mit",
            quantization=self.quantization,
        )

    def check_compatible(self, checkpoint: Checkpoint, base: BaseInfo) -> None:
        return None


class FakeSaver:
    def save_adapter(self, checkpoint: Checkpoint, out_dir: Path, progress, *, base_model_id: str | None = None) -> None:
        (out_dir / "adapter_model.safetensors").write_bytes(b"adapter")

    def save_tokenizer(self, checkpoint: Checkpoint, base: BaseInfo, out_dir: Path) -> None:
        (out_dir / "tokenizer.json").write_text("{}")
