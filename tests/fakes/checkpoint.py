from __future__ import annotations

from pathlib import Path

from hubship.domain.checkpoint import BaseInfo, BaseRef, Checkpoint


class FakeCheckpointReader:
    """Reads nothing: describes a LoRA checkpoint in `root` (files are created so they can be hashed)."""

    def check_values(self, checkpoint: Checkpoint) -> None:
        return None

    def read(self, path: Path, base: str | None = None, pick: str | None = None, *, check_values: bool = True) -> Checkpoint:
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
    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir

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
        )

    def check_compatible(self, checkpoint: Checkpoint, base: BaseInfo) -> None:
        return None


class FakeSaver:
    def save_adapter(self, checkpoint: Checkpoint, out_dir: Path, progress, *, base_model_id: str | None = None) -> None:
        (out_dir / "adapter_model.safetensors").write_bytes(b"adapter")

    def save_tokenizer(self, checkpoint: Checkpoint, base: BaseInfo, out_dir: Path) -> None:
        (out_dir / "tokenizer.json").write_text("{}")
