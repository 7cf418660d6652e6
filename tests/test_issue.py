"""Local CA and issuance, checked with OpenSSL 3 as an independent implementation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import (
    ISSUE_PROFILE,
    der_to_pem,
    load_openssl_private_key,
    openssl_csr,
    openssl_sm2_decrypt,
    openssl_sm2_key,
    openssl_sm2_verify,
    run,
    verify_issued_chain,
)

from pipeline.errors import CaExists
from pipeline.issue import IssueRequest, LocalIssuer, envelope, sm2
from pipeline.issue.ca import LocalCA
from pipeline.issue.x509build import RevokedEntry, build_crl, certificate_public_key, x509_time
from pipeline.pki.der import parse_certificate
from pipeline.store import Store

PROFILE = ISSUE_PROFILE
ORG = "91350200MA2YHR4E5X"  # placeholder; not validated at this layer


def test_ca_init_refuses_overwrite_and_protects_keys(tmp_path: Path) -> None:
    ca = LocalCA.init(tmp_path / "ca", password="correct horse")
    for name in ("root.key", "issuing.key"):
        mode = stat.S_IMODE(os.stat(tmp_path / "ca" / name).st_mode)
        assert mode == 0o600
        assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "ca" / name).read_bytes()
    with pytest.raises(CaExists):
        LocalCA.init(tmp_path / "ca", password="x")
    # OpenSSL reads the PKCS#8 key with the password and not without it
    good = run(
        ["openssl", "pkey", "-in", str(tmp_path / "ca" / "issuing.key"), "-passin", "pass:correct horse", "-pubout"]
    )
    assert good.returncode == 0, good.stderr
    bad = run(["openssl", "pkey", "-in", str(tmp_path / "ca" / "issuing.key"), "-passin", "pass:wrong", "-pubout"])
    assert bad.returncode != 0
    assert LocalCA.load(tmp_path / "ca", password="correct horse").issuing_key.public_key == ca.issuing_public_key


def _issue(tmp_path: Path, subject_name: str = "厦门测试科技有限公司") -> tuple[LocalIssuer, Store, Path, Path]:
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "blobs")
    ca = LocalCA.init(tmp_path / "ca")
    key = openssl_sm2_key(tmp_path / "applicant.pem")
    csr = openssl_csr(key, tmp_path / "r.csr", f"/C=CN/O={subject_name}/CN={subject_name}")
    case = store.create_case(
        office="xiamen-eport", source_kind="folder", source_path="x", files=[("r.csr", csr.read_bytes())]
    )
    issuer = LocalIssuer(store, ca, tmp_path / "out")
    issuer.issue(IssueRequest(case.id, subject_name, subject_name, ORG, csr.read_bytes(), PROFILE))
    return issuer, store, tmp_path / "out" / case.id, key


def test_issued_certificates_verify_with_openssl(tmp_path: Path) -> None:
    issuer, _store, out, _key = _issue(tmp_path)
    verify_issued_chain(issuer.ca.root_path, issuer.ca.issuing_path, out, tmp_path)


def test_certificate_contents(tmp_path: Path) -> None:
    issuer, store, out, _key = _issue(tmp_path)
    sign_txt = run(
        [
            "openssl",
            "x509",
            "-in",
            str(der_to_pem(out / "sign.cer", tmp_path / "s.pem")),
            "-noout",
            "-text",
            "-nameopt",
            "utf8",
        ]
    ).stdout
    env_txt = run(
        [
            "openssl",
            "x509",
            "-in",
            str(der_to_pem(out / "env.cer", tmp_path / "e.pem")),
            "-noout",
            "-text",
            "-nameopt",
            "utf8",
        ]
    ).stdout
    assert "Digital Signature, Non Repudiation" in sign_txt
    assert "Key Encipherment, Data Encipherment" in env_txt
    for txt in (sign_txt, env_txt):
        assert "SM2-with-SM3" in txt and "ASN1 OID: SM2" in txt
        assert "O=厦门测试科技有限公司" in txt and "CN=厦门测试科技有限公司" in txt and f"serialNumber={ORG}" in txt
        # no BasicConstraints on end-entity certificates (GmSSL 3.3 refuses the empty SEQUENCE); not a CA
        assert "Basic Constraints" not in txt and "CA:TRUE" not in txt
        assert "Subject Key Identifier" in txt and "Authority Key Identifier" in txt
        assert "http://crl.example/issuing.crl" in txt
    cert = parse_certificate((out / "sign.cer").read_bytes())
    assert cert.not_after and cert.not_after[:4] == str(int(cert.not_before[:4]) + 10)
    serials = {c.serial for c in store.certificates()}
    assert len(serials) == 2 and all(len(s) <= 40 for s in serials)
    issuing = run(["openssl", "x509", "-inform", "DER", "-in", str(issuer.ca.issuing_path), "-noout", "-text"])
    assert "CA:TRUE" in issuing.stdout and "Basic Constraints: critical" in issuing.stdout


def test_envelope_opens_with_applicant_signing_key(tmp_path: Path) -> None:
    _issuer, _store, out, key_path = _issue(tmp_path)
    applicant = load_openssl_private_key(key_path)
    priv, pub = envelope.open_envelope((out / "envprivatekey").read_bytes(), applicant)
    env_cert = parse_certificate((out / "env.cer").read_bytes()).certificate
    assert env_cert is not None
    assert certificate_public_key(env_cert) == pub == priv.public_key
    # the inner SM2Cipher is standard: OpenSSL decrypts it to the same SM4 key we recover
    env = envelope.SM2EnvelopedKey.load((out / "envprivatekey").read_bytes())
    sym = sm2.decrypt(applicant, sm2.Ciphertext.from_der(env["sym_encrypted_key"].dump()))
    assert openssl_sm2_decrypt(key_path, env["sym_encrypted_key"].dump(), tmp_path) == sym and len(sym) == 16
    # someone else's key cannot open it
    with pytest.raises(sm2.SM2Error):
        envelope.open_envelope((out / "envprivatekey").read_bytes(), sm2.generate_private_key())


def test_issue_is_idempotent_per_case(tmp_path: Path) -> None:
    issuer, store, out, _ = _issue(tmp_path)
    case_id = out.name
    first = (out / "sign.cer").read_bytes()
    again = issuer.issue(
        IssueRequest(
            case_id, "厦门测试科技有限公司", "厦门测试科技有限公司", ORG, (tmp_path / "r.csr").read_bytes(), PROFILE
        )
    )
    assert (out / "sign.cer").read_bytes() == first
    assert len(store.certificates(case_id)) == 2
    assert again.serial == parse_certificate(first).serial_hex


def test_crl_signature_verifies_with_openssl(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from asn1crypto import pem

    from pipeline.issue.keystore import public_key_info

    ca = LocalCA.init(tmp_path / "ca")
    now = datetime.now(UTC)
    crl = build_crl(
        ca.issuer_name,
        ca.issuing_key,
        ca.issuing_key_id,
        7,
        now,
        now + timedelta(days=7),
        [RevokedEntry(0x1234ABCD, now, "key_compromise")],
    )
    (tmp_path / "ca.crl").write_bytes(crl.dump())
    listing = run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "ca.crl"), "-noout", "-text"]).stdout
    assert "1234ABCD" in listing and "Key Compromise" in listing and "X509v3 CRL Number" in listing
    # `openssl crl -verify` has no -vfyopt in OpenSSL 3.0; verify the SM2 signature over TBSCertList with dgst
    (tmp_path / "pub.pem").write_bytes(pem.armor("PUBLIC KEY", public_key_info(ca.issuing_public_key).dump()))
    assert openssl_sm2_verify(tmp_path / "pub.pem", crl["signature"].native, crl["tbs_cert_list"].dump(), tmp_path)


def test_time_encoding_switches_in_2050() -> None:
    from datetime import UTC, datetime

    assert x509_time(datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)).name == "utc_time"
    assert x509_time(datetime(2050, 1, 1, tzinfo=UTC)).name == "general_time"
