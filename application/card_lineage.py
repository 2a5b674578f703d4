"""What a card says a model is and where it comes from: the summary sentence and the "How it was made" lines, for
an adapter (on a 16-bit or a quantized base) and a full fine-tune, naming hub ids only (never a local path)."""

from __future__ import annotations

from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.formats import Format
from hubship.domain.lineage import FLAG, NamedId
from hubship.domain.training_method import method

UNNAMED = f"an unnamed base model (a local folder; pass {FLAG} to name it)"


def _link(named: NamedId | None) -> str:
    return f"[{named.id}](https://huggingface.co/{named.id})" if named else UNNAMED


def _holds(checkpoint: Checkpoint, fmt: Format) -> str:
    """What the repository holds, in words (a full fine-tune's 16-bit model was never merged)."""
    if checkpoint.is_full and fmt.relation == "merge":
        return "the fine-tuned model in safetensors"
    return f"{fmt.description[0].lower()}{fmt.description[1:].rstrip('.')}"


def summary(name: str, checkpoint: Checkpoint, base: BaseInfo, fmt: Format) -> str:
    """The card's opening sentence: what `name` is, of which base, and what this repository holds."""
    trained = method(checkpoint.training_method)
    lineage = base.lineage
    if checkpoint.is_full:
        what = f"a full {trained.wording} of {_link(lineage.upstream)}"
    else:
        what = f"a {trained.wording} of {_link(lineage.upstream)} with a {checkpoint.peft_type} adapter (r={checkpoint.rank})"
        if base.quantization is not None:
            on = f"[{lineage.trained_on.id}](https://huggingface.co/{lineage.trained_on.id})" if lineage.trained_on else "it"
            what += f", trained on {on} quantized with {base.quantization.label}"
    return f"**{name}** is {what}. This repository holds: {_holds(checkpoint, fmt)}. Built and published by hubship."


def lineage_lines(checkpoint: Checkpoint, base: BaseInfo, fmt: Format, key: str, *, size: str, verify: str) -> list[str]:
    """The "How it was made" list: base, what was trained on it, how this artifact was built (its `size` line),
    where the hashes are and the `verify` command that checks them."""
    trained = method(checkpoint.training_method)
    lineage = base.lineage
    lines = [f"- base model: {lineage.upstream.id if lineage.upstream else 'unnamed (a local folder)'}"]
    if checkpoint.is_full:
        lines.append("- full fine-tune: every weight trained, no adapter")
    else:
        if base.quantization is not None:
            on = lineage.trained_on.id if lineage.trained_on else "a local copy of the base"
            lines.append(f"- trained on: {on}, quantized with {base.quantization.label}")
        targets = ", ".join(checkpoint.target_modules) or "n/a"
        lines.append(f"- adapter: {checkpoint.peft_type}, r={checkpoint.rank}, targets {targets}")
    if base.merge_onto is not None and fmt.relation != "adapter":
        lines.append(f"- merged onto: {base.merge_onto.name} (--merge-onto), not the weights the adapter was trained on")
    lines += [
        f"- training method: {trained.title}",
        f"- format: `{fmt.name}`; content key `{key[:16]}`",
        size,
        f"- every file's sha256 is in `manifest.json`; check it with {verify}",
    ]
    return lines
