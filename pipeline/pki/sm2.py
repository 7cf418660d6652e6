"""SM2 / SM3 / SM4 behind one adapter over gmssl, with Tongsuo as an optional signing backend.

gmssl draws signature and encryption nonces from ``random.choice`` (not a CSPRNG); a predictable
nonce leaks the private key.  Every nonce here comes from :mod:`secrets` and is passed in
explicitly; encryption is re-implemented on gmssl's point arithmetic for the same reason, and
decryption checks C3 (gmssl computes it but never compares it).

Signing and verifying with the GM/T 0009 default ID can run on Tongsuo instead (``tongsuopy``, the
``[tongsuo]`` extra; :func:`use_backend`, chosen by the ``sm2_backend`` setting): native code, its
nonces from OpenSSL's CSPRNG, the same SM2 over SM3(Z‖message) — each backend verifies the other's
signatures and OpenSSL 3 verifies both.  Another user ID, encryption and SM4 stay on gmssl.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from asn1crypto import algos, core, keys
from gmssl import sm2 as _gm_sm2
from gmssl import sm4 as _gm_sm4

DEFAULT_ID = b"1234567812345678"

_P = int(_gm_sm2.default_ecc_table["p"], 16)
_A = int(_gm_sm2.default_ecc_table["a"], 16)
_B = int(_gm_sm2.default_ecc_table["b"], 16)
N = int(_gm_sm2.default_ecc_table["n"], 16)
_G = _gm_sm2.default_ecc_table["g"]

OID_SM2 = "1.2.156.10197.1.301"
OID_SM2_SM3 = "1.2.156.10197.1.501"
OID_SM4_ECB = "1.2.156.10197.1.104.1"
OID_SM4 = "1.2.156.10197.1.104"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"

if OID_SM2 not in keys.NamedCurve._map:  # let asn1crypto size SM2 EC keys (PKCS#8, ECPrivateKey)
    keys.NamedCurve.register("sm2p256v1", OID_SM2, 32)

# The nonce source; a module attribute so a test can prove it is the CSPRNG.
nonce_source: Callable[[int], int] = secrets.randbelow

BACKENDS = ("gmssl", "tongsuo")
_backend = "gmssl"


class SM2Error(ValueError):
    pass


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def _fe(v: int) -> bytes:
    return v.to_bytes(32, "big")


@dataclass(frozen=True)
class PublicKey:
    x: int
    y: int

    @property
    def uncompressed(self) -> bytes:
        return b"\x04" + _fe(self.x) + _fe(self.y)

    @property
    def hex_xy(self) -> str:
        return f"{self.x:064x}{self.y:064x}"

    @staticmethod
    def from_bytes(data: bytes) -> PublicKey:
        if len(data) == 65 and data[0] == 4:
            key = PublicKey(int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big"))
        elif len(data) == 33 and data[0] in (2, 3):
            x = int.from_bytes(data[1:], "big")
            rhs = (pow(x, 3, _P) + _A * x + _B) % _P
            y = pow(rhs, (_P + 1) // 4, _P)  # p ≡ 3 mod 4
            if (y & 1) != (data[0] & 1):
                y = _P - y
            key = PublicKey(x, y)
        else:
            raise SM2Error("SM2 public key must be an uncompressed (65 B) or compressed (33 B) point")
        if not key.on_curve():
            raise SM2Error("point is not on the SM2 curve")
        return key

    def on_curve(self) -> bool:
        if not (0 < self.x < _P and 0 < self.y < _P):
            return False
        return (self.y * self.y - (self.x**3 + _A * self.x + _B)) % _P == 0


@dataclass(frozen=True)
class PrivateKey:
    d: int

    def __post_init__(self) -> None:
        if not 1 <= self.d < N - 1:
            raise SM2Error("SM2 private key out of range")

    @cached_property
    def public_key(self) -> PublicKey:
        """d·G, computed once per key (every gmssl signature needs it for Z)."""
        x, y = _point_mul(self.d, _G)
        return PublicKey(x, y)

    def to_bytes(self) -> bytes:
        return _fe(self.d)

    def __repr__(self) -> str:  # never print key material
        return "PrivateKey(<redacted>)"


def generate_private_key() -> PrivateKey:
    return PrivateKey(nonce_source(N - 2) + 1)


def _crypt(key: PrivateKey | PublicKey) -> _gm_sm2.CryptSM2:
    if isinstance(key, PrivateKey):
        return _gm_sm2.CryptSM2(private_key=f"{key.d:064x}", public_key="")
    crypt = _gm_sm2.CryptSM2(private_key="", public_key="", mode=1)
    # gmssl's constructor does public_key.lstrip("04") when the hex starts with "04", which also eats the
    # leading digits of an X that begins 0x04… (one key in 256); set the coordinates after construction.
    crypt.public_key = key.hex_xy
    return crypt


def _point_mul(k: int, point_hex: str) -> tuple[int, int]:
    xy = _gm_sm2.CryptSM2(private_key="", public_key="")._kg(k, point_hex)
    if xy is None:
        raise SM2Error("point multiplication failed")
    return int(xy[:64], 16), int(xy[64:128], 16)


def z_value(public_key: PublicKey, user_id: bytes = DEFAULT_ID) -> bytes:
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return sm3(entl + user_id + _fe(_A) + _fe(_B) + bytes.fromhex(_G) + _fe(public_key.x) + _fe(public_key.y))


def _digest(public_key: PublicKey, message: bytes, user_id: bytes) -> bytes:
    return sm3(z_value(public_key, user_id) + message)


class SM2Cipher(core.Sequence):
    """GM/T 0009 SM2Cipher (C1C3C2 order)."""

    _fields = [  # noqa: RUF012 - asn1crypto's declarative schema
        ("x_coordinate", core.Integer),
        ("y_coordinate", core.Integer),
        ("hash", core.OctetString),
        ("cipher_text", core.OctetString),
    ]


def encode_signature(r: int, s: int) -> bytes:
    return bytes(algos.DSASignature({"r": r, "s": s}).dump())


def decode_signature(der: bytes) -> tuple[int, int]:
    try:
        sig = algos.DSASignature.load(der, strict=True)
        r, s = int(sig["r"].native), int(sig["s"].native)
    except Exception as exc:  # asn1crypto raises ValueError/TypeError/IndexError on junk
        raise SM2Error(f"malformed SM2 signature DER: {exc}") from exc
    return r, s


def use_backend(name: str) -> None:
    """Sign and verify with ``name`` (one of :data:`BACKENDS`) from now on, in this process."""
    global _backend
    if name not in BACKENDS:
        raise SM2Error(f"unknown SM2 backend {name!r} (one of {', '.join(BACKENDS)})")
    if name == "tongsuo":
        _tongsuo()  # not installed: fail here, at start, not at the first signature
    _backend = name


def backend() -> str:
    return _backend


@lru_cache(maxsize=1)
def _tongsuo() -> tuple[Any, Any, Any]:
    """tongsuopy's ec module, its SM2-with-SM3 signature algorithm and InvalidSignature."""
    try:
        from tongsuopy.crypto import hashes
        from tongsuopy.crypto.asymciphers import ec
        from tongsuopy.crypto.exceptions import InvalidSignature
    except ImportError as exc:
        raise SM2Error(f"SM2 backend 'tongsuo' needs tongsuopy (pip install 'cert-intake[tongsuo]'): {exc}") from None
    return ec, ec.ECDSA(hashes.SM3()), InvalidSignature


# A key object costs a point multiplication to build: the CA's few keys, and the keys of the CSRs being
# checked, are built once.  Tongsuo computes Z itself from the key, with the default ID.
@lru_cache(maxsize=8)
def _tongsuo_private(key: PrivateKey) -> Any:
    ec = _tongsuo()[0]
    return ec.derive_private_key(key.d, ec.SM2())


@lru_cache(maxsize=64)
def _tongsuo_public(key: PublicKey) -> Any:
    ec = _tongsuo()[0]
    return ec.EllipticCurvePublicNumbers(key.x, key.y, ec.SM2()).public_key()


def sign(private_key: PrivateKey, message: bytes, user_id: bytes = DEFAULT_ID) -> bytes:
    """SM2 signature (DER SEQUENCE{r, s}) over SM3(Z‖message) with a CSPRNG nonce."""
    if _backend == "tongsuo" and user_id == DEFAULT_ID:
        return bytes(_tongsuo_private(private_key).sign(message, _tongsuo()[1]))
    e = _digest(private_key.public_key, message, user_id)
    crypt = _crypt(private_key)
    while True:
        k = nonce_source(N - 1) + 1
        sig_hex = crypt.sign(e, f"{k:064x}")
        if sig_hex:
            return encode_signature(int(sig_hex[:64], 16), int(sig_hex[64:], 16))


def verify(public_key: PublicKey, message: bytes, signature_der: bytes, user_id: bytes = DEFAULT_ID) -> bool:
    try:
        r, s = decode_signature(signature_der)
    except SM2Error:
        return False
    if not (1 <= r < N and 1 <= s < N):
        return False
    if _backend == "tongsuo" and user_id == DEFAULT_ID:
        _ec, algorithm, invalid = _tongsuo()
        try:
            _tongsuo_public(public_key).verify(signature_der, message, algorithm)
        except invalid:
            return False
        return True
    e = _digest(public_key, message, user_id)
    return bool(_crypt(public_key).verify(f"{r:064x}{s:064x}", e))


def _kdf(z: bytes, length: int) -> bytes:
    out = b""
    counter = 1
    while len(out) < length:
        out += sm3(z + counter.to_bytes(4, "big"))
        counter += 1
    return out[:length]


@dataclass(frozen=True)
class Ciphertext:
    x1: int
    y1: int
    c3: bytes
    c2: bytes

    def to_der(self) -> bytes:
        """GM/T 0009 SM2Cipher: SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING(32), cipher OCTET STRING }."""
        return bytes(
            SM2Cipher(
                {"x_coordinate": self.x1, "y_coordinate": self.y1, "hash": self.c3, "cipher_text": self.c2}
            ).dump()
        )

    @staticmethod
    def from_der(der: bytes) -> Ciphertext:
        try:
            seq = SM2Cipher.load(der, strict=True)
            x, y = seq["x_coordinate"].native, seq["y_coordinate"].native
            c3, c2 = seq["hash"].native, seq["cipher_text"].native
        except Exception as exc:
            raise SM2Error(f"malformed SM2Cipher: {exc}") from exc
        if len(c3) != 32:
            raise SM2Error("SM2Cipher hash must be 32 bytes")
        return Ciphertext(int(x), int(y), bytes(c3), bytes(c2))


def encrypt(public_key: PublicKey, plaintext: bytes) -> Ciphertext:
    if not plaintext:
        raise SM2Error("nothing to encrypt")
    while True:
        k = nonce_source(N - 1) + 1
        x1, y1 = _point_mul(k, _G)
        x2, y2 = _point_mul(k, public_key.hex_xy)
        t = _kdf(_fe(x2) + _fe(y2), len(plaintext))
        if any(t):
            break
    c2 = bytes(a ^ b for a, b in zip(plaintext, t, strict=True))
    c3 = sm3(_fe(x2) + plaintext + _fe(y2))
    return Ciphertext(x1, y1, c3, c2)


def decrypt(private_key: PrivateKey, ct: Ciphertext) -> bytes:
    c1 = PublicKey(ct.x1, ct.y1)
    if not c1.on_curve():
        raise SM2Error("C1 is not on the SM2 curve")
    x2, y2 = _point_mul(private_key.d, c1.hex_xy)
    t = _kdf(_fe(x2) + _fe(y2), len(ct.c2))
    if not any(t):
        raise SM2Error("KDF output is zero")
    plaintext = bytes(a ^ b for a, b in zip(ct.c2, t, strict=True))
    if not hmac.compare_digest(sm3(_fe(x2) + plaintext + _fe(y2)), ct.c3):
        raise SM2Error("SM2 ciphertext integrity check (C3) failed")
    return plaintext


def sm4_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    """SM4-ECB without padding (GM/T 0009 envelopes carry exact 16-byte multiples)."""
    return _sm4_ecb(key, data, _gm_sm4.SM4_ENCRYPT)


def sm4_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    return _sm4_ecb(key, data, _gm_sm4.SM4_DECRYPT)


def _sm4_ecb(key: bytes, data: bytes, mode: int) -> bytes:
    if len(key) != 16 or len(data) % 16:
        raise SM2Error("SM4-ECB needs a 16-byte key and whole blocks")
    cipher = _gm_sm4.CryptSM4()
    cipher.set_key(key, mode)
    return b"".join(bytes(cipher.one_round(cipher.sk, list(data[i : i + 16]))) for i in range(0, len(data), 16))
