"""Low-bit GGUF quantizations with llama.cpp's own imatrix and quantize tools, on the tiny Llama: one imatrix per
publish serves every quantization that wants one, IQ2 is made with it (and refused without), and `--imatrix auto`
keeps whichever variant measures the lower KL on the probe's first half, recording both, and publishes the kept
file's figures on the second half."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from dependency_injector import providers
from llama_cpp import Llama
from transformers import AutoTokenizer

from hubship.adapters.hub.registry import HfHubRegistry
from hubship.adapters.llama_cpp.gguf_verifier import LlamaCppGgufVerifier
from hubship.adapters.llama_cpp.imatrix_tools import LlamaCppImatrixTools
from hubship.adapters.llama_cpp.install import library_version
from hubship.adapters.llama_cpp.quantizer import LlamaCppQuantizer
from hubship.adapters.llama_cpp.tools_build import installed_tools, tool_path
from hubship.application.publish_request import PublishRequest
from hubship.domain.imatrix import HELD_OUT
from hubship.entrypoints.container import create_container
from tests.fakes.imatrix_tools import FakeImatrixTools
from tests.fakes.progress import FakeProgress
from tests.support import hub_fixtures
from tests.support.sharp_model import sharpened_copy

pytestmark = pytest.mark.slow
NAME = "tiny-ft"
THREE = "gguf-q3_k_m,gguf-q2_k,gguf-iq2_xs"
hub, hub_env = hub_fixtures.hub, hub_fixtures.hub_env  # the module's fixtures (a local Hub stand-in)


@pytest.fixture(scope="module")
def publisher(tiny_model, hub_env, tmp_path_factory):
    """Publishes the tiny model to dir:<root>/<out> (and more destinations) through one container (one workspace) whose
    imatrix tools count their runs."""
    root = tmp_path_factory.mktemp("gguf-imatrix")
    _, checkpoint = sharpened_copy(tiny_model, root / "model")
    container = create_container({"workspace": root / "ws", "quiet": True})
    tools = FakeImatrixTools(LlamaCppImatrixTools())
    container.imatrix_tools.override(tools)

    container.hf_registry.override(providers.Singleton(HfHubRegistry, backoff_seconds=0.0))

    def publish(formats: str, out: str = "out", *more: str, **options):
        destinations = (f"dir:{root / out}", *more)
        request = PublishRequest(checkpoint=str(checkpoint), formats=(formats,), destinations=destinations, name=NAME, options=options)
        return container.execute_plan().execute(request)

    def plan(formats: str, **options):
        return container.plan_publish().execute(PublishRequest(checkpoint=str(checkpoint), formats=(formats,), name=NAME, options=options))

    yield SimpleNamespace(publish=publish, plan=plan, tools=tools, root=root, checkpoint=checkpoint, workspace=root / "ws")
    container.reset_override()


@pytest.fixture(scope="module")
def three(publisher):
    """gguf-q3_k_m, gguf-q2_k and gguf-iq2_xs in one publish (default --imatrix auto) to a folder and the Hub; the folder."""
    publisher.publish(THREE, "out", "hf:alice/tiny")
    return publisher.root / "out" / NAME


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_one_imatrix_serves_three_quantizations(three, publisher):
    assert publisher.tools.calls["compute"] == 1
    assert sorted(publisher.tools.quantized) == ["IQ2_XS", "Q2_K", "Q3_K_M"]  # each made once with it (and q2/q3 once without)
    keys = {manifest(three / fmt)["built_from"]["gguf-imatrix"] for fmt in THREE.split(",")}
    assert len(keys) == 1


def test_iq2_is_published_with_its_imatrix_beside_it(three):
    folder = three / "gguf-iq2_xs"
    files = {f["path"] for f in manifest(folder)["files"]}
    assert {f"{NAME}.IQ2_XS.gguf", f"{NAME}.imatrix.gguf", "README.md"} <= files
    metrics = manifest(folder)["verification"]["metrics"]
    assert metrics["imatrix"] == f"{NAME}.imatrix.gguf" and "mean_kl_without_imatrix" not in metrics
    assert metrics["mean_kl"] == metrics["mean_kl_with_imatrix"] < manifest(folder)["verification"]["thresholds"]["mean_kl"]["max"]
    llm = Llama(model_path=str(folder / f"{NAME}.IQ2_XS.gguf"), vocab_only=True, verbose=False)
    meta = llm.metadata
    llm.close()
    assert meta["quantize.imatrix.file"] == f"{NAME}.imatrix.gguf"  # its name only: no local path in a published file
    assert f"`{NAME}.imatrix.gguf`" in (folder / "README.md").read_text()


def test_the_imatrix_lands_once_at_the_gguf_repo_root_listed_in_each_manifest_that_used_it(three, hub):
    files = hub.files("alice/tiny-GGUF")
    imatrix = f"{NAME}.imatrix.gguf"
    assert {f"{NAME}.IQ2_XS.gguf", f"{NAME}.Q2_K.gguf", f"{NAME}.Q3_K_M.gguf", imatrix} <= set(files)
    assert hub.file_bytes("alice/tiny-GGUF", imatrix) == (three / "gguf-iq2_xs" / imatrix).read_bytes()
    for fmt in THREE.split(","):
        listed = {f["path"] for f in json.loads(hub.file_bytes("alice/tiny-GGUF", f"{fmt}.manifest.json"))["files"]}
        assert (imatrix in listed) == (manifest(three / fmt)["verification"]["metrics"]["imatrix"] == imatrix), fmt


def test_auto_keeps_the_variant_with_the_lower_kl_and_records_both(three, publisher):
    reference = (
        publisher.workspace / "artifacts" / manifest(three / "gguf-q2_k")["built_from"]["reference-logits"] / "reference.safetensors"
    )
    for fmt, quant in (("gguf-q3_k_m", "Q3_K_M"), ("gguf-q2_k", "Q2_K")):
        metrics = manifest(three / fmt)["verification"]["metrics"]
        with_it, without = metrics["mean_kl_with_imatrix"], metrics["mean_kl_without_imatrix"]  # the choice's figures
        assert with_it != without
        assert (three / fmt / f"{NAME}.imatrix.gguf").exists() == (with_it < without)
        assert metrics["imatrix"] == (f"{NAME}.imatrix.gguf" if with_it < without else "none")
        published = LlamaCppGgufVerifier().measure([three / fmt / f"{NAME}.{quant}.gguf"], reference, progress=FakeProgress())
        assert published["mean_kl_first_half"] == pytest.approx(min(with_it, without), rel=1e-9)  # chosen on the first half
        for figure in ("mean_kl", "top1_agreement"):  # published: the kept file on the half the choice did not see
            assert metrics[figure] == pytest.approx(published[f"{figure}_second_half"], rel=1e-9)
        assert metrics["mean_kl"] != pytest.approx(published["mean_kl"], rel=1e-6) and metrics["mean_kl_probe"] == HELD_OUT
        card = (three / fmt / "README.md").read_text()
        assert f"{with_it:.4g} with the imatrix, {without:.4g} without" in card and "probe's second half" in card


def test_imatrix_off_forces_the_variant_without(three, publisher):
    before = dict(publisher.tools.calls)
    publisher.publish("gguf-q2_k", out="out-off", imatrix="off")
    folder = publisher.root / "out-off" / NAME / "gguf-q2_k"
    assert "imatrix" not in manifest(folder)["verification"]["metrics"] and "gguf-imatrix" not in manifest(folder)["built_from"]
    assert manifest(folder)["key"] != manifest(three / "gguf-q2_k")["key"]
    assert publisher.tools.calls == before


def test_a_given_imatrix_file_is_used_as_it_is_and_a_legacy_one_is_resaved_as_gguf(three, publisher, tmp_path):
    given = three / "gguf-iq2_xs" / f"{NAME}.imatrix.gguf"
    legacy = tmp_path / "old.imatrix.dat"
    tool = tool_path(installed_tools(library_version()), "llama-imatrix")
    resave = [str(tool), "-m", str(given), "--in-file", str(given), "-o", str(legacy), "--output-format", "dat"]  # -m: unused, required
    subprocess.run(resave, check=True, capture_output=True)
    assert not legacy.read_bytes().startswith(b"GGUF")
    before = publisher.tools.calls["compute"]
    publisher.publish("gguf-iq2_xs", "out-file", imatrix=str(given))
    publisher.publish("gguf-iq2_xs", "out-legacy", imatrix=str(legacy))
    assert publisher.tools.calls["compute"] == before and publisher.tools.calls["convert_legacy"] == 1
    for out in ("out-file", "out-legacy"):
        folder = publisher.root / out / NAME / "gguf-iq2_xs"
        assert (folder / f"{NAME}.imatrix.gguf").read_bytes()[:4] == b"GGUF"
        assert manifest(folder)["verification"]["metrics"]["imatrix"] == f"{NAME}.imatrix.gguf"
    file_folder = publisher.root / "out-file" / NAME / "gguf-iq2_xs"
    assert (file_folder / f"{NAME}.imatrix.gguf").read_bytes() == given.read_bytes()
    assert (file_folder / f"{NAME}.IQ2_XS.gguf").read_bytes() == (three / "gguf-iq2_xs" / f"{NAME}.IQ2_XS.gguf").read_bytes()


def test_iq2_is_refused_without_an_imatrix_and_without_the_tools(publisher, monkeypatch, tmp_path):
    from hubship.domain.errors import UserInputError

    with pytest.raises(UserInputError, match=r"gguf-iq2_xs cannot be made without an importance matrix .* --imatrix is off"):
        publisher.plan("gguf-iq2_xs", imatrix="off")
    monkeypatch.setenv("HUBSHIP_LLAMA_CPP_TOOLS", str(tmp_path / "nowhere"))
    with pytest.raises(
        UserInputError, match=r"gguf-iq2_xs needs an importance matrix, but llama.cpp's tools .* not installed .* `make setup`"
    ):
        publisher.plan("gguf-iq2_xs")
    plan = publisher.plan("gguf-q3_k_m").plan  # everything else plans as before (no imatrix is made: the tools are absent)
    assert plan.node("gguf-imatrix").spec.tools["llama_cpp_tools"] == "absent"


def test_chat_jsonl_calibration_is_rendered_with_the_checkpoints_template(three, publisher, tmp_path):
    chats = [
        [{"role": "user", "content": f"Question {i}: what is {i} plus {i}?"}, {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."}]
        for i in range(60)
    ]
    calibration = tmp_path / "chats.jsonl"
    calibration.write_text("".join(json.dumps({"messages": c}) + "\n" for c in chats))
    result = publisher.publish("gguf-q2_k", out="out-chat", imatrix="on", calibration=str(calibration))
    (imatrix,) = [a for a in result.artifacts if a.format == "gguf-imatrix"]
    tokenizer = AutoTokenizer.from_pretrained(publisher.checkpoint)
    expected = "".join(tokenizer.apply_chat_template(c, tokenize=False).rstrip("\n") + "\n\n" for c in chats)
    assert (Path(imatrix.path) / "calibration.txt").read_text() == expected
    assert "<|im_start|>assistant\n7 plus 7 is 14.<|im_end|>" in expected


def test_built_llama_quantize_writes_the_same_bytes_as_the_in_process_quantizer(three, publisher, tmp_path):
    (intermediate,) = (publisher.workspace / "artifacts" / manifest(three / "gguf-q2_k")["built_from"]["gguf-intermediate"]).glob("*.gguf")
    tool = tool_path(installed_tools(library_version()), "llama-quantize")
    for quant in ("Q4_K_M", "Q2_K"):
        by_tool, in_process = tmp_path / f"tool.{quant}.gguf", tmp_path / f"lib.{quant}.gguf"
        subprocess.run([str(tool), str(intermediate), str(by_tool), quant], check=True, capture_output=True)
        LlamaCppQuantizer().quantize(intermediate, in_process, quant, progress=FakeProgress())
        assert by_tool.read_bytes() == in_process.read_bytes(), quant
