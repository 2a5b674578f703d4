"""Benchmark: hubship's Hub publish against huggingface_hub's own `upload_folder`, same files, same run.

    .venv/bin/python -m tests.benchmarks.bench_hub [--size-gb 1.0] [--rounds 2] [--keep DIR]

Makes an artifact set of about `--size-gb` (safetensors-sized shards of random bytes plus small JSON
files), starts the local Hub stand-in in its own process, then per round: `upload_folder` of the
folder to a fresh repo, and `HfHubRegistry.publish` of the same files to another fresh repo (the
order alternates between rounds). Reports seconds, MB/s, the ratio publish / upload_folder (target
<= 1.15) and the time of a re-publish with nothing changed (no commit). Hashing the files for the
manifest is timed on its own: hubship does it once, when the artifact is built, and reuses it.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN = "hf_" + "BenchmarkToken" * 2 + "abcdef"


def make_artifact(folder: Path, size_bytes: int, shards: int = 4) -> None:
    folder.mkdir(parents=True)
    each = size_bytes // shards
    for i in range(shards):
        with (folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors").open("wb") as fh:
            header = json.dumps({"w": {"dtype": "U8", "shape": [each], "data_offsets": [0, each]}}).encode()
            fh.write(len(header).to_bytes(8, "little") + header)
            left = each
            while left:
                block = os.urandom(min(left, 16 * 1024 * 1024))
                fh.write(block)
                left -= len(block)
    index = {
        "metadata": {"total_size": each * shards},
        "weight_map": {f"w{i}": f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)},
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 2048}))


def start_server(data: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.hub_server", "--port", "0", "--data", str(data), "--user", "bench", "--token", TOKEN],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="work folder to use (kept); default: a temporary one")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-hub-"))
    server, url = start_server(work / "hub")
    os.environ.update(HF_ENDPOINT=url, HF_TOKEN=TOKEN, HF_HUB_DISABLE_XET="1", HF_HUB_OFFLINE="0", HF_HUB_DISABLE_PROGRESS_BARS="1")
    os.environ.update(HF_HUB_VERBOSITY="error", HF_HOME=str(work / "hf-home"))
    try:
        from huggingface_hub import HfApi

        from hubship.adapters.hub.registry import HfHubRegistry
        from hubship.adapters.local.file_hasher import Sha256FileHasher
        from hubship.adapters.platform.progress import RichProgress
        from hubship.domain.destination import Destination
        from hubship.domain.manifest import CARD_NAME, FileEntry, Manifest
        from hubship.domain.publication import Publication

        artifact = work / "artifact"
        if not artifact.exists():
            make_artifact(artifact, int(args.size_gb * 1e9))
        total = sum(p.stat().st_size for p in artifact.iterdir())
        started = time.perf_counter()
        files = Sha256FileHasher().hash_tree(artifact)
        hashing = time.perf_counter() - started
        card = "---\nlibrary_name: transformers\ntags:\n- hubship\n---\n\n# bench\n"
        manifest = Manifest(
            name="bench",
            format="merged-16bit",
            key="b" * 64,
            params={},
            files=(*files, FileEntry(CARD_NAME, len(card), "0" * 64)),
            inputs={},
            tools={},
        )
        pub = Publication(name="bench", format="merged-16bit", source_dir=str(artifact), card=card, manifest=manifest, relation="merge")
        api, registry, quiet = HfApi(endpoint=url, token=TOKEN), HfHubRegistry(), RichProgress(quiet=True)
        rows = []
        for rnd in range(args.rounds):
            plain, ours = f"bench/plain-{rnd}", f"bench/hubship-{rnd}"
            api.create_repo(plain)
            order = ("upload_folder", "hubship") if rnd % 2 == 0 else ("hubship", "upload_folder")
            took: dict[str, float] = {}
            for what in order:
                started = time.perf_counter()
                if what == "upload_folder":
                    api.upload_folder(repo_id=plain, folder_path=artifact)
                else:
                    registry.publish(Destination("hf", ours, options={"formats": ("merged-16bit",)}), [pub], quiet)
                took[what] = time.perf_counter() - started
            started = time.perf_counter()
            registry.publish(Destination("hf", ours, options={"formats": ("merged-16bit",)}), [pub], quiet)
            took["republish"] = time.perf_counter() - started
            rows.append(took)
            print(
                f"round {rnd + 1}: upload_folder {took['upload_folder']:.2f}s ({total / 1e6 / took['upload_folder']:.0f} MB/s),"
                f" hubship publish {took['hubship']:.2f}s ({total / 1e6 / took['hubship']:.0f} MB/s),"
                f" ratio {took['hubship'] / took['upload_folder']:.3f}, re-publish unchanged {took['republish']:.3f}s",
                flush=True,
            )
        best = {k: min(r[k] for r in rows) for k in rows[0]}
        summary = {
            "bytes": total,
            "files": len(files),
            "manifest_hashing_s": round(hashing, 3),
            "upload_folder_s": round(best["upload_folder"], 3),
            "hubship_publish_s": round(best["hubship"], 3),
            "ratio_best": round(best["hubship"] / best["upload_folder"], 3),
            "ratio_with_hashing": round((best["hubship"] + hashing) / best["upload_folder"], 3),
            "republish_unchanged_s": round(best["republish"], 3),
            "commits": {r: len(api.list_repo_commits(r)) - 1 for r in (f"bench/hubship-{i}" for i in range(args.rounds))},
        }
        print(json.dumps(summary, indent=2))
    finally:
        server.terminate()
        server.wait()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
