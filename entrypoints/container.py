"""The composition root: which adapter serves which port, and how use cases are assembled.

Adapters are imported only when first used (`_lazy`), so `hubship --help` does not pay for
importing torch, and nothing is loaded or read at import time.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers
from platformdirs import user_cache_dir

from hubship.application.backend_merger import BackendMerger
from hubship.application.base_yardstick import BaseYardstick
from hubship.application.execute_plan import ExecutePlan
from hubship.application.format_registry import FormatRegistry
from hubship.application.inspect_checkpoint import InspectCheckpoint
from hubship.application.lazy_mapping import LazyMapping
from hubship.application.plan_publish import PlanPublish
from hubship.application.verify_publication import VerifyPublication
from hubship.domain.backend import select_backend


def _lazy(target: str) -> Callable[..., Any]:
    """A factory for `module:Class` that imports the module on first call."""
    module, _, attr = target.partition(":")

    def make(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(f"hubship.adapters.{module}"), attr)(*args, **kwargs)

    make.__name__ = attr
    return make


def _llama_cpp(target: str) -> Callable[..., Any]:
    """`_lazy` for an adapter that runs llama.cpp in this process: llama.cpp's log goes through Python's logging
    first (adapters/llama_cpp/log.py), so `-q` hides it and HUBSHIP_DEBUG=1 shows it."""
    make = _lazy(f"llama_cpp.{target}")

    def made(*args: Any, **kwargs: Any) -> Any:
        _lazy("llama_cpp.log:install_log_hook")()
        return make(*args, **kwargs)

    made.__name__ = make.__name__
    return made


def _versions(*targets: str) -> Callable[[], dict[str, str]]:
    """One `more_versions` for the system probe from the `tool_versions` of several adapter packages."""

    def found() -> dict[str, str]:
        return {name: value for target in targets for name, value in _lazy(target)().items()}

    return found


class _Deferred:
    """Stands for what `provider` makes, made on first attribute access: a use case holds a port it may not call
    (an up-to-date re-publish renders no card), and the adapter's imports are not paid until it does."""

    def __init__(self, provider: Callable[[], Any]) -> None:
        self._provider = provider

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider(), name)


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    progress = providers.Singleton(_lazy("platform.progress:RichProgress"), quiet=config.quiet, events=config.progress_events)
    reader = providers.Singleton(_lazy("torch.checkpoint_reader:SafetensorsCheckpointReader"))
    loader = providers.Singleton(_lazy("torch.loader:HfTransformersLoader"))
    hf_merger = providers.Singleton(_lazy("torch.streaming_merger:StreamingMerger"), facts_cache=config.facts_cache)
    saver = providers.Singleton(_lazy("local.file_saver:LocalFileSaver"))
    workspace = providers.Singleton(_lazy("local.workspace:LocalDirWorkspace"), root=config.workspace)
    hasher = providers.Singleton(_lazy("local.file_hasher:Sha256FileHasher"), cache_file=config.hash_cache)
    # llama.cpp's tools and llm-compressor's environment are installed apart: their versions join the probe's (they
    # key the imatrix and the compressed-tensors formats)
    probe = providers.Singleton(
        _lazy("platform.system_probe:PlatformSystemProbe"),
        more_versions=providers.Object(_versions("llama_cpp.imatrix_tools:tool_versions", "llm_compressor.environment:tool_versions")),
    )
    backend = providers.Singleton(
        select_backend, config.backend, nvidia_gpu=probe.provided.has_nvidia_gpu.call(), installed=probe.provided.tool_versions.call()
    )
    unsloth_merger = providers.Singleton(_lazy("unsloth.merger:UnslothMerger"))
    # each merge goes to the backend chosen for what it merges (an Unsloth user's QLoRA adapter merges with hf)
    merger = providers.Singleton(BackendMerger, backend, hf=hf_merger.provider, unsloth=unsloth_merger.provider)
    renderer = providers.Singleton(_lazy("hub.card_renderer:HfCardRenderer"))
    demo_factory = providers.Singleton(_lazy("torch.demo_checkpoint:HfDemoCheckpointFactory"))
    formats = providers.Singleton(FormatRegistry.from_entry_points)
    converter = providers.Singleton(_lazy("llama_cpp.converter:LlamaCppConverter"))
    gguf_quantizer = providers.Singleton(_llama_cpp("quantizer:LlamaCppQuantizer"))
    gguf_verifier = providers.Singleton(_llama_cpp("gguf_verifier:LlamaCppGgufVerifier"))
    imatrix_tools = providers.Singleton(_lazy("llama_cpp.imatrix_tools:LlamaCppImatrixTools"))
    # the probe runs on the cores other processes leave free, sampled from the CPU's idle time just before it runs
    # and on the GPU where the system probe finds one (the same answer --backend auto is given)
    verifier = providers.Singleton(
        _lazy("torch.logits_verifier:TorchLogitsVerifier"),
        threads=providers.Object(_lazy("llama_cpp.threads:free_threads")),
        gpu=probe.provided.has_nvidia_gpu.call(),
    )
    quantizer = providers.Singleton(_lazy("torch.bnb_quantizer:BnbQuantizer"))
    mlx_converter = providers.Singleton(_lazy("mlx.mlx_lm_converter:MlxLmConverter"))
    mlx_verifier = providers.Singleton(_lazy("mlx.mlx_lm_verifier:MlxLmVerifier"))
    compressor = providers.Singleton(_lazy("llm_compressor.compressor:LlmCompressorCompressor"))
    merge_check = providers.Singleton(_lazy("torch.verify.layer_check:TorchMergeCheck"))

    dir_registry = providers.Singleton(_lazy("local.dir_registry:LocalDirRegistry"))
    hf_registry = providers.Singleton(_lazy("hub.registry:HfHubRegistry"))
    remote_repo = providers.Singleton(_lazy("hub.remote_repo:HfRemoteRepo"))
    ollama_registry = providers.Singleton(_lazy("ollama.registry:OllamaRegistry"), fallback=dir_registry)
    registries = providers.Factory(
        LazyMapping, providers.Dict(dir=dir_registry.provider, hf=hf_registry.provider, ollama=ollama_registry.provider)
    )
    chat_renderer = providers.Singleton(_lazy("torch.chat_renderer:JinjaChatRenderer"))
    go_templates = providers.Singleton(_lazy("ollama.go_template_checker:GoTemplateChecker"), cache_dir=config.workspace)
    chat_runtime = providers.Singleton(_llama_cpp("chat_runtime:LlamaCppChatRuntime"))
    # llama.cpp's own server on a GGUF with weights (its servers stop when it is closed or garbage-collected)
    served_chat = providers.Singleton(_lazy("llama_cpp.llama_server:LlamaServerServedChat"))
    # every port a format may use, each imported and made only when a step first asks for it; one mapping for the
    # plan and the build, so a build knows what the plan's preflight made (a converter it started ahead)
    services = providers.Singleton(
        LazyMapping,
        providers.Dict(
            merger=merger.provider,
            saver=saver.provider,
            loader=loader.provider,
            probe=probe.provider,
            converter=converter.provider,
            gguf_quantizer=gguf_quantizer.provider,
            gguf_verifier=gguf_verifier.provider,
            imatrix_tools=imatrix_tools.provider,
            verifier=verifier.provider,
            merge_check=merge_check.provider,
            quantizer=quantizer.provider,
            mlx_converter=mlx_converter.provider,
            mlx_verifier=mlx_verifier.provider,
            compressor=compressor.provider,
            chat_renderer=chat_renderer.provider,
            go_templates=go_templates.provider,
            chat_runtime=chat_runtime.provider,
            served_chat=served_chat.provider,
        ),
    )

    inspect_checkpoint = providers.Factory(InspectCheckpoint, reader=reader, loader=loader)
    plan_publish = providers.Factory(
        PlanPublish,
        reader=reader,
        loader=loader,
        hasher=hasher,
        workspace=workspace,
        formats=formats,
        registries=registries,
        probe=probe,
        progress=progress,
        services=services,
        backend=backend,
    )
    base_yardstick = providers.Factory(
        BaseYardstick, reader=reader, workspace=workspace, formats=formats, progress=progress, services=services
    )
    execute_plan = providers.Factory(
        ExecutePlan,
        planner=plan_publish,
        workspace=workspace,
        formats=formats,
        registries=registries,
        hasher=hasher,
        renderer=providers.Factory(_Deferred, renderer.provider),
        progress=progress,
        services=services,
        yardstick=base_yardstick,
    )
    verify_publication = providers.Factory(VerifyPublication, hasher=hasher, progress=progress, remote=remote_repo)


def default_workspace() -> Path:
    return Path(os.environ.get("HUBSHIP_WORKSPACE") or Path(user_cache_dir("hubship")) / "workspace")


def create_container(settings: Mapping[str, Any] | None = None) -> Container:
    """A container configured from defaults, the environment, then `settings` (CLI flags win)."""
    values: dict[str, Any] = {
        "quiet": False,
        "workspace": None,
        "backend": "auto",
        "progress_events": os.environ.get("HUBSHIP_PROGRESS_EVENTS") or None,
    }
    values.update({k: v for k, v in (settings or {}).items() if v is not None})
    workspace = Path(values["workspace"] or default_workspace()).expanduser()
    values["workspace"] = workspace
    values["hash_cache"] = workspace / "hash-cache.json"
    values["facts_cache"] = workspace / "model-facts"
    container = Container()
    container.config.from_dict(values)
    container.check_dependencies()
    return container
