"""SM2 adapter: signatures, nonces from secrets, encryption with C3 check, interop with OpenSSL 3."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from conftest import load_openssl_private_key, openssl_sm2_decrypt, openssl_sm2_key, openssl_sm2_verify, run

from pipeline.issue.keystore import public_key_info
from pipeline.pki import sm2


def test_sign_verify_roundtrip_and_tamper() -> None:
    key = sm2.generate_private_key()
    sig = sm2.sign(key, b"tbs bytes")
    assert sm2.verify(key.public_key, b"tbs bytes", sig)
    assert not sm2.verify(key.public_key, b"tbs bytez", sig)
    assert not sm2.verify(sm2.generate_private_key().public_key, b"tbs bytes", sig)
    assert not sm2.verify(key.public_key, b"tbs bytes", sig, user_id=b"")  # Z binds the user ID


def test_two_signatures_of_same_data_differ() -> None:
    key = sm2.generate_private_key()
    assert sm2.sign(key, b"same") != sm2.sign(key, b"same")


def test_nonce_source_is_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sm2.nonce_source is secrets.randbelow
    calls: list[int] = []

    def spy(n: int) -> int:
        calls.append(n)
        return secrets.randbelow(n)

    monkeypatch.setattr(sm2, "nonce_source", spy)
    key = sm2.PrivateKey(12345678901234567890)
    sm2.sign(key, b"x")
    sm2.encrypt(key.public_key, b"y" * 16)
    assert len(calls) == 2 and all(c == sm2.N - 1 for c in calls)


def test_gmssl_random_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import gmssl.func

    def boom(*_a: object) -> str:
        raise AssertionError("gmssl's random.choice nonce was used")

    monkeypatch.setattr(gmssl.func, "random_hex", boom)
    key = sm2.generate_private_key()
    sig = sm2.sign(key, b"m")
    ct = sm2.encrypt(key.public_key, b"0123456789abcdef")
    assert sm2.verify(key.public_key, b"m", sig)
    assert sm2.decrypt(key, ct) == b"0123456789abcdef"


def test_decrypt_rejects_tampered_ciphertext() -> None:
    key = sm2.generate_private_key()
    ct = sm2.encrypt(key.public_key, b"k" * 16)
    bad = sm2.Ciphertext(ct.x1, ct.y1, ct.c3, bytes([ct.c2[0] ^ 1]) + ct.c2[1:])
    with pytest.raises(sm2.SM2Error):
        sm2.decrypt(key, bad)


def test_point_validation() -> None:
    pub = sm2.generate_private_key().public_key
    assert sm2.PublicKey.from_bytes(pub.uncompressed) == pub
    compressed = bytes([2 + (pub.y & 1)]) + pub.x.to_bytes(32, "big")
    assert sm2.PublicKey.from_bytes(compressed) == pub
    with pytest.raises(sm2.SM2Error):
        sm2.PublicKey.from_bytes(b"\x04" + pub.x.to_bytes(32, "big") + (pub.y + 1).to_bytes(32, "big"))


def test_openssl_signature_verifies_here(tmp_path: Path) -> None:
    key_path = openssl_sm2_key(tmp_path / "k.pem")
    msg = tmp_path / "msg.bin"
    msg.write_bytes(b"signed by openssl")
    sig = tmp_path / "sig.der"
    r = run(
        [
            "openssl",
            "dgst",
            "-sm3",
            "-sign",
            str(key_path),
            "-sigopt",
            "distid:1234567812345678",
            "-out",
            str(sig),
            str(msg),
        ]
    )
    assert r.returncode == 0, r.stderr
    key = load_openssl_private_key(key_path)
    assert sm2.verify(key.public_key, msg.read_bytes(), sig.read_bytes())


def test_our_signature_verifies_in_openssl(tmp_path: Path) -> None:
    from asn1crypto import pem

    key = sm2.generate_private_key()
    pub_pem = tmp_path / "pub.pem"
    pub_pem.write_bytes(pem.armor("PUBLIC KEY", public_key_info(key.public_key).dump()))
    msg = b"signed by cert-intake"
    assert openssl_sm2_verify(pub_pem, sm2.sign(key, msg), msg, tmp_path)
    assert not openssl_sm2_verify(pub_pem, sm2.sign(key, msg, user_id=b""), msg, tmp_path)


def test_openssl_decrypts_our_sm2_cipher(tmp_path: Path) -> None:
    key_path = openssl_sm2_key(tmp_path / "k.pem")
    key = load_openssl_private_key(key_path)
    secret = secrets.token_bytes(16)
    assert openssl_sm2_decrypt(key_path, sm2.encrypt(key.public_key, secret).to_der(), tmp_path) == secret


def test_sm4_ecb_known_answer() -> None:
    # GB/T 32907-2016 Appendix A example 1
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert sm2.sm4_ecb_encrypt(key, key) == bytes.fromhex("681edf34d206965e86b3e94f536e4246")
    assert sm2.sm4_ecb_decrypt(key, bytes.fromhex("681edf34d206965e86b3e94f536e4246")) == key


def test_public_keys_whose_x_starts_with_04_verify() -> None:
    """Regression (seen in CI): gmssl does public_key.lstrip("04") when the hex starts with "04", which also
    eats the first digits of an X coordinate that begins with 0x04… (1 key in 256) and breaks verify."""
    while True:
        key = sm2.generate_private_key()
        if key.public_key.hex_xy.startswith("04"):
            break
    sig = sm2.sign(key, b"tbs")
    assert sm2.verify(key.public_key, b"tbs", sig)
    assert sm2.decrypt(key, sm2.encrypt(key.public_key, b"k" * 16)) == b"k" * 16
