"""Figures for docs/formats-quality.md: what nf4 loses on a fine-tune and on its base, and what broken merges lose.

Run:  PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_yardstick.py [--work DIR]

The model is the tests' tiny Llama (HfDemoCheckpointFactory, fp32, hidden 128, 2 layers) made lossy as in
tests/support/lossy_model.py (one x8 outlier per 64-weight block, lm_head = 8 x embeddings, LoRA delta x 0.1).
Each row merges the fine-tune in fp32 (the "broken" rows with its LoRA delta scaled as a broken merge would),
quantizes it to nf4 with bitsandbytes, and compares its logits with base + adapter, unmerged (the fine-tune's
reference); the base row does the same for the base alone against the base's own logits.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from hubship.adapters.torch.bnb_quantizer import BnbQuantizer
from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory
from hubship.adapters.torch.loader import HfTransformersLoader
from hubship.adapters.torch.logits_verifier import TorchLogitsVerifier
from hubship.adapters.torch.streaming_merger import StreamingMerger
from hubship.domain.checkpoint import BaseRef
from hubship.domain.yardstick import LOSSY_CEILING, base_bound, ceiling
from tests.fakes.progress import FakeProgress
from tests.support.lossy_model import lossy_copy, scale_delta

PROGRESS = FakeProgress()
ROWS = (
    ("the fine-tune, correct merge", 1.0),
    ("broken: adapter lost (delta x 0)", 0.0),
    ("broken: delta x 0.5", 0.5),
    ("broken: delta x 2", 2.0),
)


def nf4_figures(checkpoint: Path, base: Path, reference: Path, work: Path) -> dict[str, float]:
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    merged, quantized = work / "merged", work / "nf4"
    merged.mkdir(parents=True)
    quantized.mkdir()
    StreamingMerger().merge(
        SafetensorsCheckpointReader().read(checkpoint), info, merged, dtype="fp32", max_shard_bytes=10**9, progress=PROGRESS
    )
    BnbQuantizer().quantize(merged, quantized, quant_type="nf4", double_quant=False, progress=PROGRESS)
    return TorchLogitsVerifier().compare(quantized, reference, PROGRESS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=None)
    work = parser.parse_args().work or Path(tempfile.mkdtemp(prefix="bench-yardstick-"))
    tiny = HfDemoCheckpointFactory().create(work / "tiny", dtype="float32")
    base, finetune = lossy_copy(tiny, work / "lossy")
    reader, info = SafetensorsCheckpointReader(), HfTransformersLoader().base_info(BaseRef(path=str(base)))
    verifier = TorchLogitsVerifier()
    verifier.reference(reader.read(finetune), info, work / "finetune.ref", PROGRESS)
    verifier.reference(reader.read(base), info, work / "base.ref", PROGRESS)
    on_base = nf4_figures(base, base, work / "base.ref", work / "base")
    allowed = min(base_bound("max", on_base["mean_kl"], 0.1), ceiling("max", 0.1, LOSSY_CEILING))  # merged-4bit's default 0.1
    print(f"| nf4 of | mean_kl | x the base's | top1_agreement | top1_near | default gate (≤ 0.1) | with the yardstick (≤ {allowed:.3g}) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, factor in (("the base alone (yardstick)", None), *ROWS):
        if factor is None:
            figures = on_base
        else:
            checkpoint = work / f"ft-{factor}"
            shutil.copytree(finetune, checkpoint)
            scale_delta(checkpoint, factor)
            figures = nf4_figures(checkpoint, base, work / "finetune.ref", work / f"out-{factor}")
        kl = figures["mean_kl"]
        verdicts = ("pass" if kl <= 0.1 else "fail", "—" if factor is None else ("pass" if kl <= allowed else "fail"))
        print(
            f"| {name} | {kl:.3f} | {kl / on_base['mean_kl']:.2f} | {figures['top1_agreement']:.3f} | {figures['top1_near']:.3f}"
            f" | {verdicts[0]} | {verdicts[1]} |"
        )


if __name__ == "__main__":
    main()
