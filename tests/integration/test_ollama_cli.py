"""`hubship publish --to ollama:...` as a user runs it: the stand-in server started by hand
(`python -m tests.support.ollama_server`), the real merge and GGUF chain, the real `ollama` client."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import ollama
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("ollama-standin")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.ollama_server", "--port", "0", "--data", str(data)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url, data
    finally:
        process.terminate()
        process.wait(timeout=30)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("hubship: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.slow
def test_cli_publishes_the_real_gguf_to_ollama(cli, tiny_model, standin, tmp_path):
    url, data = standin
    done = cli("publish", str(tiny_model[1]), "--to", "ollama:tiny-chat", "--workspace", str(tmp_path / "ws"), env={"OLLAMA_HOST": url})
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"^published: ollama-q4_k_m -> tiny-chat:latest \(", done.stdout, re.MULTILINE)
    shown = ollama.Client(host=url).show("tiny-chat")
    assert shown.template.startswith("{{- /* Derived by hubship") and '"<|im_end|>"' in shown.parameters
    record = json.loads(next((data / "models").glob("*.json")).read_text())
    (gguf,) = record["files"]
    assert gguf.endswith(".Q4_K_M.gguf") and (data / "uploads.log").read_text().count("sha256:") == 1


def closed_host() -> str:
    """host:port where no server listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.slow
def test_cli_require_server_without_a_server_is_one_line_exit_1(cli, tiny_model, tmp_path):
    closed = closed_host()
    done = cli(
        "publish",
        str(tiny_model[1]),
        "--to",
        "ollama:tiny-chat",
        "--require-server",
        "--workspace",
        str(tmp_path / "ws"),
        cwd=tmp_path,
        env={"OLLAMA_HOST": closed},
    )
    assert done.returncode == 1 and "no Ollama server answers at http://" in one_line(done.stderr)
    assert not (tmp_path / "published").exists() and not list((tmp_path / "ws" / "artifacts").glob("*"))


def test_cli_plan_shows_where_the_ollama_ready_folder_goes_without_a_server(cli, tiny_model, tmp_path):
    to = ["--to", "ollama:tiny-chat", "--to", "dir:mine"]
    argv = ["plan", str(tiny_model[1]), "-f", "lora", *to, "-n", "tiny", "-w", str(tmp_path / "ws")]
    shown = cli(*argv, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "ollama:tiny-chat: if no server answers, ollama-q4_k_m goes to mine/tiny/ollama-q4_k_m\n" in shown.stdout
    data = json.loads(cli(*argv, "--json", cwd=tmp_path).stdout)
    assert [(t["location"], t["fallback"]) for t in data["targets"]] == [
        ("tiny-chat:latest", "mine/tiny/ollama-q4_k_m"),
        ("mine/tiny/lora", None),
    ]


@pytest.mark.slow
def test_cli_gates_the_gguf_an_ollama_model_is_built_from(cli, tiny_model, standin, tmp_path):
    """The GGUF inside an Ollama model is not a requested format, yet it is gated: an impossible bound is exit 3 and
    nothing reaches the server; without the bound its figures are in the Ollama publication's manifest."""
    url, data = standin
    argv = ["publish", str(tiny_model[1]), "--to", "ollama:gated", "--workspace", str(tmp_path / "ws")]
    before = sorted((data / "models").glob("*.json")) if (data / "models").exists() else []
    done = cli(*argv, "--threshold", "gguf-q4_k_m.mean_kl=1e-9", cwd=tmp_path, env={"OLLAMA_HOST": url})
    assert done.returncode == 3, done.stderr[-2000:]
    assert re.search(r"quality gate failed, nothing was published \(gguf-q4_k_m: mean_kl=\S+ > 1e-09", one_line(done.stderr))
    with pytest.raises(ollama.ResponseError):
        ollama.Client(host=url).show("gated")
    assert (sorted((data / "models").glob("*.json")) if (data / "models").exists() else []) == before

    closed = closed_host()  # no server: the Ollama-ready folder, whose manifest carries the GGUF's figures
    done = cli(*argv, cwd=tmp_path, env={"OLLAMA_HOST": closed})
    assert done.returncode == 0, done.stderr[-2000:]
    verification = json.loads(next((tmp_path / "published").rglob("manifest.json")).read_text())["verification"]
    assert verification["passed"] and 0 <= verification["metrics"]["mean_kl"] <= verification["thresholds"]["mean_kl"]["max"]
    assert "top1_agreement" in verification["metrics"] and "template_check" in verification["metrics"]
