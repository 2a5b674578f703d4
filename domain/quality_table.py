"""What people read about measured quality: one row per figure (what it means, its value, its bound, pass or fail),
as a markdown table for cards, a compact phrase for the publish summary, and a one-line verdict.

Pure text from an artifact's verification record (`{"metrics": {...}, "thresholds": {...}}`, as the quality
gate and the manifest keep it). Facts about the file itself (its quantization, size, bits per weight) are
not quality figures: `file_facts` gives them for the card's size line. The table takes its columns as data
(`Column`), so a card can add one (e.g. the base model's own figure) without a second table builder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

MEANINGS = {
    "mean_kl": "mean KL divergence from the fine-tune's next-token distribution, in nats (0 = identical)",
    "max_abs_diff": "largest difference of any logit from the fine-tune's",
    "top1_agreement": "share of positions where the top next token is exactly the fine-tune's",
    "top1_near": "the same, counting a token the fine-tune rates within 0.1 nats of its top one as agreeing (near-ties)",
    "runtime_kl": "how differently the runtime itself runs the model: mean_kl of its unquantized (16-bit) run of the merged"
    " model, before any quantization (mlx-lm computes in the weights' 16-bit dtype)",
    "runtime_top1": "top1_agreement of that unquantized run",
    "quantization_kl": "what the quantization alone lost: mean KL of this artifact from the runtime's own unquantized run",
    "quantization_top1": "share of positions where this artifact's top token is the unquantized run's",
    "mean_kl_with_imatrix": "mean_kl of this quantization made with the importance matrix (where both were made: on the"
    " probe's first half, which chose the one published)",
    "mean_kl_without_imatrix": "mean_kl of this quantization made without an importance matrix (on the probe's first half)",
    "mean_kl_probe": "the probe positions mean_kl and top1_agreement are measured on",
    "imatrix": "the importance matrix the published file was made with",
    "ollama_template": "where the Modelfile's chat TEMPLATE comes from",
    "ollama_capabilities": "what Ollama lets requests to this model use (completion, tools, thinking), read from its TEMPLATE",
    "served_chat_conversations": "tool and reasoning conversations sent to llama-server on this GGUF, compared with the chat template",
    "served_chat_differences": "of those, the ones llama-server renders otherwise than the chat template",
    "ollama_runtime": "what Ollama 0.30.0+ renders chats with: the TEMPLATE, or the GGUF's own chat template in llama.cpp",
    "ollama_capabilities_native": "what requests to this model can use on Ollama 0.30.0+ where it renders with the GGUF's"
    " chat template (tools only where llama-server was proven to render the tool conversations as the chat template)",
    "ollama_native_tool_conversations": "tool conversations llama-server rendered as the chat template does, sent as Ollama sends them",
    "ollama_go_template_off_tool_conversations": "tool conversations llama-server rendered as the chat template does, sent as"
    " Ollama 0.30.0+ sends them with OLLAMA_GO_TEMPLATE=0 (the TEMPLATE Ollama keeps otherwise has no tools)",
    "template_check": "the TEMPLATE rendered against the Jinja chat template, byte for byte",
    "template_check_cases": "conversations the TEMPLATE was checked on",
    "template_check_mismatches": "conversations where the TEMPLATE differs from the Jinja chat template",
    "template_check_go": "the Go version that rendered the TEMPLATE",
    "chat_token_check": "chat turns rendered for the runtime give the token ids the model was trained on",
    "chat_token_conversations": "conversations the token-level chat check ran",
    "chat_token_mismatches": "conversations whose token ids differ from training's",
    "chat_end_of_turn": "the tokens that end an assistant turn",
    "chat_end_of_turn_not_eog": "end-of-turn tokens that do not end generation in llama.cpp",
    "chat_end_of_turn_not_stop": "end-of-turn tokens that are not a stop of the Modelfile",
    "chat_completion_finish": "how a greedy chat completion of the artifact ended",
    "chat_completion_tokens": "tokens that completion generated",
}
FILE_FACTS = ("quantization", "file_size_bytes", "bits_per_weight")  # about the file, not its quality
SUMMARY_UNGATED = ("template_check",)  # ungated figures a summary line still names
CHAT_PROOF_PREFIX = "chat_"  # the token-level chat proof's figures (domain/chat_proof.py); its counts are all zero when it holds
CHAT_PROVEN = "chat format proven"


@attrs.frozen(kw_only=True)
class QualityRow:
    """One measured figure. `bound` is `≤ 1e-06` / `≥ 0.85` or "" (reported, not gated); `passed` None when ungated."""

    metric: str
    meaning: str
    value: Any
    bound: str
    passed: bool | None


@attrs.frozen(kw_only=True)
class Column:
    """A column of the quality table: its heading and how a row fills its cell."""

    heading: str
    cell: Callable[[QualityRow], str]


def number(value: Any) -> str:
    """A figure as people read it: 3 significant digits for floats, as is otherwise."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _bound(bounds: Mapping[str, float]) -> str:
    parts = []
    if "max" in bounds:
        parts.append(f"≤ {number(float(bounds['max']))}")
    if "min" in bounds:
        parts.append(f"≥ {number(float(bounds['min']))}")
    return ", ".join(parts)


def _passes(value: Any, bounds: Mapping[str, float]) -> bool | None:
    if not bounds or not isinstance(value, int | float):
        return None
    return not (("max" in bounds and value > bounds["max"]) or ("min" in bounds and value < bounds["min"]))


def quality_rows(verification: Mapping[str, Any]) -> list[QualityRow]:
    """The quality figures of a verification record, each with its meaning and bound: gated ones first, then the
    reported ones, then the chat proof's."""
    metrics = verification.get("metrics") or {}
    thresholds = verification.get("thresholds") or {}
    rows = [
        QualityRow(
            metric=name,
            meaning=MEANINGS.get(name, name.replace("_", " ")),
            value=value,
            bound=_bound(thresholds.get(name) or {}),
            passed=_passes(value, thresholds.get(name) or {}),
        )
        for name, value in metrics.items()
        if name not in FILE_FACTS and isinstance(value, int | float | str)
    ]
    return sorted(rows, key=lambda r: (r.metric.startswith(CHAT_PROOF_PREFIX), r.passed is None, r.metric))


def _mark(passed: bool | None) -> str:
    return {True: "pass", False: "**FAIL**", None: "reported"}[passed]


DEFAULT_COLUMNS = (
    Column(heading="figure", cell=lambda r: f"`{r.metric}`"),
    Column(heading="what it measures", cell=lambda r: r.meaning),
    Column(heading="value", cell=lambda r: number(r.value)),
    Column(heading="threshold", cell=lambda r: r.bound or "—"),
    Column(heading="pass", cell=lambda r: _mark(r.passed)),
)


def markdown_table(rows: Sequence[QualityRow], columns: Sequence[Column] = DEFAULT_COLUMNS) -> str:
    """The rows as a markdown table with `columns`; empty when there are no rows."""
    if not rows:
        return ""
    lines = ["| " + " | ".join(c.heading for c in columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(c.cell(r).replace("|", "\\|") for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _split_chat(gated: Sequence[QualityRow]) -> tuple[list[QualityRow], bool]:
    """(the gated rows a reader weighs, whether the chat proof's counts are among them and all passed): a proof that
    holds reads as one phrase, not as three zero counts; one that fails keeps its counts."""
    chat = [r for r in gated if r.metric.startswith(CHAT_PROOF_PREFIX)]
    if chat and all(r.passed for r in chat):
        return [r for r in gated if r not in chat], True
    return list(gated), False


def verdict(rows: Sequence[QualityRow]) -> str:
    """One line: every gated figure within its threshold, or which are not (published anyway: --accept-quality-loss)."""
    gated = [r for r in rows if r.passed is not None]
    failed = [r for r in gated if r.passed is False]
    if failed:
        names = ", ".join(f"{r.metric} {number(r.value)} (threshold {r.bound})" for r in failed)
        return f"**Verdict: below the quality threshold** — {names}; published with --accept-quality-loss."
    if gated:
        weighed, proven = _split_chat(gated)
        names = " and ".join(", ".join(r.metric for r in weighed).rsplit(", ", 1))
        within = f"{names} within {'its threshold' if len(weighed) == 1 else 'their thresholds'}" if weighed else ""
        return f"**Verdict: pass** — {'; '.join(p for p in (within, CHAT_PROVEN if proven else '') if p)}."
    return "**Verdict: not gated** — the figures below are reported, with no threshold to meet."


def summary_phrase(rows: Sequence[QualityRow]) -> str:
    """The gated figures against their bounds and the outcome, for one summary line: `mean_kl 2e-08 ≤ 1e-06: pass`
    (with `chat format proven` where the token-level chat proof held)."""
    gated = [r for r in rows if r.passed is not None]
    if not gated:
        headline = [f"{r.metric} {number(r.value)}" for r in rows if r.metric in SUMMARY_UNGATED]
        return ", ".join(headline) or ("reported, no threshold" if rows else "not measured")
    weighed, proven = _split_chat(gated)
    figures = ", ".join([f"{r.metric} {number(r.value)} {r.bound}" for r in weighed] + ([CHAT_PROVEN] if proven else []))
    return f"{figures}: {'pass' if all(r.passed for r in gated) else 'FAIL'}"


def file_facts(verification: Mapping[str, Any]) -> dict[str, Any]:
    """The facts about the file a verification record carries (quantization, bits per weight), for the size line."""
    metrics = verification.get("metrics") or {}
    return {k: metrics[k] for k in FILE_FACTS if k in metrics}


def yardstick_line(verification: Mapping[str, Any]) -> str:
    """What the base yardstick said, when the gate asked it (a default bound was breached): the same format's loss on
    the base beside this artifact's, or why there was none; "" when it was not asked."""
    base = verification.get("base") or {}
    if "unavailable" in base:
        return f"No base yardstick ({base['unavailable']}): the absolute thresholds decide alone."
    figures, defaults = base.get("metrics") or {}, base.get("defaults") or {}
    if not figures:
        return ""
    metrics, thresholds = verification.get("metrics") or {}, verification.get("thresholds") or {}
    what = str(base.get("format", "this format")).removeprefix("gguf-")
    compared = ", ".join(f"{m} {number(metrics[m])} here, {number(v)} on the base" for m, v in figures.items() if m in defaults)
    model = f" {base['model']}" if base.get("model") else ""
    if all(_passes(metrics.get(m), thresholds.get(m) or {}) for m in defaults):
        bounds = "; ".join(f"{m} {_bound(defaults[m])} by default, {_bound(thresholds.get(m) or {})} beside the base" for m in defaults)
        return f"{what} loses as much here as it does on the base model{model} ({compared}): within the yardstick's margin ({bounds})."
    return f"{what} loses clearly more here than on the base model{model} ({compared}): more than the format's own loss."


def quality_section(verification: Mapping[str, Any]) -> str:
    """A card's "Measured quality" section: the verdict line, what the base yardstick said, then the table (with the
    base's figures in a column when it was measured); empty when nothing was measured."""
    rows = quality_rows(verification)
    if not rows:
        return ""
    base = (verification.get("base") or {}).get("metrics") or {}
    columns = DEFAULT_COLUMNS
    if base:
        on_base = Column(heading="on the base", cell=lambda r: number(base[r.metric]) if r.metric in base else "—")
        columns = (*DEFAULT_COLUMNS[:3], on_base, *DEFAULT_COLUMNS[3:])
    lines = [verdict(rows), "Measured against base + adapter, unmerged, on hubship's probe.", yardstick_line(verification)]
    return "\n\n".join([*filter(None, lines), markdown_table(rows, columns)])
