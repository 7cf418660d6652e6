"""The CLI as a user runs it: `process --json` through Prefect (ephemeral), `demo`, `ca init`, `cases`."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, child_env, copy_case, run
from rich.cells import cell_len

from pipeline.config import REPO_ROOT

CLI = [sys.executable, "-m", "pipeline.cli"]


def _env(home: Path) -> dict[str, str]:
    env = child_env()
    env["CERT_INTAKE_HOME"] = str(home)
    return env


@pytest.mark.slow
def test_process_json_through_prefect(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    copy_case("xiamen-new-docx", inbox)
    copy_case("xiamen-new-bad-uscc", inbox)
    broken = inbox / "broken"
    broken.mkdir()
    (broken / "scan.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    home = tmp_path / "home"
    imp = run([*CLI, "registry", "import", str(SAMPLES.parent / "product-registry.csv")], env=_env(home))
    assert imp.returncode == 0 and "imported 5" in imp.stdout, imp.stderr
    r = run([*CLI, "process", str(inbox), "--json"], env=_env(home), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [json.loads(line) for line in r.stdout.splitlines()]  # stdout is pure JSON lines
    by_name = {Path(d["source"]["path"]).name: d for d in lines}
    assert set(by_name) == {"xiamen-new-docx", "xiamen-new-bad-uscc", "broken"}
    assert by_name["xiamen-new-docx"]["status"] == "issued"
    assert by_name["xiamen-new-docx"]["outputs"]["serial"]
    assert by_name["xiamen-new-bad-uscc"]["route"] == "review"
    assert any(f["code"] == "IMAGE_CORRUPT" for f in by_name["broken"]["findings"])
    assert (home / "prefect").is_dir()  # ran through Prefect with its own PREFECT_HOME
    listing = run([*CLI, "cases", "list"], env=_env(home))
    assert listing.returncode == 0 and listing.stdout.count("\n") == 3
    show = run([*CLI, "cases", "show", by_name["xiamen-new-docx"]["case_id"]], env=_env(home))
    data = json.loads(show.stdout)
    assert [a["to"] for a in data["audit"]] == ["received", "extracted", "validated", "issuing", "issued"]


def test_ca_init_refuses_to_overwrite(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = run([*CLI, "--home", str(home), "ca", "init"])
    assert first.returncode == 0 and "CA created" in first.stdout
    before = (home / "ca" / "issuing.key").read_bytes()
    second = run([*CLI, "--home", str(home), "ca", "init"])
    assert second.returncode != 0 and "refusing to overwrite" in second.stderr
    assert (home / "ca" / "issuing.key").read_bytes() == before


@pytest.mark.slow
def test_demo_plain_loop(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    # the shipped office profiles (the suite's own accept typed forms): the DOCX form waits for a reviewer
    env = {**os.environ, "CERT_INTAKE_FORMS_DIR": str(REPO_ROOT / "forms"), "COLUMNS": "80"}
    r = run([*CLI, "--home", str(home), "demo", "--no-prefect"], timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(re.findall(r"\sissued\s", r.stdout)) == 1, r.stdout
    # an 80-column terminal: every line fits, a category says what it does, outputs are one folder per case
    assert max(cell_len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    assert "新办（签发" in r.stdout and "sign.cer" not in r.stdout, r.stdout
    issued = next(p for p in (home / "outputs").iterdir() if p.is_dir())
    assert issued.name[:12] in r.stdout, r.stdout
    assert "ORG_CODE_CHECKSUM" in r.stdout and "FORM_NOT_SEALED" in r.stdout, r.stdout
    assert len([p for p in (home / "outputs").iterdir() if p.is_dir()]) == 1
    assert len(list((home / "outputs").glob("*.zip"))) == 1
    assert (home / "ledger" / "受理登记表.xlsx").exists()
    assert SAMPLES.is_dir()
