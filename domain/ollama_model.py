"""An Ollama model description: the GGUF, TEMPLATE, stops, sampling parameters, SYSTEM and LICENSE.

One `OllamaModel` gives both the Modelfile (for `ollama create -f`) and the fields of Ollama's
`/api/create` request, so the two can never disagree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from hubship.domain.chat_template import SYSTEM0, ChatStructure

MODEL_JSON = "ollama.json"
MODELFILE = "Modelfile"
# generation_config.json key -> Ollama PARAMETER name (sampling only; lengths are the user's choice)
SAMPLING = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p", "repetition_penalty": "repeat_penalty"}
_TOKENISH = re.compile(r"<\|[^|<>\s]{1,40}\|>|<[A-Za-z_/][^<>\s]{0,40}>|\[/?[A-Z_]{2,20}\]")


def sampling_parameters(generation: Mapping[str, Any]) -> dict[str, float | int]:
    """Ollama parameters from a generation_config: the sampling values it sets, or temperature 0 when it
    asks for greedy decoding (`do_sample: false` written explicitly)."""
    if generation.get("do_sample") is False:
        return {"temperature": 0}
    found: dict[str, float | int] = {}
    for key, name in SAMPLING.items():
        value = generation.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[name] = value
    return found


def _in_order(text: str, candidates: Iterable[str]) -> list[str]:
    hits = [(text.find(c), c) for c in candidates if c and c in text]
    return [c for _, c in sorted(hits)]


def stop_words(structure: ChatStructure, control_tokens: Iterable[str], eos_tokens: Iterable[str]) -> tuple[str, ...]:
    """Every end-of-turn and EOS text generation must stop on.

    The control tokens in what follows an assistant turn (its end, and the next turn's header:
    `<|im_end|>`, `<|im_start|>`), plus the EOS tokens, minus BOS. A template that ends assistant
    turns with no token at all stops on the next user turn's header text instead.
    """
    after = [structure.assistant_end, *(t for (prev, _), t in structure.between.items() if prev == "assistant")]
    controls = [c for c in dict.fromkeys(control_tokens) if c and c != structure.bos]
    stops: list[str] = []
    for text in after:
        stops += _in_order(text, controls) or _TOKENISH.findall(text)
    stops += [e for e in eos_tokens if e and e != structure.bos]
    if not stops:
        header = structure.between.get(("assistant", "user"), "").strip()
        stops = [header.splitlines()[0]] if header else []
    return tuple(dict.fromkeys(stops))


def structure_notes(structure: ChatStructure) -> tuple[str, ...]:
    """What the derived template does differently from, or on top of, plain role blocks (for the card)."""
    notes = []
    rules = {r.name for r in structure.rules}
    if structure.trims_content:
        notes.append("the chat template strips whitespace around message contents; Ollama passes contents as sent")
    if {"system", SYSTEM0} & structure.hidden:
        notes.append("the chat template ignores system messages, and so does the Ollama template")
    if "no_leading_system" in rules:
        notes.append("the chat template has no system role: Ollama rejects conversations with a system message")
    elif not structure.later_system_supported or "no_later_system" in rules:
        notes.append("a system message is accepted only as the first message")
    if "alternate" in rules:
        notes.append("user and assistant messages must alternate, starting with the user, as the chat template requires")
    return tuple(notes)


def _quoted(keyword: str, text: str) -> str:
    if '"""' in text:
        raise ValueError(f'the {keyword} text holds """, which a Modelfile cannot quote')
    return f'{keyword} """{text}"""'


@attrs.frozen(kw_only=True)
class OllamaModel:
    """`template` None means Ollama's own choice (its detection, else `{{ .Prompt }}`)."""

    model_file: str
    template: str | None = None
    system: str | None = None
    parameters: Mapping[str, Any] = attrs.field(factory=dict)
    license: str | None = None

    def modelfile(self) -> str:
        lines = [f"FROM ./{self.model_file}"]
        if self.template is not None:
            lines.append(_quoted("TEMPLATE", self.template))
        if self.system:
            lines.append(_quoted("SYSTEM", self.system))
        for name, value in self.parameters.items():
            for item in value if isinstance(value, list | tuple) else [value]:
                lines.append(f"PARAMETER {name} {json.dumps(item, ensure_ascii=False)}")
        if self.license:
            lines.append(_quoted("LICENSE", self.license))
        return "\n".join(lines) + "\n"

    def create_fields(self) -> dict[str, Any]:
        """The `/api/create` fields besides `model` and `files`."""
        fields = {"template": self.template, "system": self.system or None, "parameters": dict(self.parameters) or None}
        fields["license"] = self.license
        return {k: v for k, v in fields.items() if v is not None}

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> OllamaModel:
        data = json.loads(text)
        return cls(**{f.name: data.get(f.name) for f in attrs.fields(cls) if f.name in data})
