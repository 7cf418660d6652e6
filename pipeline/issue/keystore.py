"""SM2 private keys at rest: PKCS#8 EncryptedPrivateKeyInfo (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC).

The format is the standard one, so ``openssl pkey -in ca.key -passin env:…`` reads our CA keys.
Files are written 0600 through a temporary name and an atomic rename.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from asn1crypto import algos, keys, pem
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers import algorithms as c_alg
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from pipeline.errors import CaError
from pipeline.fsutil import atomic_write
from pipeline.pki import sm2

PBKDF2_ITERATIONS = 200_000


def public_key_info(pub: sm2.PublicKey) -> keys.PublicKeyInfo:
    return keys.PublicKeyInfo(
        {
            "algorithm": keys.PublicKeyAlgorithm(
                {
                    "algorithm": sm2.OID_EC_PUBLIC_KEY,
                    "parameters": keys.ECDomainParameters(name="named", value=sm2.OID_SM2),
                }
            ),
            "public_key": pub.uncompressed,
        }
    )


def private_key_info(key: sm2.PrivateKey) -> keys.PrivateKeyInfo:
    ec = keys.ECPrivateKey(
        {
            "version": "ecPrivkeyVer1",
            "private_key": key.d,
            "public_key": key.public_key.uncompressed,
        }
    )
    return keys.PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": keys.PrivateKeyAlgorithm(
                {
                    "algorithm": sm2.OID_EC_PUBLIC_KEY,
                    "parameters": keys.ECDomainParameters(name="named", value=sm2.OID_SM2),
                }
            ),
            "private_key": ec,
        }
    )


def _kdf(password: bytes, salt: bytes, iterations: int) -> bytes:
    return PBKDF2HMAC(algorithm=SHA256(), length=32, salt=salt, iterations=iterations).derive(password)


def encrypt_private_key(key: sm2.PrivateKey, password: str) -> bytes:
    """PEM ``ENCRYPTED PRIVATE KEY``."""
    if not password:
        raise CaError("a non-empty password is required to store a private key")
    salt, iv = secrets.token_bytes(16), secrets.token_bytes(16)
    plain = private_key_info(key).dump()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    enc = Cipher(c_alg.AES(_kdf(password.encode(), salt, PBKDF2_ITERATIONS)), modes.CBC(iv)).encryptor()
    blob = enc.update(padded) + enc.finalize()
    info = keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": algos.EncryptionAlgorithm(
                {
                    "algorithm": "pbes2",
                    "parameters": algos.Pbes2Params(
                        {
                            "key_derivation_func": algos.KdfAlgorithm(
                                {
                                    "algorithm": "pbkdf2",
                                    "parameters": algos.Pbkdf2Params(
                                        {
                                            "salt": algos.Pbkdf2Salt(name="specified", value=salt),
                                            "iteration_count": PBKDF2_ITERATIONS,
                                            "prf": algos.HmacAlgorithm({"algorithm": "sha256"}),
                                        }
                                    ),
                                }
                            ),
                            "encryption_scheme": algos.EncryptionAlgorithm(
                                {"algorithm": "aes256_cbc", "parameters": iv}
                            ),
                        }
                    ),
                }
            ),
            "encrypted_data": blob,
        }
    )
    return bytes(pem.armor("ENCRYPTED PRIVATE KEY", info.dump()))


def decrypt_private_key(data: bytes, password: str) -> sm2.PrivateKey:
    try:
        _, _, der = pem.unarmor(data)
        info = keys.EncryptedPrivateKeyInfo.load(der)
        alg = info["encryption_algorithm"]
        params = alg["parameters"]
        kdf = params["key_derivation_func"]["parameters"]
        salt = kdf["salt"].native
        iterations = kdf["iteration_count"].native
        iv = params["encryption_scheme"]["parameters"].native
        dec = Cipher(c_alg.AES(_kdf(password.encode(), salt, iterations)), modes.CBC(iv)).decryptor()
        padded = dec.update(info["encrypted_data"].native) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
        pki = keys.PrivateKeyInfo.load(plain)
        d = int(pki["private_key"].parsed["private_key"].native)
    except Exception as exc:
        raise CaError("cannot decrypt the CA private key (wrong password or damaged file)") from exc
    return sm2.PrivateKey(d)


def write_secret_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 (temporary file, fsync, rename)."""
    atomic_write(path, data, mode=0o600)
