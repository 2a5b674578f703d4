"""Hugging Face's `@huggingface/ollama-utils` (its `convertGGUFTemplateToOllama`) on the same templates, for the
benchmark's figures beside hubship's: run with Node in a folder where `npm install @huggingface/ollama-utils` was
run. A template *translates tools* when the TEMPLATE it gives uses `.Tools` and renders every tool conversation of
hubship's proof as Jinja does (tool_cases, with the Modelfile SYSTEM it gives if any); *wrong* when it uses `.Tools`
but renders one of them differently (Ollama would accept tool requests and prompt the model wrongly).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from hubship.application.chat_inputs import render_with
from hubship.application.ollama_tools import check_tools
from hubship.domain.tool_check import tool_cases
from tests.support.template_collection import profile_for

SCRIPT = """
import { convertGGUFTemplateToOllama } from "@huggingface/ollama-utils";
import fs from "fs";
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const out = {};
for (const [name, t] of Object.entries(input)) {
  try {
    const r = convertGGUFTemplateToOllama({ chat_template: t.template, bos_token: t.bos, eos_token: t.eos });
    out[name] = r ? { template: r.ollama.template, system: (r.ollama.params && r.ollama.params.system) || "" } : null;
  } catch (e) { out[name] = null; }
}
process.stdout.write(JSON.stringify(out));
"""


def _tokens(text: str) -> dict[str, str]:
    tokens = profile_for(text).tokens
    return {"bos": tokens["bos_token"], "eos": tokens["eos_token"]}


def convert(folder: Path, templates: dict[str, str]) -> dict[str, dict | None]:
    """name -> {template, system} (None: not converted) as ollama-utils in `folder` converts each template."""
    given = {n: {"template": t, **_tokens(t)} for n, t in templates.items()}
    script = folder / "hubship-convert.mjs"
    script.write_text(SCRIPT, encoding="utf-8")
    done = subprocess.run(["node", str(script)], input=json.dumps(given), capture_output=True, text=True, cwd=folder, check=True)
    return json.loads(done.stdout)


def tool_figures(renderer, go, folder: Path, names: list[str], templates: dict[str, str]) -> dict[str, list[str]]:
    """The tool templates `names` that ollama-utils translates (`equal`) and gets wrong (`wrong`); `converted`: those it
    gives a TEMPLATE for at all."""
    found: dict[str, list[str]] = {"converted": [], "equal": [], "wrong": []}
    for name, got in convert(folder, {n: templates[n] for n in names}).items():
        if got is None:
            continue
        found["converted"].append(name)
        if ".Tools" not in got["template"]:
            continue
        profile = profile_for(templates[name])
        cases = [c for c in tool_cases(got["system"] or None) if "(Modelfile SYSTEM)" in c.name or not got["system"]]
        mismatches = check_tools(render_with(renderer, profile), go, profile.runtime_bos, got["template"], cases)
        found["wrong" if mismatches else "equal"].append(name)
    return found
