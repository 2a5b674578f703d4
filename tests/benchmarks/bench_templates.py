"""Benchmark: the Ollama TEMPLATE derivation on llama.cpp's collection of real chat templates (a script, not a test).

Run:  .venv/bin/python tests/benchmarks/bench_templates.py [--json]

Each of the ~70 templates in llama.cpp's `models/templates/` (extracted by `make setup` next to the
converter) is derived as hubship derives a checkpoint's template (with the special tokens the template
names), then rendered on a day 400 days after its derivation, Jinja against Go, on every check
conversation (tests/support/template_collection.py). Prints one line per template and the counts:
equal (derived, and byte-identical on the later day), refused (one line saying why), wrong (derived,
but the later render differs). The targets: none wrong, at least 88% equal.
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
from tests.support.template_collection import evaluate, templates, templates_dir  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    args = parser.parse_args()
    renderer = JinjaChatRenderer()
    with tempfile.TemporaryDirectory(prefix="bench-templates-") as tmp:
        go = GoTemplateChecker(Path(tmp))
        start, outcomes = time.perf_counter(), []
        for name, text in templates():
            began = time.perf_counter()
            outcomes.append((evaluate(name, text, renderer, go), time.perf_counter() - began))
        wall = time.perf_counter() - start
    counts = collections.Counter(o.status for o, _ in outcomes)
    total = len(outcomes)
    if args.json:
        found = [attrs.asdict(o) for o, _ in outcomes]
        print(json.dumps({"templates": total, **counts, "seconds": round(wall, 1), "outcomes": found}, indent=2))
    else:
        for outcome, seconds in outcomes:
            print(f"{outcome.status:8} {seconds:5.2f}s  {outcome.name}  {outcome.detail if outcome.status != 'equal' else ''}")
        print(f"\n{templates_dir()}: {total} templates in {wall:.0f} s")
        print(f"equal {counts['equal']} ({counts['equal'] / max(total, 1):.0%}), refused {counts['refused']}, wrong {counts['wrong']}")
    return 0 if total and not counts["wrong"] and counts["equal"] >= 0.88 * total else 1


if __name__ == "__main__":
    sys.exit(main())
