"""External issuer backend: hand the validated request to another CA system through a folder.

``<dir>/requests/<case>/`` receives ``request.json`` and ``request.csr``; the other system writes
``<dir>/responses/<case>/`` with ``sign.cer`` (and optionally ``env.cer``, ``envprivatekey``,
``ca-chain.pem``).  Until the response is there, :meth:`issue` raises :class:`IssuancePending` and the
case waits in ``issuing``; a later run picks the response up.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.errors import CertIntakeError
from pipeline.fsutil import atomic_write
from pipeline.issue import IssueRequest
from pipeline.models import IssuedOutputs
from pipeline.pki.der import parse_certificate
from pipeline.store import Store

RESPONSE_FILES = {"sign.cer": "sign_cert", "env.cer": "env_cert", "envprivatekey": "envelope", "ca-chain.pem": "chain"}


class IssuancePending(CertIntakeError):
    exit_code = 0


class ExternalIssuer:
    def __init__(self, store: Store, exchange_dir: Path, outputs_dir: Path) -> None:
        self.store = store
        self.exchange = exchange_dir
        self.outputs_dir = outputs_dir

    def issue(self, req: IssueRequest) -> IssuedOutputs:
        response = self.exchange / "responses" / req.case_id
        if not (response / "sign.cer").exists():
            self._write_request(req)
            raise IssuancePending(f"case {req.case_id}: request handed to the external CA, awaiting its response")
        cert = parse_certificate((response / "sign.cer").read_bytes())
        if cert.error or not cert.serial_hex:
            raise CertIntakeError(f"case {req.case_id}: the external CA's sign.cer is unreadable: {cert.error}")
        out_dir = self.outputs_dir / req.case_id
        for name, key in RESPONSE_FILES.items():
            if (response / name).exists():
                data = (response / name).read_bytes()
                atomic_write(out_dir / name, data)
                self.store.record_output(req.case_id, key, out_dir / name, self.store.blobs.put(data))
        outs = self.store.outputs(req.case_id)
        return IssuedOutputs(
            serial=cert.serial_hex,
            sign_cert=outs["sign_cert"],
            chain=outs.get("chain", ""),
            not_before=cert.not_before or "",
            not_after=cert.not_after or "",
            extra={k: v for k, v in outs.items() if k not in ("sign_cert", "chain")},
        )

    def _write_request(self, req: IssueRequest) -> None:
        folder = self.exchange / "requests" / req.case_id
        if (folder / "request.json").exists():
            return
        atomic_write(folder / "request.csr", req.csr_der)
        atomic_write(
            folder / "request.json",
            json.dumps(
                {
                    "case_id": req.case_id,
                    "applicant_name": req.applicant_name,
                    "common_name": req.common_name,
                    "org_code": req.org_code,
                    "profile": req.profile,
                },
                ensure_ascii=False,
                indent=1,
            ).encode(),
        )
