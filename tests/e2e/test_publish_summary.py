"""What a person reads after `hubship plan` and `hubship publish`, run as a user runs them (80 columns, no
Ollama server): the plan's estimates against the files built, the summary lines, the `ollama create`
command, the Modelfile's stops, and the card's quality table and verdict. One publish serves the module."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow
FORMATS = "lora,gguf-q4_k_m"


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(scope="module")
def run(tiny_model, tmp_path_factory):
    """(folder, plan JSON made before anything was built, the publish's result) of one publish to dir: and ollama:."""
    root = tmp_path_factory.mktemp("summary")
    ckpt = str(tiny_model[1])
    env = {"COLUMNS": "80", "OLLAMA_HOST": _closed_port(), "HUBSHIP_WORKSPACE": str(root / "ws")}
    to = ["--to", f"dir:{root / 'out'}", "--to", "ollama:tiny-chat"]
    plan = run_cli("plan", ckpt, "-f", FORMATS, *to, "--name", "tiny", "--json", cwd=root, env=env)
    assert plan.returncode == 0, plan.stderr
    done = run_cli("publish", ckpt, "-f", FORMATS, *to, "--name", "tiny", cwd=root, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, json.loads(plan.stdout), done


def test_every_size_estimate_is_within_10_percent_of_the_files_built(run):
    root, plan, _ = run
    for node in plan["nodes"]:
        if node["format"].startswith("ollama-"):
            continue  # its GGUF is a hard link: the estimate is the disk it adds
        folder = root / "ws" / "artifacts" / node["key"]
        real = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        assert abs(node["size_bytes"] - real) <= 0.10 * real, (node["format"], node["size_bytes"], real)


def test_the_summary_has_one_line_per_artifact_and_the_ollama_command_alone(run):
    root, _, done = run
    out = root / "out" / "tiny"
    tail = done.stdout.splitlines()[-4:]
    assert re.fullmatch(
        rf"published: gguf-q4_k_m -> {out}/gguf-q4_k_m \(2\d\d\.\d kB; mean_kl [0-9.e-]+ ≤ 0\.12, chat format proven: pass\)", tail[0]
    )
    assert tail[1] == f"published: lora -> {out}/lora (390.8 kB; not measured)"
    proven = r"mean_kl [0-9.e-]+ ≤ 0\.12, chat format proven: pass"  # the Ollama model is gated through its GGUF
    ready = re.fullmatch(rf"ready, no server: ollama-q4_k_m -> (/\S+/ollama-q4_k_m) \(2\d\d\.\d kB; {proven}\)", tail[2])
    assert ready and (Path(ready[1]) / "Modelfile").is_file()
    assert tail[3] == f"ollama create tiny-chat:latest -f {ready[1]}/Modelfile"
    assert "published " not in done.stdout.replace("published: ", "")  # no bare `published PATH` lines any more


def test_the_plan_fits_80_columns_without_cutting_a_name(run):
    _, _, done = run
    table = "\n".join(line for line in done.stdout.splitlines() if line[:1] in "┏┃┡│└")
    assert [line for line in table.splitlines() if "…" in line] == [] and max(map(len, table.splitlines())) <= 80
    for name in ("reference-logits *", "gguf-intermediate *", "gguf-q4_k_m", "ollama-q4_k_m", "lora"):
        assert re.search(rf"│ {re.escape(name)} +│", table), name
    assert "* built to make the others, not published; memory: the step's estimated peak" in done.stdout.splitlines()


def test_the_modelfile_stops_on_what_the_docs_say(run):
    _, _, done = run
    folder = done.stdout.splitlines()[-1].split(" -f ")[1]
    modelfile = Path(folder).read_text()
    assert [line for line in modelfile.splitlines() if line.startswith("PARAMETER stop")] == [
        'PARAMETER stop "<|im_end|>"',
        'PARAMETER stop "<|im_start|>"',
        'PARAMETER stop "</s>"',
    ]
    docs = (Path(__file__).resolve().parents[2] / "docs" / "destinations-ollama.md").read_text()
    assert "ChatML, as the tiny demo model: `<|im_end|>`, `<|im_start|>`, then its EOS `</s>`" in docs


def test_the_card_reads_as_a_quality_table_with_a_verdict(run):
    root, _, _ = run
    card = (root / "out" / "tiny" / "gguf-q4_k_m" / "README.md").read_text()
    quality = card.split("## Measured quality\n\n")[1].splitlines()
    assert quality[0] == "**Verdict: pass** — mean_kl within its threshold; chat format proven."
    assert quality[4] == "| figure | what it measures | value | threshold | pass |"
    assert re.fullmatch(
        r"\| `mean_kl` \| mean KL divergence from the fine-tune's next-token distribution, in nats \(0 = identical\)"
        r" \| [0-9.e-]+ \| ≤ 0\.12 \| pass \|",
        quality[6],
    )
    assert any(re.fullmatch(r"\| `top1_agreement` \| .* \| [0-9.]+ \| — \| reported \|", row) for row in quality[7:])
    chat = [row for row in quality if row.startswith("| `chat_")]
    assert chat and quality.index(chat[0]) > quality.index(quality[6])  # the chat proof's rows after the loss figures
    assert any(re.fullmatch(r"- size: 2\d\d\.\d kB \(Q4_K_M, 5\.94 bits per weight\)", line) for line in card.splitlines())
    assert "| quantization" not in card and "file_size_bytes" not in card
