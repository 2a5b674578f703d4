"""`hubship plan` and `hubship publish`: one set of options (`_publish_parameters`), copied onto both commands.

Both are ConfiguredCommands: each option also reads its default from hubship.toml (configured_command.py).
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import signature
from typing import Any, get_type_hints

import typer

from hubship.application.publish_request import PublishRequest
from hubship.entrypoints import render
from hubship.entrypoints.cli.options import (
    AcceptLoss,
    AllowFrozenDate,
    AllowGenericTemplate,
    Backend,
    Base,
    BaseModelId,
    BnbDoubleQuant,
    BnbQuantType,
    Bos,
    Calibration,
    CheckpointArg,
    Config,
    CreatePr,
    Dtype,
    Formats,
    GgufSplit,
    Imatrix,
    Json,
    MergeOnto,
    Method,
    Name,
    OllamaQuant,
    OverwriteCard,
    Pick,
    Private,
    Quiet,
    RepoLayout,
    RequireServer,
    Revision,
    ShardSize,
    Tag,
    Threshold,
    To,
    TokenFile,
    Verify,
    Workspace,
    container_for,
)
from hubship.entrypoints.cli.request_options import hub_options, ollama_options, parse_size, quality_options, request
from hubship.entrypoints.configured_command import SETTINGS


def _publish_parameters(
    ctx: typer.Context,
    checkpoint: CheckpointArg,
    fmt: Formats = [],  # noqa: B006
    base: Base = None,
    base_model_id: BaseModelId = None,
    pick: Pick = None,
    name: Name = None,
    to: To = None,
    workspace: Workspace = None,
    dtype: Dtype = None,
    max_shard_size: ShardSize = None,
    merge_onto: MergeOnto = None,
    gguf_split_max_size: GgufSplit = None,
    imatrix: Imatrix = None,
    calibration: Calibration = None,
    method: Method = None,
    backend: Backend = "auto",
    config: Config = None,
    private: Private = False,
    revision: Revision = None,
    create_pr: CreatePr = False,
    tag: Tag = None,
    repo_layout: RepoLayout = None,
    token_file: TokenFile = None,
    overwrite_card: OverwriteCard = False,
    ollama_quant: OllamaQuant = None,
    allow_generic_template: AllowGenericTemplate = False,
    allow_frozen_date: AllowFrozenDate = False,
    bos: Bos = None,
    require_server: RequireServer = False,
    verify: Verify = None,
    accept_quality_loss: AcceptLoss = False,
    threshold: Threshold = None,
    bnb_quant_type: BnbQuantType = None,
    bnb_double_quant: BnbDoubleQuant = False,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """The options `plan` and `publish` share: their signature is copied onto both commands."""


def _with_publish_parameters(command: Callable[..., None]) -> Callable[..., None]:
    command.__signature__ = signature(_publish_parameters, eval_str=True)  # type: ignore[attr-defined]
    command.__annotations__ = get_type_hints(_publish_parameters, include_extras=True)
    return command


def _publish_request(p: dict[str, Any]) -> PublishRequest:
    return request(
        p["checkpoint"],
        p["base"],
        p["name"],
        p["fmt"],
        p["to"],
        dtype=p["dtype"],
        max_shard_size=parse_size(p["max_shard_size"]),
        method=p["method"],
        base_model_id=p["base_model_id"],
        pick=p["pick"],
        merge_onto=p["merge_onto"],
        gguf_split_max_size=parse_size(p["gguf_split_max_size"]),
        imatrix=p["imatrix"],
        calibration=str(p["calibration"]) if p["calibration"] else None,
        bos=p["bos"],
        **hub_options(p["private"], p["revision"], p["create_pr"], p["tag"], p["repo_layout"], p["token_file"], p["overwrite_card"]),
        **ollama_options(p["ollama_quant"], p["allow_generic_template"], p["require_server"], p["allow_frozen_date"]),
        **quality_options(p["verify"], p["accept_quality_loss"], p["threshold"], p["bnb_quant_type"], p["bnb_double_quant"]),
    )


@_with_publish_parameters
def plan(**p: Any) -> None:
    """Print the publish plan (a DAG of artifacts) with sizes, memory and disk needs, and the settings in force. Builds nothing."""
    container = container_for(p["workspace"], p["quiet"] or p["json_out"], p["backend"])
    planned = container.plan_publish().execute(_publish_request(p))
    resolved = {"backend": planned.backend.name} if planned.backend else {}  # chosen for this checkpoint
    settings = p["ctx"].meta[SETTINGS]
    if p["json_out"]:
        render.emit_json(render.plan_data(planned) | {"settings": render.settings_data(settings, resolved)})
    else:
        render.show_plan(planned)
        render.show_settings(settings, resolved)


@_with_publish_parameters
def publish(**p: Any) -> None:
    """Build every requested format and publish each to every destination; end with one line per artifact
    (where it went, its size, its figures against their thresholds) and any command left to run."""
    container = container_for(p["workspace"], p["quiet"] or p["json_out"], p["backend"])
    result = container.execute_plan().execute(_publish_request(p))
    if p["json_out"]:
        render.emit_json(render.result_data(result))
    elif p["quiet"]:
        render.show_commands(result)  # quiet, but what the user must still run is printed
    else:
        render.show_plan(result.planned)
        render.show_result(result)
