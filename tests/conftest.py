from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from asn1crypto import keys, pem

from pipeline.config import load_settings
from pipeline.pki import sm2
from pipeline.stages import Context

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from common import generator as _generator  # noqa: E402

SAMPLES = REPO / "samples" / "cases"
TRUTH = REPO / "samples" / "truth"
OFFICE_SAMPLES = REPO / "samples" / "office"

_FORMS_COPY = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """The suite's offices accept typed (DOCX / text-layer PDF) forms, so the many issuance tests can use
    fast text-layer cases; the shipped default (``unsealed_text_form: review`` → FORM_NOT_SEALED) is
    tested on its own with the real forms/ directory.  Set for subprocesses (the CLI, workers) too."""
    if os.environ.get("CERT_INTAKE_FORMS_DIR"):
        return
    target = Path(tempfile.mkdtemp(prefix="cert-intake-test-forms-"))
    shutil.copytree(REPO / "forms", target, dirs_exist_ok=True)
    for profile in target.glob("*.yaml"):
        if profile.name != "attachments.yaml":
            with profile.open("a", encoding="utf-8") as fh:
                fh.write("\nunsealed_text_form: accept  # test suite only (see tests/conftest.py)\n")
    os.environ["CERT_INTAKE_FORMS_DIR"] = str(target)
    config.stash[_FORMS_COPY] = target


def pytest_unconfigure(config: pytest.Config) -> None:
    """The copy of forms/ made for this run goes with it (it was left in the temp directory, one per run)."""
    target = config.stash.get(_FORMS_COPY, None)
    if target is not None:
        shutil.rmtree(target, ignore_errors=True)
        os.environ.pop("CERT_INTAKE_FORMS_DIR", None)


_GIVEN_PORTS: set[int] = set()


def free_port() -> int:
    """A loopback port no other test of this run has been given (the kernel may hand a just-closed port out
    again, so two calls could otherwise return the same one)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


def child_env(strip: tuple[str, ...] = ("PREFECT_", "CERT_INTAKE_")) -> dict[str, str]:
    """The environment of a child process: this run's settings stripped, the suite's office profiles kept."""
    return {k: v for k, v in os.environ.items() if not k.startswith(strip) or k == "CERT_INTAKE_FORMS_DIR"}


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=False, capture_output=True, text=True, **kw)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


REGISTRY = REPO / "samples" / "product-registry.csv"


def with_registry(ctx: Context) -> Context:
    """The bundled sample registry of 商用密码产品认证证书 (what an office imports from the official list)."""
    from pipeline.validate.registry import read_registry

    ctx.store.import_registry(read_registry(REGISTRY))
    return ctx


@pytest.fixture
def ctx(home: Path) -> Context:
    return with_registry(Context(load_settings(home, use_prefect=False)))


def truth(case: str) -> dict[str, str]:
    return json.loads((TRUTH / f"{case}.json").read_text(encoding="utf-8"))["fields"]


def attachments(case: str) -> dict[str, str]:
    return json.loads((TRUTH / f"{case}.json").read_text(encoding="utf-8"))["attachments"]


def copy_case(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(SAMPLES / name, target)
    return target


def openssl_sm2_key(path: Path) -> Path:
    r = run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(path)])
    assert r.returncode == 0, r.stderr
    return path


def openssl_csr(key: Path, out: Path, subject: str, distid: str | None = "1234567812345678") -> Path:
    cmd = ["openssl", "req", "-new", "-key", str(key), "-sm3", "-utf8", "-out", str(out), "-subj", subject]
    if distid is not None:
        cmd += ["-sigopt", f"distid:{distid}"]
    r = run(cmd)
    assert r.returncode == 0, r.stderr
    return out


def load_openssl_private_key(path: Path) -> sm2.PrivateKey:
    _, _, der = pem.unarmor(path.read_bytes())
    info = keys.PrivateKeyInfo.load(der)
    return sm2.PrivateKey(int(info["private_key"].parsed["private_key"].native))


def der_to_pem(der_path: Path, out: Path) -> Path:
    r = run(["openssl", "x509", "-inform", "DER", "-in", str(der_path), "-out", str(out)])
    assert r.returncode == 0, r.stderr
    return out


# the certificate profile the issuer tests sign with (forms/<office>.yaml `profile:` keys)
ISSUE_PROFILE = {
    "validity_years": 10,
    "subject_serial_number": True,
    "crl_url": "http://crl.example/issuing.crl",
    "sign_key_usage": ["digital_signature", "non_repudiation"],
    "env_key_usage": ["key_encipherment", "data_encipherment"],
}


DISTID = ["-vfyopt", "distid:1234567812345678"]  # GM/T 0009's default SM2 user ID


def verify_issued_chain(root_der: Path, issuing_der: Path, out: Path, tmp: Path) -> None:
    """OpenSSL 3 verifies an issued pair link by link (it applies -vfyopt distid only to the certificates named
    on the command line): the issuing CA against the root, sign.cer and env.cer against the issuing CA; and
    without the default ID the leaf does not verify — the signature really is over Z(1234567812345678)‖TBS."""
    root = der_to_pem(root_der, tmp / "root.pem")
    issuing = der_to_pem(issuing_der, tmp / "issuing.pem")
    sign = der_to_pem(out / "sign.cer", tmp / "sign.pem")
    env = der_to_pem(out / "env.cer", tmp / "env.pem")
    r = run(["openssl", "verify", *DISTID, "-CAfile", str(root), str(issuing)])
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
    r = run(["openssl", "verify", *DISTID, "-partial_chain", "-CAfile", str(issuing), str(sign), str(env)])
    assert r.returncode == 0 and r.stdout.count("OK") == 2, r.stdout + r.stderr
    r = run(["openssl", "verify", "-partial_chain", "-CAfile", str(issuing), str(sign)])
    assert r.returncode != 0


def generator():
    return _generator()


def openssl_sm2_decrypt(key_path: Path, cipher: bytes, workdir: Path) -> bytes:
    """Decrypt a GM/T 0009 SM2Cipher (DER) with `openssl pkeyutl -decrypt`."""
    (workdir / "cipher.der").write_bytes(cipher)
    r = run(
        [
            "openssl",
            "pkeyutl",
            "-decrypt",
            "-inkey",
            str(key_path),
            "-in",
            str(workdir / "cipher.der"),
            "-out",
            str(workdir / "plain.bin"),
        ]
    )
    assert r.returncode == 0, r.stderr
    return (workdir / "plain.bin").read_bytes()


def openssl_sm2_verify(pub_pem: Path, signature: bytes, message: bytes, workdir: Path) -> bool:
    """`openssl dgst -sm3 -verify` with the GM/T 0009 default user ID."""
    (workdir / "sig.der").write_bytes(signature)
    (workdir / "msg.bin").write_bytes(message)
    r = run(
        [
            "openssl",
            "dgst",
            "-sm3",
            "-verify",
            str(pub_pem),
            "-sigopt",
            "distid:1234567812345678",
            "-signature",
            str(workdir / "sig.der"),
            str(workdir / "msg.bin"),
        ]
    )
    return r.returncode == 0 and "Verified OK" in r.stdout


def through_review(ctx: Context, case_id: str, verifier: str = "reg-wang", approver: str = "app-li") -> dict:
    """A case waiting in review carried through the office's stages by two people — a registrar verifies
    (验核 / 受理), an approver approves (复核) — and then processed; returns the contract."""
    from pipeline.review import actions
    from pipeline.stages import process_case

    case = ctx.store.get_case(case_id)
    assert case.status == "review", (case.status, [f.code for f in ctx.store.findings(case_id)])
    if actions.verification_needed(ctx, case_id):
        actions.verify(ctx, actions.Actor(verifier, "registrar"), case_id, "核对原件无误")
    actions.approve(ctx, actions.Actor(approver, "approver"), case_id, "同意")
    return process_case(ctx, case_id)


def extract_file(path: Path, office: str = "xiamen-eport"):  # type: ignore[no-untyped-def]
    """One committed scan read on its own with real OCR: the extraction (fields and findings)."""
    from pipeline.extract import extract_case
    from pipeline.extract.ocr import get_engine
    from pipeline.profiles import load_profiles
    from pipeline.store import sha256_bytes

    data = path.read_bytes()
    _profile, result, _docs = extract_case(
        [(path.name, sha256_bytes(data), data)], load_profiles(REPO / "forms"), office, get_engine
    )
    return result
