"""llama.cpp's collection of real chat templates (`models/templates/`, ~70 as models ship them), derived
and then served on a later day than derived: the figures the issue's target is measured by.

Each template gets the special tokens it names (BOS/EOS pairs recognised from the tokens it writes,
`<s>`/`</s>` where it names none); the runtime adds BOS when the template writes `bos_token` (as the
tokenizers of such models do). A template is *equal* when it derives and renders every check
conversation byte-identical in Go on days after its derivation; *refused* when the derivation says no
in one line; *wrong* when it derived but a later render differs. The derivation's own check already
renders on a later day (2031-01-05, and 2032-11-23 for templates that write the date); templates that
write the date are rendered once more, 400 days after the day they were derived on.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path

import attrs

from hubship.adapters.llama_cpp.install import installed_home
from hubship.application.ollama_template import check_template, derive_ollama_template
from hubship.domain.chat_template import ChatProfile
from hubship.domain.errors import UserInputError

PAIRS = (
    ("<|begin_of_text|>", "<|eot_id|>"),
    ("<bos>", "<eos>"),
    ("<|startoftext|>", "<|endoftext|>"),
    ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("<|im_start|>", "<|im_end|>"),
)
LATER = datetime.timedelta(days=400)


def templates_dir() -> Path:
    """Where `make setup` extracts the collection (next to llama.cpp's converter)."""
    return installed_home() / "models" / "templates"


def templates() -> Iterator[tuple[str, str]]:
    for path in sorted(templates_dir().glob("*.jinja")):
        yield path.stem, path.read_text(encoding="utf-8")


def profile_for(text: str) -> ChatProfile:
    bos, eos = next(((b, e) for b, e in PAIRS if b in text or e in text), ("<s>", "</s>"))
    writes_bos = re.search(r"\bbos_token\b", text) is not None
    return ChatProfile(template=text, tokens={"bos_token": bos, "eos_token": eos}, add_bos=writes_bos, eos_tokens=(eos,))


@attrs.frozen
class Outcome:
    name: str
    status: str  # equal, refused or wrong
    detail: str = ""


def evaluate(name: str, text: str, renderer, go, today: datetime.date | None = None) -> Outcome:
    """Derive `text` on `today` (default: the real day), then render it on a day LATER than that."""
    day = today or datetime.date.today()
    profile = profile_for(text)
    try:
        derived = derive_ollama_template(renderer, go, profile, allow_generic=False, today=day)
    except UserInputError as exc:
        return Outcome(name, "refused", str(exc))
    assert derived.template is not None and derived.structure is not None
    if derived.check.status != "passed":
        return Outcome(name, "wrong", f"the check did not run ({derived.check.status})")
    if not derived.structure.dates:
        return Outcome(name, "equal", f"{derived.check.cases} conversations")
    report = check_template(renderer, go, profile, derived.template, derived.structure, (day + LATER,))
    if report.status != "passed":
        return Outcome(name, "wrong", "; ".join(report.mismatches[:2]))
    return Outcome(name, "equal", f"{derived.check.cases} + {report.cases} conversations, dates on {day + LATER}")
