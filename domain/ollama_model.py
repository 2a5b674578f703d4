"""An Ollama model description: the GGUF, TEMPLATE, stops, sampling parameters, SYSTEM and LICENSE.

One `OllamaModel` gives both the Modelfile (for `ollama create -f`) and the fields of Ollama's
`/api/create` request, so the two can never disagree.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from hubship.domain.chat_dates import DATE_MARKER, inexpressible, strftime
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
    after = [structure.assistant_end, *structure.after("assistant")]
    controls = [c for c in dict.fromkeys(control_tokens) if c and c != structure.bos]
    stops: list[str] = []
    for text in after:
        stops += _in_order(text, controls) or _TOKENISH.findall(text)
    stops += [e for e in eos_tokens if e and e != structure.bos]
    if not stops:
        header = next((t for k, t in structure.glue.items() if k[:2] == ("assistant", "user")), "").strip()
        stops = [header.splitlines()[0]] if header else []
    return tuple(dict.fromkeys(stops))


def structure_notes(structure: ChatStructure) -> tuple[str, ...]:
    """What the derived template does differently from, or on top of, plain role blocks (for the card)."""
    notes = []
    rules = {r.name for r in structure.rules}
    if structure.trimmed:
        notes.append(
            "the chat template strips whitespace around these contents and Ollama passes them as sent, so the two differ"
            f" for such contents that start or end with spaces or newlines: {', '.join(structure.trimmed)}"
        )
    if "last" in structure.features:
        notes.append("the text before a message depends on whether it is the last one; the Ollama template compares message indexes")
    if structure.floating_system:
        notes.append("the chat template writes the system message inside a later turn (the last user turn); so does the Ollama template")
    if {"system", SYSTEM0} & structure.hidden:
        notes.append("the chat template ignores system messages, and so does the Ollama template")
    if "no_leading_system" in rules:
        notes.append("the chat template has no system role: Ollama rejects conversations with a system message")
    elif not structure.later_system_supported or "no_later_system" in rules:
        notes.append("a system message is accepted only as the first message")
    if "alternate" in rules:
        notes.append("user and assistant messages must alternate, starting with the user, as the chat template requires")
    return tuple(notes)


def modelfile_system(structure: ChatStructure) -> str | None:
    """The Modelfile's SYSTEM: the template's default system prompt, unless it holds the date (the Go template
    then writes it itself, with today's date, whenever no system message arrives)."""
    default = structure.default_system
    return default if default and not DATE_MARKER.search(default) else None


def date_notes(structure: ChatStructure, frozen: datetime.date | None, days: Sequence[datetime.date | None]) -> tuple[str, ...]:
    """What the card says about the dates the chat template writes (none: nothing)."""
    if not structure.dates:
        return ()
    formats = ", ".join(f"`{f}`" for f in structure.dates)
    notes = []
    if frozen is not None:
        fixed = ", ".join(f"`{f}` as {strftime(frozen, f)!r}" for f in inexpressible(structure.dates))
        notes.append(f"the chat template writes the current date; in the Ollama template it is frozen at the publish day ({fixed})")
    else:
        proven = " and ".join(d.isoformat() for d in days if d)
        notes.append(
            f"the chat template writes the current date ({formats}); the Ollama template writes it from Ollama's currentDate"
            f" (Ollama 0.11.1 or later){f', proven on {proven}' if proven else ''}"
        )
    if structure.default_system and DATE_MARKER.search(structure.default_system):
        notes.append("the default system prompt holds the date, so the Modelfile has no SYSTEM: the Ollama template writes it")
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
    parser: str = ""

    def modelfile(self) -> str:
        lines = [f"FROM ./{self.model_file}"]
        if self.template is not None:
            lines.append(_quoted("TEMPLATE", self.template))
        if self.system:
            lines.append(_quoted("SYSTEM", self.system))
        if self.parser:
            lines.append(f"PARSER {self.parser}")
        for name, value in self.parameters.items():
            for item in value if isinstance(value, list | tuple) else [value]:
                lines.append(f"PARAMETER {name} {json.dumps(item, ensure_ascii=False)}")
        if self.license:
            lines.append(_quoted("LICENSE", self.license))
        return "\n".join(lines) + "\n"

    def create_fields(self) -> dict[str, Any]:
        """The `/api/create` fields besides `model` and `files`."""
        fields = {"template": self.template, "system": self.system or None, "parameters": dict(self.parameters) or None}
        fields["parser"] = self.parser or None
        fields["license"] = self.license
        return {k: v for k, v in fields.items() if v is not None}

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> OllamaModel:
        data = json.loads(text)
        return cls(**{f.name: data.get(f.name) for f in attrs.fields(cls) if f.name in data})
