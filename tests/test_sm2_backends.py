"""The two SM2 signing backends (pipeline.pki.sm2): gmssl, and Tongsuo (tongsuopy) when selected.

Each verifies the other's signatures — both sign SM3(Z‖message) with the GM/T 0009 default ID — and a
certificate chain signed through Tongsuo verifies with OpenSSL 3 exactly as the gmssl one does
(tests/test_issue.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import x509
from conftest import ISSUE_PROFILE, openssl_csr, openssl_sm2_key, openssl_sm2_verify, verify_issued_chain

from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.issue import IssueRequest, LocalIssuer
from pipeline.issue.ca import LocalCA
from pipeline.issue.keystore import public_key_info
from pipeline.issue.x509build import certificate_public_key, verify_certificate_signature
from pipeline.pki import sm2
from pipeline.store import Store

PROFILE = ISSUE_PROFILE


@pytest.fixture
def backend() -> Iterator[None]:
    """Leave the process on the backend it was on (a selection is process-wide)."""
    before = sm2.backend()
    yield
    sm2.use_backend(before)


def _signed_by(name: str, key: sm2.PrivateKey, message: bytes) -> bytes:
    sm2.use_backend(name)
    return sm2.sign(key, message)


def _verifies_on(name: str, pub: sm2.PublicKey, message: bytes, signature: bytes) -> bool:
    sm2.use_backend(name)
    return sm2.verify(pub, message, signature)


@pytest.mark.parametrize(("signer", "verifier"), [("tongsuo", "gmssl"), ("gmssl", "tongsuo"), ("tongsuo", "tongsuo")])
def test_each_backend_verifies_the_others_signatures(backend: None, signer: str, verifier: str) -> None:
    key = sm2.generate_private_key()
    msg = "数字证书申请表".encode()
    sig = _signed_by(signer, key, msg)
    assert _verifies_on(verifier, key.public_key, msg, sig)
    assert not _verifies_on(verifier, key.public_key, msg + b"!", sig)
    assert not _verifies_on(verifier, sm2.generate_private_key().public_key, msg, sig)
    # the Z value is in: the same signature does not verify as a signature over SM3(message) alone
    sm2.use_backend("gmssl")
    assert not sm2.verify(key.public_key, msg, sig, user_id=b"")


def test_tongsuo_signatures_use_fresh_nonces_and_verify_in_openssl(backend: None, tmp_path: Path) -> None:
    from asn1crypto import pem

    key = sm2.generate_private_key()
    pub_pem = tmp_path / "pub.pem"
    pub_pem.write_bytes(pem.armor("PUBLIC KEY", public_key_info(key.public_key).dump()))
    msg = b"signed by cert-intake through Tongsuo"
    first, second = _signed_by("tongsuo", key, msg), sm2.sign(key, msg)
    assert first != second
    assert openssl_sm2_verify(pub_pem, first, msg, tmp_path)
    # another user ID is not Tongsuo's to sign: it goes through gmssl, still SM3(Z(id)‖message)
    other = sm2.sign(key, msg, user_id=b"alice@example")
    assert sm2.verify(key.public_key, msg, other, user_id=b"alice@example")
    assert not sm2.verify(key.public_key, msg, other)


def test_junk_signatures_do_not_verify_on_tongsuo(backend: None) -> None:
    sm2.use_backend("tongsuo")
    key = sm2.generate_private_key()
    sig = sm2.sign(key, b"m")
    for junk in (b"", b"\x30\x00", sig[:-1], sig + b"\x00", sm2.encode_signature(0, 1), sm2.encode_signature(sm2.N, 1)):
        assert not sm2.verify(key.public_key, b"m", junk)


def test_certificates_signed_through_tongsuo_verify_with_openssl(backend: None, tmp_path: Path) -> None:
    sm2.use_backend("tongsuo")
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "blobs")
    ca = LocalCA.init(tmp_path / "ca")  # root and issuing CA certificates, signed through Tongsuo too
    key = openssl_sm2_key(tmp_path / "applicant.pem")
    csr = openssl_csr(key, tmp_path / "r.csr", "/C=CN/O=厦门测试科技有限公司/CN=厦门测试科技有限公司")
    case = store.create_case(
        office="xiamen-eport", source_kind="folder", source_path="x", files=[("r.csr", csr.read_bytes())]
    )
    issuer = LocalIssuer(store, ca, tmp_path / "out")
    name = "厦门测试科技有限公司"
    issuer.issue(IssueRequest(case.id, name, name, "91350200MA2YHR4E5X", csr.read_bytes(), PROFILE))
    out = tmp_path / "out" / case.id
    verify_issued_chain(ca.root_path, ca.issuing_path, out, tmp_path)
    # and gmssl verifies what Tongsuo signed
    sm2.use_backend("gmssl")
    issuing_cert = x509.Certificate.load(ca.issuing_path.read_bytes())
    leaf = x509.Certificate.load((out / "sign.cer").read_bytes())
    assert verify_certificate_signature(leaf, certificate_public_key(issuing_cert))


def test_the_setting_selects_the_backend(backend: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(tmp_path / "a").sm2_backend == "gmssl" and sm2.backend() == "gmssl"
    monkeypatch.setenv("CERT_INTAKE_SM2_BACKEND", "tongsuo")
    assert load_settings(tmp_path / "b").sm2_backend == "tongsuo" and sm2.backend() == "tongsuo"
    monkeypatch.setenv("CERT_INTAKE_SM2_BACKEND", "openssl")
    with pytest.raises(ConfigError, match="sm2_backend"):
        load_settings(tmp_path / "c")
