"""Cross-document consistency, the product-certificate registry, and per-organisation policy."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from pipeline.glyphs import alike
from pipeline.logsafe import mask_id
from pipeline.models import Field, Finding, error, warning
from pipeline.names import normalise_name
from pipeline.validate.registry import NUMBER_FORMAT, parse_date

DEFAULT_SERVICE_TYPES = (
    "服务器密码机",
    "签名验签服务器",
    "云服务器密码机",
    "时间戳服务器",
    "金融数据密码机",
    "云密码机",
    "密码服务平台",
)


def _val(fields: dict[str, Field], key: str) -> str | None:
    f = fields.get(key)
    return f.value if f is not None and f.value else None


def consistency(fields: dict[str, Field]) -> list[Finding]:
    """The form against the licence, the ID copies and the product certificate copy."""
    out: list[Finding] = []
    ev = {k: f.evidence for k, f in fields.items()}

    def differ(a: str | None, b: str | None, names: bool = True) -> bool:
        if not a or not b:
            return False
        return (normalise_name(a) != normalise_name(b)) if names else a.upper() != b.upper()

    if differ(_val(fields, "applicant_name"), _val(fields, "license.name")):
        out.append(
            error(
                "LICENSE_NAME_MISMATCH",
                "applicant_name",
                f"申请单位“{_val(fields, 'applicant_name')}”与营业执照名称“{_val(fields, 'license.name')}”不一致",
                ev.get("license.name"),
            )
        )
    if differ(_val(fields, "org_code"), _val(fields, "license.org_code"), names=False):
        out.append(
            error(
                "ORG_CODE_LICENSE_MISMATCH",
                "org_code",
                f"机构代码 {_val(fields, 'org_code')} 与营业执照上的统一社会信用代码 "
                f"{_val(fields, 'license.org_code')} 不一致",
                ev.get("license.org_code"),
            )
        )
    if differ(_val(fields, "legal_rep_name"), _val(fields, "license.legal_rep")):
        out.append(
            error(
                "LEGAL_REP_LICENSE_MISMATCH",
                "legal_rep_name",
                f"法定代表人“{_val(fields, 'legal_rep_name')}”与营业执照“{_val(fields, 'license.legal_rep')}”不一致",
                ev.get("license.legal_rep"),
            )
        )
    copies = _id_copies(fields)
    for prefix, who in (("legal_rep", "法定代表人"), ("handler", "经办人")):
        number, name = _val(fields, f"{prefix}_id_number"), _val(fields, f"{prefix}_name")
        if not number or not copies:
            continue
        match = next((c for c in copies if c[1] and c[1].upper() == number.upper()), None)
        if match is None:
            out.append(
                error(
                    f"{prefix.upper()}_ID_COPY_MISMATCH",
                    f"{prefix}_id_number",
                    f"{who}证件号码 {mask_id(number)} 与所附身份证复印件均不一致",
                )
            )
        elif name and match[0] and normalise_name(name) != normalise_name(match[0]):
            out.append(
                error(
                    f"{prefix.upper()}_ID_COPY_MISMATCH",
                    f"{prefix}_name",
                    f"{who}姓名“{name}”与身份证复印件“{match[0]}”不一致",
                )
            )
    if differ(_val(fields, "crypto_product_cert_no"), _val(fields, "product_cert.number"), names=False):
        out.append(
            error(
                "PRODUCT_CERT_COPY_MISMATCH",
                "crypto_product_cert_no",
                f"商用密码产品认证证书编号 {_val(fields, 'crypto_product_cert_no')} 与所附证书复印件 "
                f"{_val(fields, 'product_cert.number')} 不一致",
                ev.get("product_cert.number"),
            )
        )
    return out


def _id_copies(fields: dict[str, Field]) -> list[tuple[str | None, str | None]]:
    """(name, number) of every ID copy read, in file order: a copy of which nothing was read leaves a gap in
    the numbering, and the copies after it are still checked."""
    copies = sorted({int(k.split(".")[1]) for k in fields if re.fullmatch(r"id_card\.\d+\.(name|number)", k)})
    return [(_val(fields, f"id_card.{i}.name"), _val(fields, f"id_card.{i}.number")) for i in copies]


@dataclass(frozen=True)
class RegistryInfo:
    number: str
    product_name: str
    model: str
    valid_until: date | None


def product_certificate(
    fields: dict[str, Field],
    lookup: Callable[[str], RegistryInfo | None] | None,
    registry_size: int,
    on: date,
    service_types: tuple[str, ...],
    required: bool,
) -> list[Finding]:
    f = fields.get("crypto_product_cert_no")
    if f is None or not f.value:
        return []
    number = f.value.upper()
    out: list[Finding] = []
    if not NUMBER_FORMAT.match(number):
        out.append(
            error(
                "PRODUCT_CERT_FORMAT",
                "crypto_product_cert_no",
                f"商用密码产品认证证书编号“{f.value}”格式不正确（应为 GM 加 15 位数字）",
                f.evidence,
            )
        )
    copy_until = parse_date(_val(fields, "product_cert.valid_until"))
    if copy_until is not None and copy_until < on:
        out.append(
            error(
                "PRODUCT_CERT_EXPIRED",
                "crypto_product_cert_no",
                f"所附商用密码产品认证证书已于 {copy_until.isoformat()} 过期",
                f.evidence,
            )
        )
    if lookup is None or registry_size == 0:
        if required:
            out.append(
                warning(
                    "PRODUCT_REGISTRY_EMPTY",
                    "crypto_product_cert_no",
                    "未导入商用密码产品认证目录，无法核验认证证书编号，请人工核对（cert-intake registry import）",
                )
            )
        return out
    entry = lookup(number)
    if entry is None:
        out.append(
            error(
                "PRODUCT_CERT_UNKNOWN",
                "crypto_product_cert_no",
                f"商用密码产品认证证书编号 {number} 不在认证目录中",
                f.evidence,
            )
        )
        return out
    if (
        entry.valid_until is not None
        and entry.valid_until < on
        and not any(x.code == "PRODUCT_CERT_EXPIRED" for x in out)
    ):
        out.append(
            error(
                "PRODUCT_CERT_EXPIRED",
                "crypto_product_cert_no",
                f"商用密码产品认证证书 {number} 已于 {entry.valid_until.isoformat()} 过期",
                f.evidence,
            )
        )
    if not any(t in entry.product_name for t in service_types):
        out.append(
            error(
                "PRODUCT_NOT_SERVICE_TYPE",
                "crypto_product_cert_no",
                f"认证产品“{entry.product_name}”不是服务类密码设备（如服务器密码机、签名验签服务器）",
                f.evidence,
            )
        )
    model = _val(fields, "product_cert.model")
    # read off a copy: a model that differs from the catalogue's by a 1 for an l (C1oudHSM-3) is the same model
    if model and entry.model and not alike(model, entry.model):
        out.append(
            warning(
                "PRODUCT_MODEL_MISMATCH",
                "crypto_product_cert_no",
                f"证书复印件上的型号“{model}”与认证目录“{entry.model}”不一致",
            )
        )
    return out


def quota(
    org_code: str | None,
    active: int,
    per_org: int,
    counts: bool,
    *,
    held: Sequence[str] = (),
    retired: str | None = None,
) -> list[Finding]:
    """Certificates per organisation (厦门: one in principle → warning; 商务部: at most 3 keys → error), counted
    over every action that issues one.  ``counts``: the case's action issues a certificate; ``held``: the
    serials of the organisation's active certificates not already scheduled for revocation (``active`` when
    not given); ``retired``: the one of them this case takes out of use (补办/变更 revoke it, 更新 schedules its
    revocation), so it does not add to the count.  The finding names the certificates held."""
    if not org_code or per_org <= 0 or not counts:
        return []
    count = len(held) if held else active
    after = count - (1 if retired and retired in held else 0) + 1
    if after <= per_org:
        return []
    shown = [s for s in held if s != retired]
    names = f"（序号：{'、'.join(shown[:10])}{' 等' if len(shown) > 10 else ''}）" if shown else ""
    if per_org == 1:
        return [
            warning(
                "ORG_HAS_ACTIVE_CERT",
                "org_code",
                f"该单位已有 {count} 张有效证书{names}，本受理点原则上每个用户仅可申请一张数字证书，请审核",
            )
        ]
    return [
        error(
            "ORG_CERT_QUOTA",
            "org_code",
            f"该单位已有 {count} 张有效证书{names}，本次办理后将超过上限 {per_org} 张（各类业务合计）",
        )
    ]


def suspicious_email_domain(fields: dict[str, Field]) -> list[Finding]:
    f = fields.get("email")
    if f is None or "@" not in f.value:
        return []
    domain = f.value.rsplit("@", 1)[1].lower()
    reserved = ("example.com", "example.org", "example.net", "localhost", "test.com")
    if domain in reserved or domain.endswith((".test", ".invalid", ".example", ".localhost", ".local")):
        return [
            warning(
                "EMAIL_DOMAIN_SUSPICIOUS",
                "email",
                f"邮件地址的域名“{domain}”不是可投递的域名，证书和告知书将无法送达",
                f.evidence,
            )
        ]
    return []
