"""The files a Hub GGUF repo carries so that `ollama run hf.co/OWNER/NAME-GGUF:QUANT` uses hubship's template.

The Hub's documentation "Use Ollama with any GGUF Model on Hugging Face Hub" (huggingface/hub-docs
docs/hub/ollama.md at commit 003753676b0a, section "Custom Chat Template and Parameters") names them:
`template` (a Go template, not Jinja), `system` (the system prompt, plain text) and `params` (JSON whose
keys are the Modelfile's PARAMETER names: `stop`, `temperature`, ...). Without them the Hub converts the
GGUF's Jinja template itself. Each file holds exactly what the `ollama:` destination's Modelfile holds
under TEMPLATE, SYSTEM and PARAMETER: the texts unquoted, the parameters as one JSON object.
"""

from __future__ import annotations

import json

from hubship.domain.ollama_model import OllamaModel

TEMPLATE_FILE = "template"
SYSTEM_FILE = "system"
PARAMS_FILE = "params"
HUB_OLLAMA_FILES = (TEMPLATE_FILE, SYSTEM_FILE, PARAMS_FILE)


def hub_ollama_files(model: OllamaModel) -> dict[str, str]:
    """File name -> content for a Hub GGUF repo; {} when `model` has no template (the Hub's own choice is kept:
    a `params` or `system` without the template they belong to would only mislead it). `system` only where
    the template has a default system prompt."""
    if model.template is None:
        return {}
    files = {TEMPLATE_FILE: model.template}
    if model.system:
        files[SYSTEM_FILE] = model.system
    files[PARAMS_FILE] = json.dumps(dict(model.parameters), indent=2, ensure_ascii=False) + "\n"
    return files
