"""Benchmark: thinking in the derived Ollama TEMPLATE on llama.cpp's collection of chat templates (a script, not a test).

Run:  .venv/bin/python tests/benchmarks/bench_thinking.py

For each template that writes reasoning or has a think switch (the denominator of bench_templates.py's thinking
figure), one line: whether the Jinja template has a switch (`enable_thinking` changes a render) and whether the derived
TEMPLATE translates it; whether it shows reasoning in history with the switch unset and whether the TEMPLATE writes
reasoning (under any setting: DeepSeek V3.2 shows it in a prefill with the switch on only); the thinking tags Ollama
infers from the TEMPLATE (its `thinking` capability); and each thinking refusal of the card. A template is *full*
when it translates the switch where it has one and writes reasoning where it shows it; the derivation's own proof
renders every check conversation, and the reasoning ones, in Go and Jinja under each setting.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "benchmarks"))

from bench_templates import ASK, REPLY, _renders, uses  # noqa: E402

from hubship.adapters.ollama.go_template_checker import GoTemplateChecker  # noqa: E402
from hubship.adapters.torch.chat_renderer import JinjaChatRenderer  # noqa: E402
from hubship.application.ollama_template import derive_ollama_template  # noqa: E402
from hubship.application.ollama_thinking import switches  # noqa: E402
from hubship.domain.chat_template import ChatMessage  # noqa: E402
from hubship.domain.errors import UserInputError  # noqa: E402
from tests.support.template_collection import profile_for, templates  # noqa: E402


def _shows_reasoning(renderer: JinjaChatRenderer, text: str) -> bool:
    plain = ChatMessage("assistant", "Hello")
    return any(
        _renders(renderer, text, with_) != _renders(renderer, text, without)
        for with_, without in (([ASK, REPLY], [ASK, plain]), ([ASK, REPLY, ASK], [ASK, plain, ASK]))
    )


def main() -> int:
    renderer = JinjaChatRenderer()
    full, total = [], []
    with tempfile.TemporaryDirectory(prefix="bench-thinking-") as tmp:
        go = GoTemplateChecker(Path(tmp))
        for name, text in templates():
            if not uses(renderer, text)[1]:
                continue
            total.append(name)
            profile = profile_for(text)

            def render(messages, _text=text, _profile=profile, **mode):
                return renderer.render(_text, _profile.tokens, messages, **mode)

            switch, shown = switches(render, profile.runtime_bos), _shows_reasoning(renderer, text)
            try:
                derived = derive_ollama_template(renderer, go, profile, allow_generic=False)
            except UserInputError as exc:
                print(f"refused  {name}: {exc}")
                continue
            notes = [n for n in derived.notes if n.startswith("thinking:")]
            got_switch = any("changes the prompt where the chat template does" in n for n in notes)
            written = any("is written for" in n for n in notes)
            tags = go.tags(derived.template or "")
            ok = (got_switch or not switch) and (written or not shown)
            full.extend([name] if ok else [])
            found = f"{tags.thinking_open!r} {tags.thinking_close!r}" if tags.thinking else "none"
            status = "full" if ok else "partial"
            print(f"{status:8} switch {switch!s:5}/{got_switch!s:5} reasoning {shown!s:5}/{written!s:5} tags {found}  {name}")
            for note in notes:
                if "not translated" in note or "not written" in note:
                    print(f"         {note}")
    print(f"\nthinking, full: {len(full)} of {len(total)} templates that use thinking ({len(full) / max(len(total), 1):.0%})")
    print(f"  partial or refused: {', '.join(n for n in total if n not in full) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
