"""Parse CSRs (PKCS#10 / GM/T 0092) and certificates from PEM, DER or bare base64 with asn1crypto.

Parsing never raises on bad input: it returns a :class:`ParsedCsr`/:class:`ParsedCert` with an
``error`` (a short English reason) that validation turns into a finding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from asn1crypto import csr as a_csr
from asn1crypto import pem, x509

OID_SM2 = "1.2.156.10197.1.301"
OID_EC = "1.2.840.10045.2.1"
OID_RSA = "1.2.840.113549.1.1.1"
MAX_DER = 64 * 1024

_B64 = re.compile(rb"^[A-Za-z0-9+/=\s]+$")


def to_der(data: bytes) -> tuple[bytes | None, str | None]:
    """Return (DER, None) or (None, reason)."""
    if not data.strip():
        return None, "empty file"
    if len(data) > MAX_DER * 2:
        return None, "file too large for a CSR or certificate"
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        try:
            _, _, der = pem.unarmor(stripped)
        except (ValueError, binascii.Error) as exc:
            return None, f"bad PEM: {exc}"
        return bytes(der), None
    if stripped[:1] == b"\x30":
        return bytes(stripped if len(stripped) == len(data) else data), None
    if _B64.match(stripped):
        try:
            return base64.b64decode(b"".join(stripped.split()), validate=True), None
        except (binascii.Error, ValueError) as exc:
            return None, f"bad base64: {exc}"
    return None, "neither PEM, DER nor base64"


def looks_like_der_sequence(data: bytes) -> bool:
    der, err = to_der(data)
    return err is None and der is not None and der[:1] == b"\x30"


@dataclass(frozen=True)
class KeyInfo:
    algorithm: str  # "sm2" | "rsa" | "ec:<curve>" | other dotted OID
    public_point: bytes | None  # 65-byte uncompressed point for EC keys
    rsa_bits: int | None = None


def _key_info(spki: object) -> KeyInfo:
    alg = spki["algorithm"]  # type: ignore[index]
    oid = alg["algorithm"].dotted
    if oid == OID_EC:
        params = alg["parameters"]
        curve = params.chosen.dotted if params.name == "named" else "explicit"
        point = bytes(spki["public_key"].native)  # type: ignore[index]
        return KeyInfo("sm2" if curve == OID_SM2 else f"ec:{curve}", point)
    if oid == OID_RSA:
        bits = spki["public_key"].parsed["modulus"].native.bit_length()  # type: ignore[index]
        return KeyInfo("rsa", None, bits)
    return KeyInfo(oid, None)


def _subject(name: x509.Name) -> dict[str, str]:
    out: dict[str, str] = {}
    for rdn in name.chosen:
        for atv in rdn:
            key = atv["type"].native
            try:
                value = atv["value"].native
            except Exception:  # undecodable string types
                value = None
            out[str(key)] = value if isinstance(value, str) else repr(value)
    return out


@dataclass(frozen=True)
class ParsedCsr:
    der: bytes | None
    error: str | None = None
    subject: dict[str, str] = field(default_factory=dict)
    key: KeyInfo | None = None
    signature_algorithm: str | None = None
    signature: bytes | None = None
    info_der: bytes | None = None

    @property
    def fingerprint(self) -> str | None:
        return hashlib.sha256(self.key.public_point).hexdigest() if self.key and self.key.public_point else None


def parse_csr(data: bytes) -> ParsedCsr:
    der, err = to_der(data)
    if der is None:
        return ParsedCsr(None, err)
    try:
        req = a_csr.CertificationRequest.load(der, strict=True)
        info = req["certification_request_info"]
        subject = _subject(info["subject"])
        key = _key_info(info["subject_pk_info"])
        sig_alg = req["signature_algorithm"]["algorithm"].dotted
        sig = bytes(req["signature"].native)
        info_der = info.dump()
    except Exception as exc:  # asn1crypto raises many types on malformed DER
        return ParsedCsr(der, f"malformed PKCS#10: {type(exc).__name__}: {str(exc)[:120]}")
    return ParsedCsr(der, None, subject, key, sig_alg, sig, info_der)


@dataclass(frozen=True)
class ParsedCert:
    der: bytes | None
    error: str | None = None
    serial_hex: str | None = None
    subject: dict[str, str] = field(default_factory=dict)
    issuer: dict[str, str] = field(default_factory=dict)
    not_before: str | None = None
    not_after: str | None = None
    key: KeyInfo | None = None
    certificate: x509.Certificate | None = None


def parse_certificate(data: bytes) -> ParsedCert:
    der, err = to_der(data)
    if der is None:
        return ParsedCert(None, err)
    try:
        cert = x509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        serial = format(tbs["serial_number"].native, "X")
        subject = _subject(tbs["subject"])
        issuer = _subject(tbs["issuer"])
        validity = tbs["validity"]
        nb = validity["not_before"].native.isoformat()
        na = validity["not_after"].native.isoformat()
        key = _key_info(tbs["subject_public_key_info"])
    except Exception as exc:
        return ParsedCert(der, f"malformed certificate: {type(exc).__name__}: {str(exc)[:120]}")
    return ParsedCert(der, None, serial, subject, issuer, nb, na, key, cert)


def is_csr(data: bytes) -> bool:
    return parse_csr(data).error is None


def is_certificate(data: bytes) -> bool:
    return parse_certificate(data).error is None
