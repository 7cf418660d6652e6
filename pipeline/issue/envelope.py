"""GM/T 0009 SM2EnvelopedKey: the CA-generated encryption key pair, sealed to the signing public key.

    SM2EnvelopedKey ::= SEQUENCE {
        symAlgID               AlgorithmIdentifier,  -- SM4-ECB 1.2.156.10197.1.104.1, NULL parameters
        symEncryptedKey        SM2Cipher,            -- the SM4 key, SM2-encrypted to the signing key (C1C3C2)
        Sm2PublicKey           BIT STRING,           -- 04 || X || Y of the encryption key
        Sm2EncryptedPrivateKey BIT STRING }          -- d (32 bytes) under SM4-ECB, no padding

On parsing, 64-byte zero-prefixed plaintexts (SKF layout) and the bare SM4 OID are accepted too.
"""

from __future__ import annotations

import secrets

from asn1crypto import core, x509

from pipeline.pki import sm2


class AlgorithmIdentifier(core.Sequence):
    _fields = [  # noqa: RUF012
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class SM2EnvelopedKey(core.Sequence):
    _fields = [  # noqa: RUF012
        ("sym_alg_id", AlgorithmIdentifier),
        ("sym_encrypted_key", sm2.SM2Cipher),
        ("sm2_public_key", core.OctetBitString),
        ("sm2_encrypted_private_key", core.OctetBitString),
    ]


def seal(enc_key: sm2.PrivateKey, recipient: sm2.PublicKey) -> bytes:
    """DER of an SM2EnvelopedKey carrying ``enc_key`` for the holder of ``recipient``'s private key."""
    sym = secrets.token_bytes(16)
    wrapped = sm2.encrypt(recipient, sym)
    env = SM2EnvelopedKey(
        {
            "sym_alg_id": AlgorithmIdentifier({"algorithm": sm2.OID_SM4_ECB, "parameters": core.Null()}),
            "sym_encrypted_key": sm2.SM2Cipher.load(wrapped.to_der()),
            "sm2_public_key": enc_key.public_key.uncompressed,
            "sm2_encrypted_private_key": sm2.sm4_ecb_encrypt(sym, enc_key.to_bytes()),
        }
    )
    return bytes(env.dump())


def open_envelope(der: bytes, recipient_key: sm2.PrivateKey) -> tuple[sm2.PrivateKey, sm2.PublicKey]:
    """Recover the encryption key pair (the applicant's side; used by tests and by support staff tools)."""
    try:
        env = SM2EnvelopedKey.load(der, strict=True)
        alg = env["sym_alg_id"]["algorithm"].dotted
        cipher = sm2.Ciphertext.from_der(env["sym_encrypted_key"].dump())
        pub_bytes = env["sm2_public_key"].native
        enc_priv = env["sm2_encrypted_private_key"].native
    except Exception as exc:
        raise sm2.SM2Error(f"malformed SM2EnvelopedKey: {exc}") from exc
    if alg not in (sm2.OID_SM4_ECB, sm2.OID_SM4):
        raise sm2.SM2Error(f"unsupported symmetric algorithm {alg}")
    sym = sm2.decrypt(recipient_key, cipher)
    plain = sm2.sm4_ecb_decrypt(sym, bytes(enc_priv))
    if len(plain) == 64 and not any(plain[:32]):
        plain = plain[32:]
    if len(plain) != 32:
        raise sm2.SM2Error(f"unexpected private key length {len(plain)}")
    priv = sm2.PrivateKey(int.from_bytes(plain, "big"))
    pub = sm2.PublicKey.from_bytes(bytes(pub_bytes))
    if priv.public_key != pub:
        raise sm2.SM2Error("envelope private key does not match its public key")
    return priv, pub


class CertificateSet(core.SetOf):
    _child_spec = x509.Certificate


class CSRResponse(core.Sequence):
    """GM/T 0092-2020 §8: signCertificate, [0] encryptedPrivateKey, [1] encryptCertificate."""

    _fields = [  # noqa: RUF012
        ("sign_certificate", CertificateSet),
        ("encrypted_private_key", SM2EnvelopedKey, {"explicit": 0, "optional": True}),
        ("encrypt_certificate", CertificateSet, {"explicit": 1, "optional": True}),
    ]


def csr_response(sign_cert: x509.Certificate, sealed: bytes, env_cert: x509.Certificate) -> bytes:
    resp = CSRResponse(
        {
            "sign_certificate": [sign_cert],
            "encrypted_private_key": SM2EnvelopedKey.load(sealed),
            "encrypt_certificate": [env_cert],
        }
    )
    return bytes(resp.dump())
