"""Issue: certificates for a clean or approved case, behind the :class:`Issuer` protocol.

The local backend signs with the development SM2 CA.  A serial is recorded in the store *before*
signing (unique per case and kind), so a crash never issues twice; outputs are written to a temporary
name and renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from asn1crypto import core, pem, x509

from pipeline.errors import IssuanceRefused
from pipeline.fsutil import atomic_write
from pipeline.issue import envelope
from pipeline.issue.ca import LocalCA
from pipeline.issue.x509build import CertSpec, build_certificate, build_name, new_serial
from pipeline.models import IssuedOutputs
from pipeline.pki import sm2
from pipeline.pki.der import parse_csr
from pipeline.store import Store

SIGN_KU = ("digital_signature", "non_repudiation")
ENV_KU = ("key_encipherment", "data_encipherment")


@dataclass(frozen=True)
class IssueRequest:
    case_id: str
    applicant_name: str
    common_name: str
    org_code: str | None
    csr_der: bytes
    profile: dict[str, object]


class Issuer(Protocol):
    def issue(self, request: IssueRequest) -> IssuedOutputs: ...


def _usage(profile: dict[str, object], key: str, default: tuple[str, ...]) -> frozenset[str]:
    value = profile.get(key, default)
    return frozenset(str(v) for v in value) if isinstance(value, list | tuple) else frozenset(default)


def ten_years_from(start: datetime, years: int) -> datetime:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


class LocalIssuer:
    def __init__(self, store: Store, ca: LocalCA, outputs_dir: Path) -> None:
        self.store = store
        self.ca = ca
        self.outputs_dir = outputs_dir

    def _unique_serial(self) -> str:
        while True:
            serial = format(new_serial(), "X")
            if not self.store.serial_exists(serial):
                return serial

    def _subject(self, req: IssueRequest) -> x509.Name:
        attrs = {"country_name": "CN", "organization_name": req.applicant_name, "common_name": req.common_name}
        if req.org_code and req.profile.get("subject_serial_number", True):
            attrs["serial_number"] = req.org_code
        return build_name(attrs)

    def issue(self, req: IssueRequest) -> IssuedOutputs:
        csr = parse_csr(req.csr_der)
        if csr.error or csr.key is None or csr.key.algorithm != "sm2" or not csr.key.public_point:
            raise IssuanceRefused(f"case {req.case_id}: no usable SM2 CSR")
        sign_pub = sm2.PublicKey.from_bytes(csr.key.public_point)
        out_dir = self.outputs_dir / req.case_id
        years = int(str(req.profile.get("validity_years", 10)))
        now = datetime.now(UTC).replace(microsecond=0)
        not_after = ten_years_from(now, years)
        subject = self._subject(req)
        crl_url = str(req.profile.get("crl_url") or "") or None

        sign_res = self.store.reserve_certificate(
            req.case_id, "sign", self._unique_serial(), req.org_code, csr.fingerprint
        )
        env_res = self.store.reserve_certificate(req.case_id, "env", self._unique_serial(), req.org_code, None)
        sign_path, env_path = out_dir / "sign.cer", out_dir / "env.cer"
        env_key_path, chain_path = out_dir / "envprivatekey", out_dir / "ca-chain.pem"
        if sign_res.state == "issued" and env_res.state == "issued" and sign_path.exists() and env_path.exists():
            return self._outputs(req.case_id, sign_res.serial)  # idempotent re-run

        extensions: tuple[tuple[str, bytes], ...] = ()
        uscc_oid = req.profile.get("uscc_extension_oid")
        if uscc_oid and req.org_code:  # GM/T 0015-style organisation identifier extension, per profile
            extensions = ((str(uscc_oid), core.UTF8String(req.org_code).dump()),)

        def certify(pub: sm2.PublicKey, serial: str, usage_key: str, default: tuple[str, ...]) -> x509.Certificate:
            spec = CertSpec(
                subject=subject,
                public_key=pub,
                not_before=now,
                not_after=not_after,
                serial=int(serial, 16),
                key_usage=_usage(req.profile, usage_key, default),
                crl_url=crl_url,
                extra_extensions=extensions,
            )
            return build_certificate(spec, self.ca.issuer_name, self.ca.issuing_key, self.ca.issuing_key_id)

        sign_cert = certify(sign_pub, sign_res.serial, "sign_key_usage", SIGN_KU)
        enc_key = sm2.generate_private_key()
        env_cert = certify(enc_key.public_key, env_res.serial, "env_key_usage", ENV_KU)
        sealed = envelope.seal(enc_key, sign_pub)  # the clear encryption key never touches the disk
        del enc_key
        bundle = envelope.csr_response(sign_cert, sealed, env_cert)

        for path, data, name in (
            (sign_path, sign_cert.dump(), "sign_cert"),
            (env_path, env_cert.dump(), "env_cert"),
            (env_key_path, sealed, "envelope"),
            (chain_path, self.ca.chain_path.read_bytes(), "chain"),
            (out_dir / "csr-response.der", bundle, "csr_response"),
        ):
            atomic_write(path, data)
            self.store.record_output(req.case_id, name, path, self.store.blobs.put(data))
        subject_text = subject.human_friendly
        for res, cert in ((sign_res, sign_cert), (env_res, env_cert)):
            self.store.mark_certificate_issued(
                res.serial,
                subject=subject_text,
                not_before=now,
                not_after=not_after,
                der_sha256=self.store.blobs.put(cert.dump()),
            )
        return self._outputs(req.case_id, sign_res.serial)

    def _outputs(self, case_id: str, serial: str) -> IssuedOutputs:
        outs = self.store.outputs(case_id)
        certs = {c.kind: c for c in self.store.certificates(case_id)}
        sign = certs["sign"]
        return IssuedOutputs(
            serial=serial,
            sign_cert=outs["sign_cert"],
            chain=outs["chain"],
            not_before=sign.not_before.isoformat() if sign.not_before else "",
            not_after=sign.not_after.isoformat() if sign.not_after else "",
            extra={k: v for k, v in outs.items() if k not in ("sign_cert", "chain")},
        )


def certificate_pem(der: bytes) -> bytes:
    return bytes(pem.armor("CERTIFICATE", der))
