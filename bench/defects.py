"""Defect corpus: one case per kind of defect (plus clean cases), routed through validation.

    python bench/defects.py            # prints the table of kind → expected code → route → found codes

Each case is a 厦门 新办 (or 注销) DOCX form with text-layer copies of the licence, ID cards and product
certificate and a fresh OpenSSL SM2 CSR, with exactly one thing wrong.  Every defective case must go to
``review`` with its expected finding; every clean case must be ``issued``.  tests/test_defects.py runs
the same corpus.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import generator  # noqa: E402

from pipeline.config import load_settings  # noqa: E402
from pipeline.stages import Context, ingest_path, process_case  # noqa: E402
from pipeline.validate.registry import RegistryRow, parse_date, read_registry  # noqa: E402


@dataclass
class Case:
    name: str
    expected: str | None  # finding code, None for a clean case
    truth: dict[str, str]
    att: dict[str, str]
    csr: str = "ok"  # ok | rsa | broken | other-cn | none
    register: bool = True
    category: str = "新办"
    cer: Path | None = None


Mutator = Callable[[dict[str, str], dict[str, str]], None]


def _set(key: str, value: str, where: str = "t") -> Mutator:
    def m(t: dict[str, str], a: dict[str, str]) -> None:
        (t if where == "t" else a)[key] = value

    return m


def kinds(gen: object) -> list[tuple[str, str, Mutator, dict[str, object]]]:
    g = gen
    return [
        (
            "bad-uscc-check",
            "ORG_CODE_CHECKSUM",
            lambda t, a: t.__setitem__("org_code", g.corrupt_uscc_check(t["org_code"])),
            {},
        ),  # type: ignore[attr-defined]
        (
            "bad-id-check",
            "ID_NUMBER_CHECKSUM",
            lambda t, a: t.__setitem__(
                "handler_id_number", t["handler_id_number"][:-1] + ("0" if t["handler_id_number"][-1] != "0" else "1")
            ),
            {},
        ),
        ("licence-name-differs", "LICENSE_NAME_MISMATCH", _set("license.name", "厦门别家贸易有限公司", "a"), {}),
        (
            "uscc-differs-from-licence",
            "ORG_CODE_LICENSE_MISMATCH",
            lambda t, a: a.__setitem__("license.org_code", g.make_uscc(random.Random(7), "350200")),
            {},
        ),  # type: ignore[attr-defined]
        ("legal-rep-differs-from-licence", "LEGAL_REP_LICENSE_MISMATCH", _set("license.legal_rep", "欧阳某", "a"), {}),
        ("product-cert-unknown", "PRODUCT_CERT_UNKNOWN", lambda t, a: None, {"register": False}),
        (
            "product-cert-expired",
            "PRODUCT_CERT_EXPIRED",
            lambda t, a: (
                t.__setitem__("crypto_product_cert_no", "GM003312220150007"),
                a.__setitem__("product_cert.number", "GM003312220150007"),
                a.__setitem__("product_cert.valid_until", "2020年04月30日"),
            ),
            {"register": False},
        ),
        (
            "product-not-service-type",
            "PRODUCT_NOT_SERVICE_TYPE",
            lambda t, a: (
                t.__setitem__("crypto_product_cert_no", "GM003312220210811"),
                a.__setitem__("product_cert.number", "GM003312220210811"),
                a.__setitem__("product_cert.valid_until", "2031年05月31日"),
            ),
            {"register": False},
        ),
        (
            "product-copy-differs",
            "PRODUCT_CERT_COPY_MISMATCH",
            _set("product_cert.number", "GM003312220239999", "a"),
            {},
        ),
        ("rsa-csr", "CSR_KEY_NOT_SM2", lambda t, a: None, {"csr": "rsa"}),
        ("csr-broken-signature", "CSR_SIGNATURE_INVALID", lambda t, a: None, {"csr": "broken"}),
        ("csr-cn-differs", "CSR_CN_MISMATCH", lambda t, a: None, {"csr": "other-cn"}),
        ("two-categories", "CATEGORY_MULTIPLE", _set("category_extra", "注销"), {}),
        ("no-category", "CATEGORY_NONE", _set("category", ""), {}),
        ("csr-missing", "MATERIAL_MISSING", lambda t, a: None, {"csr": "none"}),
        ("landline-phone", "PHONE_NOT_MOBILE", _set("handler_phone", "05925653395"), {}),
        (
            "handler-id-differs-from-copy",
            "HANDLER_ID_COPY_MISMATCH",
            lambda t, a: a.__setitem__("id_card.2.number", g.make_id(random.Random(9), "350203")),
            {},
        ),  # type: ignore[attr-defined]
        ("email-invalid", "EMAIL_INVALID", _set("email", "ca@@haichen-tech"), {}),
        ("common-name-differs", "COMMON_NAME_MISMATCH", _set("common_name", "海辰服务器密码机"), {}),
    ]


def _csr(gen: object, folder: Path, subject: str, mode: str) -> None:
    if mode == "none":
        return
    out = folder / "request.csr"
    if mode == "rsa":
        subprocess.run(
            [
                "openssl",
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(folder.parent / f"{folder.name}.key"),
                "-out",
                str(out),
                "-subj",
                f"/C=CN/O={subject}/CN={subject}",
                "-utf8",
            ],
            check=True,
            capture_output=True,
        )
        return
    cn = "另一家公司" if mode == "other-cn" else subject
    gen.make_csr(subject, cn, out)  # type: ignore[attr-defined]
    if mode == "broken":
        from asn1crypto import csr as a_csr
        from asn1crypto import pem

        _, _, der = pem.unarmor(out.read_bytes())
        req = a_csr.CertificationRequest.load(der)
        sig = bytearray(req["signature"].native)
        sig[-3] ^= 0x55
        req["signature"] = bytes(sig)
        out.write_bytes(pem.armor("CERTIFICATE REQUEST", req.dump()))


def write(gen: object, root: Path, case: Case) -> Path:
    folder = root / case.name
    folder.mkdir(parents=True)
    gen.render_form_docx(case.truth, folder / "申请表.docx")  # type: ignore[attr-defined]
    gen.write_attachments_docx(folder, case.att)  # type: ignore[attr-defined]
    _csr(gen, folder, case.truth["applicant_name"], case.csr)
    if case.cer is not None:
        (folder / "old.cer").write_bytes(case.cer.read_bytes())
    return folder


def register(ctx: Context, att: dict[str, str]) -> None:
    ctx.store.import_registry(
        [
            RegistryRow(
                att["product_cert.number"],
                att["product_cert.product"],
                att["product_cert.model"],
                att["product_cert.maker"],
                None,
                parse_date(att["product_cert.valid_until"]),
            )
        ]
    )


def run_corpus(root: Path, ctx: Context, seed: int = 2026) -> list[dict[str, object]]:
    gen = generator()
    ctx.store.import_registry(read_registry(REPO / "samples" / "product-registry.csv"))
    rng = random.Random(seed)
    cases: list[Case] = []
    for i in range(3):
        t = gen.random_truth(rng)
        cases.append(Case(f"clean-{i}", None, t, gen.attachment_truth(rng, t)))
    for name, code, mutate, opts in kinds(gen):
        t = gen.random_truth(rng)
        a = gen.attachment_truth(rng, t)
        mutate(t, a)
        cases.append(Case(name, code, t, a, **opts))  # type: ignore[arg-type]
    rows: list[dict[str, object]] = []
    first_issued: dict[str, object] | None = None
    for case in cases:
        if case.register:
            register(ctx, case.att)
        [o] = ingest_path(ctx, write(gen, root, case))
        r = process_case(ctx, o.case_id)
        rows.append(_row(case, r))
        if case.expected is None and first_issued is None and r["status"] == "issued":
            first_issued = r
    # 注销 whose 待注销序号 differs from the .cer handed in
    if first_issued is not None:
        src = next(c for c in cases if c.expected is None)
        t = dict(src.truth, category="注销", old_cert_serial="0123456789ABCDEF")
        case = Case(
            "revoke-serial-differs",
            "OLD_CERT_SERIAL_MISMATCH",
            t,
            src.att,
            csr="none",
            category="注销",
            cer=Path(str(first_issued["outputs"]["sign_cert"])),
        )  # type: ignore[index]
        [o] = ingest_path(ctx, write(gen, root, case))
        rows.append(_row(case, process_case(ctx, o.case_id)))
    return rows


def _row(case: Case, r: dict[str, object]) -> dict[str, object]:
    codes = [f["code"] for f in r["findings"]]  # type: ignore[index, union-attr]
    ok = (
        (r["status"] == "issued" and not codes)
        if case.expected is None
        else (r["route"] == "review" and case.expected in codes)
    )
    return {
        "case": case.name,
        "expected": case.expected or "-",
        "route": r["route"],
        "status": r["status"],
        "codes": codes,
        "proposal": r.get("proposal"),
        "ok": ok,
    }


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    work = Path(tempfile.mkdtemp(prefix="cert-intake-defects-"))
    ctx = Context(load_settings(work / "home", use_prefect=False))
    rows = run_corpus(work / "cases", ctx)
    print(f"{'case':<32} {'expected':<28} {'route':<7} {'proposal':<8} ok  findings")
    for r in rows:
        print(
            f"{r['case']:<32} {r['expected']:<28} {r['route']!s:<7} {r['proposal']!s:<8} "
            f"{'yes' if r['ok'] else 'NO ':<3} {', '.join(r['codes'])}"
        )  # type: ignore[arg-type]
    bad = [r for r in rows if not r["ok"]]
    defects = sum(r["expected"] != "-" for r in rows)
    print(
        f"\n{len(rows)} cases ({defects} defective kinds, {len(rows) - defects} clean): "
        f"{len(rows) - len(bad)} as expected, {len(bad)} not"
    )
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
