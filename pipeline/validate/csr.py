"""CSR checks: parses, SM2 key on the curve, SM2-with-SM3 proof of possession, sane subject."""

from __future__ import annotations

import unicodedata
from datetime import date

from pipeline.models import Evidence, Finding, error, warning
from pipeline.pki import sm2
from pipeline.pki.der import ParsedCsr, parse_csr

MAX_SUBJECT_VALUE = 200


def check_csr(name: str, data: bytes, rsa_refused: bool, today: date | None = None) -> tuple[ParsedCsr, list[Finding]]:
    ev = Evidence(name)
    p = parse_csr(data)
    if p.error:
        return p, [error("CSR_UNPARSEABLE", None, f"证书申请文件“{name}”无法解析（{p.error}）", ev)]
    findings: list[Finding] = []
    key = p.key
    assert key is not None
    if key.algorithm == "rsa":
        reason = (
            "本受理点自 2022 年 7 月 1 日起停止签发 RSA 算法数字证书，请提交 SM2 算法的证书申请文件"
            if rsa_refused
            else "证书申请使用 RSA 密钥，本受理点仅签发 SM2 证书"
        )
        return p, [error("CSR_KEY_NOT_SM2", "csr.key_algorithm", reason, ev)]
    if key.algorithm != "sm2":
        return p, [
            error("CSR_KEY_NOT_SM2", "csr.key_algorithm", f"证书申请文件的公钥不是 SM2 密钥（{key.algorithm}）", ev)
        ]
    try:
        pub = sm2.PublicKey.from_bytes(key.public_point or b"")
    except sm2.SM2Error:
        return p, [error("CSR_KEY_INVALID", "csr.key_algorithm", "证书申请文件中的 SM2 公钥不是曲线上的有效点", ev)]
    if p.signature_algorithm != sm2.OID_SM2_SM3:
        findings.append(
            error("CSR_SIGNATURE_ALGORITHM", None, f"证书申请文件的签名算法不是 SM2-SM3（{p.signature_algorithm}）", ev)
        )
    elif sm2.verify(pub, p.info_der or b"", p.signature or b""):
        pass
    elif sm2.verify(pub, p.info_der or b"", p.signature or b"", user_id=b""):
        findings.append(
            warning(
                "CSR_SIGNATURE_EMPTY_ID",
                None,
                "证书申请文件的签名使用了空用户标识（OpenSSL 默认），而非 GM/T 0009 默认标识"
                " 1234567812345678；签名有效，请确认申请方工具",
                ev,
            )
        )
    else:
        findings.append(
            error("CSR_SIGNATURE_INVALID", None, "证书申请文件的 SM2 签名验证失败（无法证明持有私钥），请重新生成", ev)
        )
    for attr, value in p.subject.items():
        if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
            findings.append(error("CSR_SUBJECT_CONTROL_CHARS", None, f"证书申请的主题项 {attr} 含有控制字符", ev))
        if len(value) > MAX_SUBJECT_VALUE:
            findings.append(
                error("CSR_SUBJECT_TOO_LONG", None, f"证书申请的主题项 {attr} 过长（{len(value)} 个字符）", ev)
            )
    if "common_name" not in p.subject:
        findings.append(error("CSR_SUBJECT_NO_CN", "csr.subject_cn", "证书申请的主题中没有通用名（CN）", ev))
    return p, findings
