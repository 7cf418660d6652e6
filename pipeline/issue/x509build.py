"""X.509 certificates and CRLs signed with SM2-with-SM3, built with asn1crypto.

Signatures are computed over Z‖DER(TBS) with the default SM2 user ID (GM/T 0009 §10), so
OpenSSL 3 verifies them with ``-vfyopt distid:1234567812345678``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, core, crl, keys, x509

from pipeline.issue.keystore import public_key_info
from pipeline.pki import sm2

SM2_SIG_ALG = algos.SignedDigestAlgorithm({"algorithm": sm2.OID_SM2_SM3})
UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)


def x509_time(when: datetime) -> x509.Time:
    """UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)."""
    when = when.astimezone(UTC).replace(microsecond=0)
    if when < UTC_TIME_LIMIT:
        return x509.Time(name="utc_time", value=when)
    return x509.Time(name="general_time", value=when)


def new_serial() -> int:
    """Random positive serial of at most 20 octets (159 bits keeps the top bit clear)."""
    return secrets.randbits(159) | (1 << 150)


def key_identifier(pub: sm2.PublicKey) -> bytes:
    """RFC 5280 method 1 (SHA-1 of the subjectPublicKey bit string)."""
    return hashlib.sha1(pub.uncompressed, usedforsecurity=False).digest()


def build_name(attrs: dict[str, str]) -> x509.Name:
    return x509.Name.build(attrs, use_printable=False)


@dataclass(frozen=True)
class CertSpec:
    subject: x509.Name
    public_key: sm2.PublicKey
    not_before: datetime
    not_after: datetime
    serial: int
    key_usage: frozenset[str]
    is_ca: bool = False
    path_len: int | None = None
    crl_url: str | None = None
    extended_key_usage: tuple[str, ...] = ()
    extra_extensions: tuple[tuple[str, bytes], ...] = ()  # (oid, DER of the extension value)


def _extension(extn_id: str, value: core.Asn1Value | bytes, critical: bool = False) -> x509.Extension:
    if isinstance(value, bytes):  # an extension asn1crypto does not know: its DER goes in as is
        ext = x509.Extension({"extn_id": extn_id, "critical": critical})
        ext["extn_value"] = core.ParsableOctetString(value)
        return ext
    return x509.Extension({"extn_id": extn_id, "critical": critical, "extn_value": value})


def build_certificate(
    spec: CertSpec, issuer: x509.Name, issuer_key: sm2.PrivateKey, issuer_key_id: bytes
) -> x509.Certificate:
    # End-entity certificates carry no BasicConstraints: RFC 5280 allows the empty SEQUENCE (cA FALSE by
    # default), but GmSSL 3.3's parser (x509_basic_constraints_from_der) refuses it, and Chinese relying
    # parties verify with GmSSL/Tongsuo.  Without the extension a certificate is not a CA to anyone.
    exts = []
    if spec.is_ca:
        constraints = {"ca": True, **({"path_len_constraint": spec.path_len} if spec.path_len is not None else {})}
        exts.append(_extension("basic_constraints", x509.BasicConstraints(constraints), critical=True))
    exts += [
        _extension("key_usage", x509.KeyUsage(set(spec.key_usage)), critical=True),
        _extension("key_identifier", core.OctetString(key_identifier(spec.public_key))),
        _extension("authority_key_identifier", x509.AuthorityKeyIdentifier({"key_identifier": issuer_key_id})),
    ]
    if spec.extended_key_usage:
        exts.append(_extension("extended_key_usage", x509.ExtKeyUsageSyntax(list(spec.extended_key_usage))))
    if spec.crl_url:
        exts.append(
            _extension(
                "crl_distribution_points",
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            {
                                "distribution_point": x509.DistributionPointName(
                                    name="full_name",
                                    value=[x509.GeneralName(name="uniform_resource_identifier", value=spec.crl_url)],
                                )
                            }
                        )
                    ]
                ),
            )
        )
    for oid, der in spec.extra_extensions:
        exts.append(_extension(oid, der))
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": spec.serial,
            "signature": SM2_SIG_ALG,
            "issuer": issuer,
            "validity": x509.Validity(
                {"not_before": x509_time(spec.not_before), "not_after": x509_time(spec.not_after)}
            ),
            "subject": spec.subject,
            "subject_public_key_info": public_key_info(spec.public_key),
            "extensions": exts,
        }
    )
    signature = sm2.sign(issuer_key, tbs.dump())
    return x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": SM2_SIG_ALG, "signature_value": signature})


def certificate_public_key(cert: x509.Certificate) -> sm2.PublicKey:
    spki = cert["tbs_certificate"]["subject_public_key_info"]
    return sm2.PublicKey.from_bytes(bytes(spki["public_key"].native))


def verify_certificate_signature(cert: x509.Certificate, issuer_pub: sm2.PublicKey) -> bool:
    if cert["signature_algorithm"]["algorithm"].dotted != sm2.OID_SM2_SM3:
        return False
    return sm2.verify(issuer_pub, cert["tbs_certificate"].dump(), bytes(cert["signature_value"].native))


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: str = "unspecified"  # asn1crypto CRLReason names: key_compromise, superseded, cessation_of_operation…


def build_crl(
    issuer: x509.Name,
    issuer_key: sm2.PrivateKey,
    issuer_key_id: bytes,
    number: int,
    this_update: datetime,
    next_update: datetime,
    revoked: Sequence[RevokedEntry],
) -> crl.CertificateList:
    entries = []
    for r in revoked:
        entry_exts = []
        if r.reason != "unspecified":
            entry_exts.append(
                crl.CRLEntryExtension(
                    {"extn_id": "crl_reason", "critical": False, "extn_value": crl.CRLReason(r.reason)}
                )
            )
        item = {"user_certificate": r.serial, "revocation_date": x509_time(r.revoked_at)}
        if entry_exts:
            item["crl_entry_extensions"] = entry_exts
        entries.append(crl.RevokedCertificate(item))
    tbs_fields = {
        "version": "v2",
        "signature": SM2_SIG_ALG,
        "issuer": issuer,
        "this_update": x509_time(this_update),
        "next_update": x509_time(next_update),
        "crl_extensions": [
            crl.TBSCertListExtension({"extn_id": "crl_number", "critical": False, "extn_value": number}),
            crl.TBSCertListExtension(
                {
                    "extn_id": "authority_key_identifier",
                    "critical": False,
                    "extn_value": x509.AuthorityKeyIdentifier({"key_identifier": issuer_key_id}),
                }
            ),
        ],
    }
    if entries:
        tbs_fields["revoked_certificates"] = entries
    tbs = crl.TbsCertList(tbs_fields)
    signature = sm2.sign(issuer_key, tbs.dump())
    return crl.CertificateList({"tbs_cert_list": tbs, "signature_algorithm": SM2_SIG_ALG, "signature": signature})


def spki_fingerprint(pub: sm2.PublicKey) -> str:
    return hashlib.sha256(keys.PublicKeyInfo.dump(public_key_info(pub))).hexdigest()
