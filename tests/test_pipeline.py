"""The whole slice on the bundled samples, through the plain stage functions (no Prefect)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import copy_case, der_to_pem, openssl_csr, openssl_sm2_key, run

from pipeline.errors import IssuanceRefused
from pipeline.stages import Context, ingest_path, process_case, run_issue


def _process(ctx: Context, path: Path) -> list[dict]:
    return [process_case(ctx, o.case_id) for o in ingest_path(ctx, path)]


@pytest.mark.slow
def test_samples_clean_issued_bad_uscc_reviewed(ctx: Context, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for name in ("xiamen-new-scan", "xiamen-new-docx", "xiamen-new-bad-uscc"):
        copy_case(name, inbox)
    results = {Path(r["source"]["path"]).name: r for r in _process(ctx, inbox)}
    for name in ("xiamen-new-scan", "xiamen-new-docx"):
        r = results[name]
        assert (r["route"], r["status"]) == ("issue", "issued"), r["findings"]
        assert r["findings"] == []
        for key in ("sign_cert", "env_cert", "envelope", "chain"):
            assert Path(r["outputs"][key]).is_absolute() and Path(r["outputs"][key]).exists()
        sign = der_to_pem(Path(r["outputs"]["sign_cert"]), tmp_path / f"{name}.pem")
        issuing = der_to_pem(ctx.settings.ca_dir / "issuing.cer", tmp_path / "issuing.pem")
        v = run(
            [
                "openssl",
                "verify",
                "-vfyopt",
                "distid:1234567812345678",
                "-partial_chain",
                "-CAfile",
                str(issuing),
                str(sign),
            ]
        )
        assert v.returncode == 0, v.stdout + v.stderr
    bad = results["xiamen-new-bad-uscc"]
    assert (bad["route"], bad["status"]) == ("review", "review")
    # the form's code fails its check character, and differs from the (correct) code on the licence copy
    errors = [f for f in bad["findings"] if f["severity"] == "error"]
    assert [f["code"] for f in errors] == ["ORG_CODE_CHECKSUM", "ORG_CODE_LICENSE_MISMATCH"]
    assert {f["field"] for f in errors} == {"org_code"} and bad["outputs"] == {}
    assert bad["proposal"] == "correct"
    # the contract's keys
    assert set(bad) >= {"case_id", "office", "source", "documents", "fields", "findings", "route", "status", "outputs"}


@pytest.mark.slow
def test_no_certificate_without_clean_case(ctx: Context, tmp_path: Path) -> None:
    case_dir = copy_case("xiamen-new-bad-uscc", tmp_path)
    [r] = _process(ctx, case_dir)
    assert r["status"] == "review"
    with pytest.raises(IssuanceRefused):
        run_issue(ctx, r["case_id"])
    assert ctx.store.certificates(r["case_id"]) == []
    assert not (ctx.settings.outputs_dir / r["case_id"]).exists()


def test_docx_case_csr_mismatch_and_rsa_go_to_review(ctx: Context, tmp_path: Path) -> None:
    case_dir = copy_case("xiamen-new-docx", tmp_path)
    key = openssl_sm2_key(tmp_path / "k.pem")
    openssl_csr(key, case_dir / "request.csr", "/C=CN/O=别的公司/CN=别的公司")
    [r] = _process(ctx, case_dir)
    codes = {f["code"] for f in r["findings"]}
    assert {"CSR_CN_MISMATCH", "CSR_O_MISMATCH"} <= codes and r["status"] == "review"

    rsa_dir = tmp_path / "rsa"
    shutil.copytree(case_dir, rsa_dir)
    assert (
        run(
            [
                "openssl",
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(tmp_path / "rsa.key"),
                "-out",
                str(rsa_dir / "request.csr"),
                "-subj",
                "/C=CN/O=x/CN=x",
            ]
        ).returncode
        == 0
    )
    [r2] = _process(ctx, rsa_dir)
    rsa = [f for f in r2["findings"] if f["code"] == "CSR_KEY_NOT_SM2"]
    assert rsa and "2022 年 7 月 1 日" in rsa[0]["message"] and r2["status"] == "review"


def test_csr_signed_with_empty_id_is_a_warning(ctx: Context, tmp_path: Path) -> None:
    case_dir = copy_case("xiamen-new-docx", tmp_path)
    key = openssl_sm2_key(tmp_path / "k.pem")
    from conftest import truth

    name = truth("xiamen-new-docx")["applicant_name"]
    openssl_csr(key, case_dir / "request.csr", f"/C=CN/O={name}/CN={name}", distid=None)
    [r] = _process(ctx, case_dir)
    assert [f["code"] for f in r["findings"]] == ["CSR_SIGNATURE_EMPTY_ID"]
    assert r["status"] == "review"


def test_duplicate_submission_recognised(ctx: Context, tmp_path: Path) -> None:
    case_dir = copy_case("xiamen-new-docx", tmp_path)
    [first] = _process(ctx, case_dir)
    [second] = _process(ctx, case_dir)
    assert first["status"] == "issued"
    assert second["status"] == "duplicate" and second["duplicate_of"] == first["case_id"]
    assert [f["code"] for f in second["findings"]] == ["DUPLICATE_SUBMISSION"]
    assert len(ctx.store.certificates()) == 2  # sign + env of the first case only


def test_bad_case_does_not_stop_batch_and_originals_kept(ctx: Context, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    copy_case("xiamen-new-docx", inbox)
    junk = inbox / "junk"
    junk.mkdir()
    (junk / "empty.pdf").write_bytes(b"")
    (junk / "申请表.docx").write_bytes(b"PK\x03\x04 not a docx")
    results = {Path(r["source"]["path"]).name: r for r in _process(ctx, inbox)}
    assert results["xiamen-new-docx"]["status"] == "issued"
    j = results["junk"]
    assert j["status"] == "review"
    codes = {f["code"] for f in j["findings"]}
    assert "FILE_EMPTY" in codes and "DOCX_CORRUPT" in codes
    for f in ctx.store.case_files(j["case_id"]):
        assert ctx.store.blobs.path(f.sha256).exists()


def test_failure_inside_a_stage_marks_case_failed(ctx: Context, tmp_path: Path, monkeypatch) -> None:
    import pipeline.stages as stages

    case_dir = copy_case("xiamen-new-docx", tmp_path)
    [o] = ingest_path(ctx, case_dir)

    def crash(*_a, **_k):
        raise RuntimeError("issuer crashed mid-way")

    monkeypatch.setattr(stages.LocalIssuer, "issue", crash)
    r = process_case(ctx, o.case_id)
    assert r["status"] == "failed" and "issuer crashed" in r["failure"]
    monkeypatch.undo()
    # a re-run picks the case up where it stopped and issues exactly once
    r2 = process_case(ctx, o.case_id)
    assert r2["status"] == "issued"
    assert len(ctx.store.certificates(o.case_id)) == 2


def test_revalidation_after_a_correction_is_not_held_back_by_old_findings(ctx: Context, tmp_path: Path) -> None:
    from pipeline.errors import IssuanceRefused
    from pipeline.models import Field
    from pipeline.review.actions import Actor, approve, verify
    from pipeline.stages import run_issue, run_validate

    # the wrong check digit sends the case to review; the reviewer types the licence's code: clean again
    [o2] = ingest_path(ctx, copy_case("xiamen-new-bad-uscc", tmp_path / "second"))
    process_case(ctx, o2.case_id)
    assert ctx.store.get_case(o2.case_id).status == "review"
    good = ctx.store.fields(o2.case_id)["license.org_code"].value
    ctx.store.replace_fields(o2.case_id, {"org_code": Field(good, 1.0)}, source="reviewer")
    ctx.store.transition(o2.case_id, "validated", actor="reviewer")
    # clean now, but a person changed it: it waits for an approver instead of issuing
    assert run_validate(ctx, o2.case_id) == "review"
    assert [f.code for f in ctx.store.findings(o2.case_id) if f.severity != "info"] == []
    with pytest.raises(IssuanceRefused):
        run_issue(ctx, o2.case_id)
    verify(ctx, Actor("reg", "registrar"), o2.case_id)
    approve(ctx, Actor("app", "approver"), o2.case_id)
    run_issue(ctx, o2.case_id)
    assert ctx.store.get_case(o2.case_id).status == "issued"
    # a re-extraction keeps the reviewer's correction
    ctx.store.replace_fields(o2.case_id, {"org_code": Field("wrong", 0.9)})
    assert ctx.store.fields(o2.case_id)["org_code"].value == good
