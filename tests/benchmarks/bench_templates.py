"""Benchmark: the Ollama TEMPLATE derivation on llama.cpp's collection of real chat templates (a script, not a test).

Run:  .venv/bin/python tests/benchmarks/bench_templates.py [--json] [--why] [--ollama-utils FOLDER]

Each of the ~70 templates in llama.cpp's `models/templates/` (extracted by `make setup` next to the
converter) is derived as hubship derives a checkpoint's template (with the special tokens the template
names), then rendered on a day 400 days after its derivation, Jinja against Go, on every check
conversation (tests/support/template_collection.py). Prints one line per template and the counts:
equal (derived, and byte-identical on the later day), refused (one line saying why), wrong (derived,
but the later render differs). The targets: none wrong, at least 88% equal.

Then the tool and thinking figures, each with its denominator listed: the templates that write the tools they
are given (a render with one tool differs from one without), of which the derived TEMPLATE has `tools`; the
templates that write reasoning or have a think switch (a render with `reasoning_content` or `enable_thinking`
differs), of which the TEMPLATE translates reasoning in history (Ollama's `thinking` capability) or the switch.

Then, unless `--no-native`, which renderer Ollama 0.30.0+ picks for each tool template (domain.ollama_runtime) and,
where it is the GGUF's own chat template, whether llama-server (built by `make setup`) renders every tool conversation
as transformers does when handed it as Ollama hands it (tests/support/native_figures.py): the tools a model gets on
Ollama 0.30.0+, by the renderer it picks. A template Ollama would keep on a TEMPLATE without tools only for want of
reading its thinking is served with the comment a publish writes before it (docs/adr/026-ollama-thinking-hint.md) and
counted so where llama-server proves it; for the templates Ollama still keeps on a TEMPLATE without tools, whether the
server setting OLLAMA_GO_TEMPLATE=0 (every model on its chat template) gives them tools, the card's note.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import attrs

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from hubship.adapters.ollama.go_template_checker import GoTemplateChecker  # noqa: E402
from hubship.adapters.torch.chat_renderer import JinjaChatRenderer  # noqa: E402
from hubship.application.ollama_template import derive_ollama_template  # noqa: E402
from hubship.domain.chat_template import ChatMessage, TemplateRejected  # noqa: E402
from hubship.domain.ollama_runtime import OLLAMA_VERSION  # noqa: E402
from hubship.domain.tool_check import WEATHER  # noqa: E402
from tests.support.native_figures import native_figures  # noqa: E402
from tests.support.ollama_utils import tool_figures  # noqa: E402
from tests.support.template_collection import evaluate, profile_for, templates, templates_dir  # noqa: E402

ASK, REPLY = ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello", thinking="The user greets me.")


def _renders(renderer: JinjaChatRenderer, text: str, messages: list[ChatMessage], **options: object) -> str:
    profile = profile_for(text)
    prefill = messages[-1].role == "assistant"
    try:
        return renderer.render(text, profile.tokens, messages, add_generation_prompt=not prefill, continue_final=prefill, **options)  # type: ignore[arg-type]
    except TemplateRejected as exc:
        return f"rejected: {exc}"


def has_switch(renderer: JinjaChatRenderer, text: str) -> bool:
    return len({_renders(renderer, text, [ASK], think=t) for t in (None, True, False)}) > 1


def uses(renderer: JinjaChatRenderer, text: str) -> tuple[bool, bool]:
    """(writes the tools it is given, writes reasoning or has a think switch). Not application.served_conversations'
    `uses`: here two rejections with other messages count as different renders, so Command R+'s tool-use template,
    which rejects a chat without tools and one with them for different reasons, counts as using tools (the issue
    lists it among the tool templates), and a think switch alone counts as thinking."""
    tools = _renders(renderer, text, [ASK], tools=(WEATHER,)) != _renders(renderer, text, [ASK])
    plain = ChatMessage("assistant", "Hello")
    reasoning = any(
        _renders(renderer, text, with_) != _renders(renderer, text, without)
        for with_, without in (([ASK, REPLY], [ASK, plain]), ([ASK, REPLY, ASK], [ASK, plain, ASK]))
    )
    return tools, reasoning or has_switch(renderer, text)


def notes_of(derived: object) -> tuple[str, ...]:
    return getattr(derived, "notes", ())


def figures(renderer: JinjaChatRenderer, go: GoTemplateChecker, outcomes: list) -> dict[str, list[str]]:
    """The names in each tool/thinking denominator and numerator (see the module docstring)."""
    found: dict[str, list[str]] = collections.defaultdict(list)
    for (outcome, _), (name, text) in zip(outcomes, templates(), strict=True):
        tools, thinking = uses(renderer, text)
        derived = derive_ollama_template(renderer, go, profile_for(text), allow_generic=False) if outcome.status == "equal" else None
        notes = " ".join(notes_of(derived))
        why = next((n.split(": ", 1)[1] for n in notes_of(derived) if n.startswith("tool calling is not available")), "")
        if tools:
            found["_derived"].append((name, text, derived, has_switch(renderer, text)))  # type: ignore[arg-type]
        if tools and derived is None:
            why = f"the template is refused: {outcome.detail}"
        for key, used, got in (
            ("tools", tools, derived is not None and "tools" in derived.capabilities),
            ("thinking", thinking, derived is not None and ("thinking" in derived.capabilities or "think switch (`think`" in notes)),
        ):
            if used:
                found[f"{key}_templates"].append(name)
                found[f"{key}_equal"].extend([name] if got else [])
                if key == "tools" and not got:
                    found["tools_why"].append(f"{name}: {why}")
    return found


def print_native(extra: dict[str, list[str]], why: bool) -> None:
    used, by_template, native, equal = extra["tools_templates"], extra["tools_equal"], extra["native"], extra["native_equal"]
    print(f"\nOllama {OLLAMA_VERSION}+ renders {len(native)} of the {len(used)} tool templates with the GGUF's own chat template")
    print(f"  (llama.cpp; the TEMPLATE where it has the capabilities Ollama reads from the chat template): {', '.join(native)}")
    print(f"  llama-server renders every tool conversation equal for {len(equal)}: {', '.join(equal)}")
    if why:
        print("\n".join(f"    {line}" for line in extra["native_why"]))
    hinted, patched = extra["hinted"], extra["patched"]
    print(f"  of those, {len(hinted)} with the thinking hint before the GGUF's chat template: {', '.join(hinted)}")
    print(f"  and {len(patched)} with llama.cpp's Jinja gaps patched in it: {', '.join(patched)}")
    if why:
        print("\n".join(f"    rewrite not kept: {line}" for line in extra["hint_why"]))
    served = sorted(set(by_template) - set(native) | set(equal))
    print(
        f"tools in Ollama {OLLAMA_VERSION}+, by the renderer it picks: {len(served)} of {len(used)} ({len(served) / max(len(used), 1):.0%})"
    )
    kept, kept_equal = extra["kept"], extra["kept_equal"]
    print(f"\nOllama {OLLAMA_VERSION}+ keeps {len(kept)} tool templates on a TEMPLATE without tools: {', '.join(kept)}")
    print(f"  with OLLAMA_GO_TEMPLATE=0, llama-server renders every tool conversation equal for {len(kept_equal)}: {', '.join(kept_equal)}")
    if why:
        print("\n".join(f"    {line}" for line in extra["kept_why"]))
    either = len(served) + len(kept_equal)
    print(f"tools in Ollama {OLLAMA_VERSION}+, by the renderer it picks or with OLLAMA_GO_TEMPLATE=0: {either} of {len(used)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    parser.add_argument("--why", action="store_true", help="print why each tool template is not translated")
    parser.add_argument(
        "--no-native", action="store_true", help="skip llama-server (Ollama 0.30+'s renderer when it prefers the GGUF's template)"
    )
    parser.add_argument("--ollama-utils", type=Path, help="a folder where `npm install @huggingface/ollama-utils` ran: its figures too")
    args = parser.parse_args()
    renderer = JinjaChatRenderer()
    with tempfile.TemporaryDirectory(prefix="bench-templates-") as tmp:
        go = GoTemplateChecker(Path(tmp))
        start, outcomes = time.perf_counter(), []
        for name, text in templates():
            began = time.perf_counter()
            outcomes.append((evaluate(name, text, renderer, go), time.perf_counter() - began))
        wall = time.perf_counter() - start
        extra = figures(renderer, go, outcomes)
        derived = extra.pop("_derived")
        if not args.no_native:
            extra.update(native_figures(renderer, Path(tmp), derived))
        if args.ollama_utils:
            found = tool_figures(renderer, go, args.ollama_utils, extra["tools_templates"], dict(templates()))
            extra.update({f"ollama_utils_{k}": v for k, v in found.items()})
    counts = collections.Counter(o.status for o, _ in outcomes)
    total = len(outcomes)
    if args.json:
        found = [attrs.asdict(o) for o, _ in outcomes]
        print(json.dumps({"templates": total, **counts, "seconds": round(wall, 1), "outcomes": found, **extra}, indent=2))
    else:
        for outcome, seconds in outcomes:
            print(f"{outcome.status:8} {seconds:5.2f}s  {outcome.name}  {outcome.detail if outcome.status != 'equal' else ''}")
        print(f"\n{templates_dir()}: {total} templates in {wall:.0f} s")
        print(f"equal {counts['equal']} ({counts['equal'] / max(total, 1):.0%}), refused {counts['refused']}, wrong {counts['wrong']}")
        for key in ("tools", "thinking"):
            used, got = extra[f"{key}_templates"], extra[f"{key}_equal"]
            print(f"\n{key}: {len(got)} of {len(used)} templates that use {key} ({len(got) / max(len(used), 1):.0%})")
            print(f"  translated: {', '.join(got)}")
            print(f"  not translated: {', '.join(n for n in used if n not in got)}")
            if key == "tools" and args.why:
                print("\n".join(f"    {line}" for line in extra["tools_why"]))
        if not args.no_native:
            print_native(extra, args.why)
        if args.ollama_utils:
            used, found = extra["tools_templates"], extra
            print(f"\n@huggingface/ollama-utils on the {len(used)} tool templates: converts {len(found['ollama_utils_converted'])},")
            print(f"  translates tools {len(found['ollama_utils_equal'])}: {', '.join(found['ollama_utils_equal'])}")
            print(f"  tools wrong {len(found['ollama_utils_wrong'])}: {', '.join(found['ollama_utils_wrong'])}")
    return 0 if total and not counts["wrong"] and counts["equal"] >= 0.88 * total else 1


if __name__ == "__main__":
    sys.exit(main())
