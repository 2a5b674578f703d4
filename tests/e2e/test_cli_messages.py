"""The messages and tables a person reads before anything is built, from the CLI as a user runs it: "did you
mean" for typos, `--help`, the settings table of `plan` at 80 columns, and `inspect`."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_cli


def _error(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    (line,) = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["-f", "gguf-q4km"],
            "hubship: error: unknown format 'gguf-q4km'; did you mean 'gguf-q4_k_m'? valid formats: fp8-dynamic, gguf-bf16, ",
        ),
        (
            ["-f", "lora", "--to", "published"],
            "hubship: error: malformed destination 'published': use dir:PATH, hf:OWNER/NAME or ollama:NAME[:TAG];"
            " did you mean 'dir:published'?",
        ),
        (
            ["-f", "lora", "--to", "olama:tiny"],
            "hubship: error: malformed destination 'olama:tiny': use dir:PATH, hf:OWNER/NAME or ollama:NAME[:TAG];"
            " did you mean 'ollama:tiny'?",
        ),
        (["-f", "lora", "--verify", "ful"], "hubship: error: invalid --verify 'ful'; did you mean 'full'?"),
        (["-f", "lora", "--method", "stf"], "hubship: error: invalid --method 'stf'; did you mean 'sft'?"),
        (["-f", "gguf-q2_k", "--imatrix", "autp"], "hubship: error: invalid --imatrix 'autp' (no such file); did you mean 'auto'?"),
    ],
)
def test_a_typo_gets_a_did_you_mean(args, expected, tiny_model, tmp_path):
    line = _error(run_cli("plan", str(tiny_model[1]), *args, "-w", str(tmp_path / "ws"), cwd=tmp_path))
    assert line == expected or (expected.endswith(", ") and line.startswith(expected) and "merged-16bit" in line)
    assert not (tmp_path / "ws" / "artifacts").exists()


def test_a_mistyped_value_in_hubship_toml_gets_a_did_you_mean(tiny_model, tmp_path):
    (tmp_path / "hubship.toml").write_text('repo-layout = "singel"\n')
    line = _error(run_cli("plan", str(tiny_model[1]), "-f", "lora", cwd=tmp_path))
    assert line == (
        f"hubship: error: repo-layout = 'singel' in {tmp_path / 'hubship.toml'} is not valid:"
        " invalid --repo-layout 'singel'; did you mean 'single'?"
    )


@pytest.mark.parametrize("command", ["inspect", "plan", "publish", "verify", "demo"])
def test_help_names_metavars_gives_two_examples_and_points_to_the_formats(command):
    result = run_cli(command, "--help", env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "{" not in text.split("\n")[0] and "<list[str]>" not in text and "<str>" not in text and "<path>" not in text
    examples = re.findall(rf"^    (hubship {command}\b.*)$", text, re.MULTILINE)
    assert len(examples) == 2, text
    if command in ("inspect", "plan", "publish"):
        assert text.splitlines()[0] == f"Usage: hubship {command} [OPTIONS] CHECKPOINT"
    if command in ("plan", "publish"):
        assert "-f, --format LIST" in text and "docs/formats.md" in text
        assert "--threshold FORMAT.METRIC=VALUE" in text and "[env var: HUBSHIP_WORKSPACE]" in text
    if command == "verify":
        assert text.splitlines()[0] == "Usage: hubship verify [OPTIONS] PUBLICATION" and "hf:OWNER/NAME@REVISION" in text


@pytest.mark.slow
def test_plan_settings_name_env_and_thresholds_and_fit_80_columns(tiny_model, tmp_path):
    (tmp_path / "hubship.toml").write_text("[thresholds.merged-16bit]\nmean_kl = 1e-6\n")
    deep = tmp_path / "a-rather-long-folder-name-for-published-models" / "and-another-level"
    result = run_cli(
        "plan",
        str(tiny_model[1]),
        "-f",
        "lora,merged-16bit",
        "--to",
        f"dir:{deep}",
        cwd=tmp_path,
        env={"COLUMNS": "80", "HUBSHIP_WORKSPACE": str(tmp_path / "ws")},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert [line for line in lines if "…" in line] == [] and max(map(len, table)) <= 80
    rows = {m[1]: (m[2].strip(), m[3]) for line in lines if (m := re.match(r"│ ([a-z-]+) +│ (.*?)│ (\w+) +│$", line))}
    assert rows["workspace"][1] == "env" and rows["threshold"] == ("merged-16bit.mean_kl=1e-06", "config")
    assert rows["format"] == ("lora,merged-16bit", "flag") and "json" not in rows and "quiet" not in rows


@pytest.mark.parametrize("where", ["flag", "config"])
def test_a_threshold_on_a_format_alias_bounds_that_format(where, tiny_model, tmp_path):
    flags = ["--threshold", "model-16bit.mean_kl=1e-3"] if where == "flag" else []
    if where == "config":
        (tmp_path / "hubship.toml").write_text("[thresholds.model-16bit]\nmean_kl = 1e-3\n")
    result = run_cli("plan", str(tiny_model[1]), "-f", "model-16bit", *flags, "-w", str(tmp_path / "ws"), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["options"]["thresholds"] == {"merged-16bit": {"mean_kl": 1e-3}}


def test_inspect_reads_in_human_units_with_the_default_name(tiny_model):
    result = run_cli("inspect", str(tiny_model[1]), env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    rows = dict(re.findall(r"^│ ([a-z ]+?) +│ (.*?) +│$", result.stdout, re.MULTILINE))
    assert rows["publish name"] == "checkpoint-sft (from the folder; --name sets another)"
    assert rows["adapter"] == "LORA, r=8" and rows["adapter size"] == "134.6 kB"
    assert rows["base architecture"] == "LlamaForCausalLM (fp32, 1.5 MB of weights)"
    assert "None" not in result.stdout and "base problem" not in rows and "datasets" not in rows
