"""Local development SM2 CA: a root and an issuing CA under ``<home>/ca``.

Private keys are PKCS#8-encrypted (see :mod:`keystore`) with file mode 0600.  The password comes
from ``CERT_INTAKE_CA_PASSWORD``; when that is unset, ``ca init`` creates a *development* CA whose
random password is kept in ``ca/dev-password`` (0600) so the demo runs unattended.  A production
office sets the variable (or uses the external issuer backend) and no password file exists.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import pem, x509

from pipeline.errors import CaError, CaExists, CaMissing
from pipeline.issue import keystore
from pipeline.issue.x509build import CertSpec, build_certificate, build_name, key_identifier, new_serial
from pipeline.pki import sm2

PASSWORD_ENV = "CERT_INTAKE_CA_PASSWORD"  # noqa: S105 - the variable name, not a password
ROOT_YEARS = 30
ISSUING_YEARS = 20


def _pem_cert(cert: x509.Certificate) -> bytes:
    return bytes(pem.armor("CERTIFICATE", cert.dump()))


def load_certificate(data: bytes) -> x509.Certificate:
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


@dataclass
class LocalCA:
    directory: Path
    root_cert: x509.Certificate
    issuing_cert: x509.Certificate
    _issuing_key: sm2.PrivateKey

    @property
    def chain_path(self) -> Path:
        return self.directory / "ca-chain.pem"

    @property
    def root_path(self) -> Path:
        return self.directory / "root.cer"

    @property
    def issuing_path(self) -> Path:
        return self.directory / "issuing.cer"

    @property
    def issuer_name(self) -> x509.Name:
        return self.issuing_cert.subject

    @property
    def issuing_key(self) -> sm2.PrivateKey:
        return self._issuing_key

    @property
    def issuing_key_id(self) -> bytes:
        return key_identifier(self.issuing_public_key)

    @property
    def issuing_public_key(self) -> sm2.PublicKey:
        return sm2.PublicKey.from_bytes(
            bytes(self.issuing_cert["tbs_certificate"]["subject_public_key_info"]["public_key"].native)
        )

    # ------------------------------------------------------------------ lifecycle
    @staticmethod
    def exists(directory: Path) -> bool:
        return (directory / "issuing.key").exists() or (directory / "root.key").exists()

    @classmethod
    def init(
        cls,
        directory: Path,
        organisation: str = "cert-intake 开发测试CA",
        password: str | None = None,
        crl_url: str | None = None,
    ) -> LocalCA:
        if cls.exists(directory):
            raise CaExists(f"a CA already exists in {directory}; refusing to overwrite it")
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        password = password or os.environ.get(PASSWORD_ENV) or ""
        if not password:
            password = secrets.token_urlsafe(24)
            keystore.write_secret_file(directory / "dev-password", password.encode())
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        root_key = sm2.generate_private_key()
        root_name = build_name(
            {"country_name": "CN", "organization_name": organisation, "common_name": f"{organisation} SM2 Root"}
        )
        root_kid = key_identifier(root_key.public_key)
        root = build_certificate(
            CertSpec(
                subject=root_name,
                public_key=root_key.public_key,
                not_before=now,
                not_after=now + timedelta(days=365 * ROOT_YEARS),
                serial=new_serial(),
                key_usage=frozenset({"key_cert_sign", "crl_sign"}),
                is_ca=True,
            ),
            root_name,
            root_key,
            root_kid,
        )
        issuing_key = sm2.generate_private_key()
        issuing_name = build_name(
            {"country_name": "CN", "organization_name": organisation, "common_name": f"{organisation} SM2 Issuing CA"}
        )
        issuing = build_certificate(
            CertSpec(
                subject=issuing_name,
                public_key=issuing_key.public_key,
                not_before=now,
                not_after=now + timedelta(days=365 * ISSUING_YEARS),
                serial=new_serial(),
                key_usage=frozenset({"key_cert_sign", "crl_sign", "digital_signature"}),
                is_ca=True,
                path_len=0,
                crl_url=crl_url,
            ),
            root_name,
            root_key,
            root_kid,
        )
        keystore.write_secret_file(directory / "root.key", keystore.encrypt_private_key(root_key, password))
        keystore.write_secret_file(directory / "issuing.key", keystore.encrypt_private_key(issuing_key, password))
        (directory / "root.cer").write_bytes(root.dump())
        (directory / "issuing.cer").write_bytes(issuing.dump())
        (directory / "ca-chain.pem").write_bytes(_pem_cert(issuing) + _pem_cert(root))
        return cls(directory, root, issuing, issuing_key)

    @classmethod
    def load(cls, directory: Path, password: str | None = None) -> LocalCA:
        if not (directory / "issuing.key").exists():
            raise CaMissing(f"no CA in {directory}: run `cert-intake ca init` first")
        if password is None:
            password = os.environ.get(PASSWORD_ENV)
        if not password:
            dev = directory / "dev-password"
            if not dev.exists():
                raise CaError(f"set {PASSWORD_ENV} to unlock the CA key in {directory}")
            password = dev.read_text().strip()
        key = keystore.decrypt_private_key((directory / "issuing.key").read_bytes(), password)
        root = load_certificate((directory / "root.cer").read_bytes())
        issuing = load_certificate((directory / "issuing.cer").read_bytes())
        if key.public_key != sm2.PublicKey.from_bytes(
            bytes(issuing["tbs_certificate"]["subject_public_key_info"]["public_key"].native)
        ):
            raise CaError("the issuing CA key does not match issuing.cer")
        return cls(directory, root, issuing, key)

    @classmethod
    def load_or_init(cls, directory: Path) -> LocalCA:
        if cls.exists(directory):
            return cls.load(directory)
        return cls.init(directory)
