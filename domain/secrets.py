"""What must never be published: Hub tokens inside text files, and pickles (which run code when loaded).

Pure functions over names and bytes; the adapter that uploads reads the files and calls them before
anything leaves the machine. Messages name the file, never the secret.
"""

from __future__ import annotations

import re

HUB_TOKEN = re.compile(rb"hf_[A-Za-z0-9]{30,}")
ALWAYS_PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt")
MAYBE_PICKLE_SUFFIXES = (".bin",)
NEVER_PUBLISH = ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth")
SNIFF_BYTES = 8192


def count_hub_tokens(data: bytes) -> int:
    """How many Hub tokens (`hf_` and 30 or more letters and digits) `data` holds."""
    return len(HUB_TOKEN.findall(data))


def looks_like_text(sample: bytes) -> bool:
    """Text: no NUL byte, and UTF-8 (a multi-byte character cut at the end of the sample is fine)."""
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 3
    return True


def is_pickle(name: str, head: bytes) -> bool:
    """Whether a file (by its name and first bytes) is a pickle or a torch zip archive of pickles."""
    lower = name.rsplit("/", 1)[-1].lower()
    if lower in NEVER_PUBLISH or lower.endswith(ALWAYS_PICKLE_SUFFIXES):
        return True
    if lower.endswith(".safetensors"):  # read by safetensors, which never unpickles; its header length may start 0x80 0x02
        return False
    pickled = len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
    zipped = head.startswith(b"PK\x03\x04")
    return pickled or (zipped and lower.endswith(MAYBE_PICKLE_SUFFIXES))


def token_refusal(path: str) -> str:
    return (
        f"refusing to publish: {path} contains what looks like a Hugging Face token (hf_…);"
        " remove it from the checkpoint (and revoke it), then re-run"
    )


def pickle_refusal(path: str) -> str:
    return f"refusing to publish {path}: it is a pickle, which can run code when loaded; publish safetensors files only"
