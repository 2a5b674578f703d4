"""A canary token, set in HF_TOKEN and in the saved login (HF_HOME/token), appears in no byte hubship
writes or sends: debug logs (Python logging at DEBUG, HUBSHIP_DEBUG=1 tracebacks), progress events,
cards, manifests, published folders, the workspace, the Hub server's stored objects and commits,
stdout and stderr of successful and failed publishes.

(tests/e2e/test_hub_cli.py runs one such publish as a subprocess; this covers more paths, in-process.)
"""

from __future__ import annotations

import logging

import pytest

from hubship.entrypoints import cli
from tests.support import hub_fixtures

hub = hub_fixtures.hub  # the module's fixture

CANARY = "hf_" + "SecretCanary" * 2 + "Qx9Zw0pL7"  # 36 characters, the Hub's token shape


@pytest.fixture(scope="module")
def world(hub, tmp_path_factory):
    """The canary is alice's token on the server, in HF_TOKEN and in the saved login; everything hubship
    writes goes under `root`; Python logging records everything at DEBUG into root/debug.log."""
    import huggingface_hub.constants as constants

    root = tmp_path_factory.mktemp("secrets")
    hub.add_user("alice", CANARY)
    home = root / "hf-home"
    home.mkdir()
    (home / "token").write_text(CANARY)
    handler = logging.FileHandler(root / "debug.log")
    logger = logging.getLogger()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            **hub_fixtures.hub_environment(hub, home),
            "HF_TOKEN": CANARY,
            "HUBSHIP_DEBUG": "1",
            "HUBSHIP_PROGRESS_EVENTS": str(root / "events.jsonl"),
        }.items():
            mp.setenv(key, value)
        mp.setattr(constants, "HF_HUB_OFFLINE", False)
        mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
        mp.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
        mp.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
        mp.chdir(root)
        yield root, mp
    logger.removeHandler(handler)
    logger.setLevel(old_level)
    handler.close()


def hubship(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out + err


def test_a_canary_token_appears_in_nothing_hubship_writes_or_sends(world, hub, tiny_model, capsys):
    root, mp = world
    ckpt = str(tiny_model[1])
    outputs: list[str] = []

    code, text = hubship(capsys, "publish", ckpt, "-f", "lora,merged-16bit", "--to", "dir:out", "--to", "hf:alice/canary", "-w", "ws")
    outputs.append(text)
    assert code == 0, text

    code, text = hubship(capsys, "publish", ckpt, "-f", "lora", "--to", "hf:alice/canary", "-w", "ws", "--json")
    outputs.append(text)  # a re-run: up to date, JSON result
    assert code == 0, text

    hub.add_fault("status", path="^/api/models/alice/canary-fails/commit/", status=500, times=-1)
    try:  # an error with HUBSHIP_DEBUG=1: a traceback through huggingface_hub's request code
        code, text = hubship(capsys, "publish", ckpt, "-f", "lora", "--to", "hf:alice/canary-fails", "-w", "ws")
    finally:
        hub.clear_faults()
    outputs.append(text)
    assert code == 1 and "Traceback" in text

    code, text = hubship(capsys, "publish", ckpt, "-f", "lora", "--to", "hf:bob/not-mine", "-w", "ws")
    outputs.append(text)
    assert code == 2 and "HTTP 403" in text

    mp.delenv("HF_TOKEN")  # the saved login alone
    code, text = hubship(capsys, "publish", ckpt, "-f", "lora", "--to", "hf:alice/canary-login", "-w", "ws")
    outputs.append(text)
    assert code == 0, text
    assert len(hub.commits("alice/canary-login")) == 1

    for text in outputs:
        assert CANARY not in text
    written = [p for folder in (root, hub.state.objects) for p in folder.rglob("*") if p.is_file() and p.name != "token"]
    commits = [c for repo in hub.state.repos.values() for c in repo.commits.values()]
    assert commits and not [c for c in commits if CANARY in c["title"] + c["message"]]
    assert any(p.name == "manifest.json" for p in written) and any(p.name == "README.md" for p in written)
    assert (root / "debug.log").stat().st_size > 0 and (root / "events.jsonl").stat().st_size > 0
    for path in written:
        assert CANARY.encode() not in path.read_bytes(), path
