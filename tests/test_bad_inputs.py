"""The bad-input corpus in one batch: every input ends in its expected finding, nothing crashes, the batch
finishes, and every original is still in the blob store."""

from __future__ import annotations

from pathlib import Path

from bad_inputs import build
from conftest import generator

from pipeline.stages import Context, ingest_path, process_outcomes

INPUT_STAGES = ("ingest", "extract")


def test_bad_input_corpus(ctx: Context, tmp_path: Path) -> None:
    corpus = build(tmp_path / "inbox", generator())
    assert len(corpus) >= 40
    results = process_outcomes(ctx, ingest_path(ctx, tmp_path / "inbox"))
    by_source = {Path(r["source"]["path"]).name: r for r in results}
    assert len(results) == len(corpus)
    for name, code in corpus:
        r = next((v for k, v in by_source.items() if k == name or k.startswith(f"{name}--")), None)
        assert r is not None, name
        assert r["status"] not in ("received", "extracted", "failed"), (name, r.get("failure"))
        codes = {f["code"] for f in r["findings"]}
        if code == "-":
            rows = ctx.store.findings(r["case_id"])
            assert not [f for f in rows if f.severity == "error" and f.code.startswith(("FILE_", "MAIL_", "ARCHIVE_"))]
        else:
            assert code in codes, (name, code, sorted(codes))
        for f in ctx.store.case_files(r["case_id"], role=None):  # originals and unpacked documents alike
            assert ctx.store.blobs.path(f.sha256).exists()
    # odd but valid input is read correctly
    fw = next(v for k, v in by_source.items() if k == "fullwidth-digits-and-punctuation")
    assert fw["fields"]["org_code"]["value"].isascii() and fw["fields"]["handler_phone"]["value"].isdigit()
    assert not {"ORG_CODE_FORMAT", "PHONE_NOT_MOBILE", "ID_NUMBER_FORMAT"} & {f["code"] for f in fw["findings"]}
    gbk = next(v for k, v in by_source.items() if k.startswith("eml-name-gbk-raw"))
    assert [d["name"] for d in gbk["documents"]] == ["营业执照.jpg"]
    gb18030 = next(v for k, v in by_source.items() if k.startswith("eml-name-gb18030-raw"))
    assert [d["name"] for d in gb18030["documents"]] == ["㐀扫描件.jpg"]
