"""The card's usage lines for one GGUF quantization, naming its real files: Ollama and llama.cpp's server pull it
from a Hub repo by quantization tag, llama-cpp-python by file name; a local folder is run by path.

A split repo (`OWNER/NAME-GGUF`) holds the files at its root; in the single layout the location is
`OWNER/NAME/FOLDER` and the files are in FOLDER. A file split in shards is named by its first shard
(`-00001-of-N.gguf`), which pulls in the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

from hubship.domain.imatrix import IMATRIX_SUFFIX


def model_files(files: Sequence[str]) -> list[str]:
    """The GGUF model files among an artifact's files (not its imatrix), sorted: the file, or its shards in order."""
    return sorted(f for f in files if f.endswith(".gguf") and not f.endswith(IMATRIX_SUFFIX))


def gguf_usage(location: str, tag: str, files: Sequence[str], *, hub: bool) -> str:
    """Usage lines for the quantization `tag` (e.g. Q4_K_M) at `location`: a Hub repo or folder in one when `hub`,
    else a local folder."""
    ggufs = model_files(files) or [f"<name>.{tag}.gguf"]
    if not hub:
        return f"```sh\nllama-cli -m {location}/{ggufs[0]}\n```"
    owner, name, *folder = location.split("/", 2)
    repo, prefix = f"{owner}/{name}", f"{folder[0]}/" if folder else ""
    extra = f", additional_files={[prefix + f for f in ggufs[1:]]!r}".replace("'", '"') if len(ggufs) > 1 else ""
    load = f'Llama.from_pretrained(repo_id="{repo}", filename="{prefix}{ggufs[0]}"{extra})'
    return (
        f"```sh\nollama run hf.co/{repo}:{tag}\nllama-server -hf {repo}:{tag}\n```\n\n"
        f"With llama-cpp-python:\n\n```python\nfrom llama_cpp import Llama\n\nllm = {load}\n```"
    )
