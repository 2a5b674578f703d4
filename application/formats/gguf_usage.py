"""The card's usage lines for one GGUF quantization, naming its real files: Ollama and llama.cpp's server pull it
from a Hub repo by quantization tag, llama-cpp-python by file name; a local folder is run by path.

A split repo (`OWNER/NAME-GGUF`) holds the files at its root; in the single layout the location is
`OWNER/NAME/FOLDER` and the files are in FOLDER. A file split in shards is named by its first shard
(`-00001-of-N.gguf`), which pulls in the rest. A vision-language model's artifact also holds its projector
(`mmproj-*.gguf`, docs/adr/022-vision-projector.md): the card says how llama.cpp runs it with images.
"""

from __future__ import annotations

from collections.abc import Sequence

from hubship.domain.imatrix import IMATRIX_SUFFIX

PROJECTOR_PREFIX = "mmproj-"  # llama.cpp's own name for a multimodal projector file


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def model_files(files: Sequence[str]) -> list[str]:
    """The GGUF model files among an artifact's files (not its imatrix or projector), sorted: the file, or its shards
    in order."""
    return sorted(f for f in files if f.endswith(".gguf") and not f.endswith(IMATRIX_SUFFIX) and not _name(f).startswith(PROJECTOR_PREFIX))


def projector_files(files: Sequence[str]) -> list[str]:
    """The vision projector among an artifact's files (a vision-language model's `mmproj-*.gguf`), if any."""
    return sorted(f for f in files if f.endswith(".gguf") and _name(f).startswith(PROJECTOR_PREFIX))


def image_usage(location: str, tag: str, model: str, projector: str, *, hub: bool) -> str:
    """How llama.cpp runs the model with images: its projector beside it (`--mmproj`); from a Hub repo `-hf` fetches
    the repo's projector itself. Ollama's engine for these architectures does not load a llama.cpp projector."""
    if hub:
        repo = "/".join(location.split("/", 2)[:2])
        run = f"llama-mtmd-cli -hf {repo}:{tag} --image photo.jpg -p 'Describe this image.'\nllama-server -hf {repo}:{tag}"
    else:
        files = f"-m {location}/{model} --mmproj {location}/{projector}"
        run = f"llama-mtmd-cli {files} --image photo.jpg -p 'Describe this image.'\nllama-server {files}"
    return (
        f"With images (the vision projector `{_name(projector)}`, llama.cpp's multimodal tools):\n\n```sh\n{run}\n```\n\n"
        "Ollama runs this model as text only: its engine for this architecture does not load a llama.cpp projector."
    )


def gguf_usage(location: str, tag: str, files: Sequence[str], *, hub: bool) -> str:
    """Usage lines for the quantization `tag` (e.g. Q4_K_M) at `location`: a Hub repo or folder in one when `hub`,
    else a local folder."""
    ggufs = model_files(files) or [f"<name>.{tag}.gguf"]
    projector = projector_files(files)
    images = f"\n\n{image_usage(location, tag, ggufs[0], projector[0], hub=hub)}" if projector else ""
    if not hub:
        return f"```sh\nllama-cli -m {location}/{ggufs[0]}\n```{images}"
    owner, name, *folder = location.split("/", 2)
    repo, prefix = f"{owner}/{name}", f"{folder[0]}/" if folder else ""
    extra = f", additional_files={[prefix + f for f in ggufs[1:]]!r}".replace("'", '"') if len(ggufs) > 1 else ""
    load = f'Llama.from_pretrained(repo_id="{repo}", filename="{prefix}{ggufs[0]}"{extra})'
    return (
        f"```sh\nollama run hf.co/{repo}:{tag}\nllama-server -hf {repo}:{tag}\n```\n\n"
        f"With llama-cpp-python:\n\n```python\nfrom llama_cpp import Llama\n\nllm = {load}\n```{images}"
    )
