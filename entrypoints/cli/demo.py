"""`hubship demo`: build a tiny real Llama + LoRA checkpoint in the workspace (once) and publish it in every available format."""

from __future__ import annotations

from pathlib import Path

from hubship.entrypoints import render
from hubship.entrypoints.cli.options import Json, Quiet, To, Workspace, container_for
from hubship.entrypoints.cli.request_options import request

DEMO_FORMATS = ("lora", "merged-16bit", "merged-4bit", "gguf-q8_0", "gguf-q4_k_m")


def demo(
    to: To = None,
    workspace: Workspace = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Build a tiny real Llama + LoRA checkpoint locally and publish every available format of it."""
    container = container_for(workspace, quiet or json_out)
    root = Path(container.config.workspace()) / "demo"
    if not (root / "checkpoint" / "adapter_config.json").is_file():
        container.progress().message(f"building the demo checkpoint in {root}")
        container.demo_factory().create(root)
    available = container.formats().names
    formats = [f for f in DEMO_FORMATS if f in available]
    result = container.execute_plan().execute(request(root / "checkpoint", None, "tiny-llama-sft-demo", [",".join(formats)], to))
    if json_out:
        render.emit_json(render.result_data(result))
    elif quiet:
        render.show_commands(result)
    else:
        render.show_plan(result.planned)
        render.show_result(result)
