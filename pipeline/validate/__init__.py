"""Validate: the office profile's rules over the extracted fields and documents → findings; then route.

Every rule returns findings (never raises on bad data).  Routing sends a case to ``issue`` only when
nothing is doubtful: no error or warning, every required field present and above the office's
confidence threshold.  Nothing is rejected without a person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from hashlib import sha256

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidLength, ValidationError

from pipeline import identifiers as ids
from pipeline.actions import Action, OldCertificate, rules
from pipeline.fieldnames import zh
from pipeline.logsafe import mask_id, mask_phone
from pipeline.models import (
    DocKind,
    Document,
    Evidence,
    Field,
    Finding,
    Route,
    Severity,
    TextSource,
    error,
    info,
    warning,
)
from pipeline.names import normalise_name
from pipeline.pki.der import parse_certificate
from pipeline.profiles import OfficeProfile
from pipeline.validate import crossdoc
from pipeline.validate.csr import check_csr


@dataclass(frozen=True)
class CaseInput:
    profile: OfficeProfile
    fields: dict[str, Field]
    documents: list[Document]
    files: dict[str, bytes]  # name → bytes (for CSR and certificate checks)
    subject_company: str | None = None
    key_seen_before: Callable[[str], str | None] | None = None  # fingerprint → case id already certified
    certificate_lookup: Callable[[str], KnownCertificate | None] | None = None  # serial → one of ours
    registry: Callable[[str], crossdoc.RegistryInfo | None] | None = None
    registry_size: int = 0
    active_certificates: int = 0  # other active signing certificates of the same org_code
    # their serials, without those already scheduled for revocation (renew's grace period): the quota names them
    held_certificates: tuple[str, ...] = ()
    today: date | None = None


@dataclass(frozen=True)
class KnownCertificate:
    serial: str
    org_code: str | None
    state: str  # issued | revoked | reserved
    not_after: datetime | None
    der_sha256: str | None


def _category(fields: dict[str, Field], profile: OfficeProfile) -> tuple[str | None, list[Finding]]:
    f = fields.get("category")
    if f is None or not f.value:
        return None, [
            error(
                "CATEGORY_NONE",
                "category",
                "申请表未勾选申请类别（每张申请表须且仅可勾选一个申请类别）",
                f.evidence if f else None,
            )
        ]
    ticked = [c for c in f.value.split("、") if c]
    if len(ticked) > 1:
        return None, [
            error(
                "CATEGORY_MULTIPLE",
                "category",
                f"申请表勾选了多个申请类别（{'、'.join(ticked)}），每张申请表仅可勾选一个",
                f.evidence,
            )
        ]
    cat = profile.category_aliases.get(ticked[0], ticked[0])
    if cat not in profile.categories and ticked[0] in profile.category_options:
        return None, [
            error(
                "CATEGORY_UNMAPPED",
                "category",
                f"申请表勾选的“{ticked[0]}”在本受理点的业务配置中没有对应的办理方式，不能自动办理，请人工处理",
                f.evidence,
            )
        ]
    if cat not in profile.categories:
        return None, [
            error(
                "CATEGORY_NOT_OFFERED",
                "category",
                f"本受理点不办理“{ticked[0]}”业务（可办理：{'、'.join(profile.categories)}）",
                f.evidence,
            )
        ]
    return cat, []


def _identifier_findings(fields: dict[str, Field]) -> list[Finding]:
    out: list[Finding] = []
    org = fields.get("org_code")
    if org is not None:
        try:
            ids.validate_uscc(org.value)
        except InvalidChecksum:
            out.append(
                error(
                    "ORG_CODE_CHECKSUM",
                    "org_code",
                    f"统一社会信用代码 {org.value} 校验码错误，请核对申请表与营业执照",
                    org.evidence,
                )
            )
        except InvalidComponent:
            out.append(
                error(
                    "ORG_CODE_COMPONENT",
                    "org_code",
                    f"统一社会信用代码 {org.value} 中的登记管理部门代码或组织机构代码校验位不正确",
                    org.evidence,
                )
            )
        except ValidationError:
            if ids.is_valid(ids.validate_org_code, org.value):
                out.append(
                    warning(
                        "ORG_CODE_NOT_USCC",
                        "org_code",
                        f"机构代码 {org.value} 不是统一社会信用代码（组织机构代码），请审核其资质证明材料",
                        org.evidence,
                    )
                )
            else:
                out.append(
                    error(
                        "ORG_CODE_FORMAT",
                        "org_code",
                        f"机构代码“{org.value}”不是有效的统一社会信用代码（应为 18 位）",
                        org.evidence,
                    )
                )
    for prefix, who in (("legal_rep", "法定代表人"), ("handler", "经办人")):
        num = fields.get(f"{prefix}_id_number")
        id_type = fields.get(f"{prefix}_id_type")
        type_value = id_type.value if id_type else "居民身份证"
        if num is not None:
            out.extend(_id_findings(prefix, who, num, type_value))
        phone = fields.get(f"{prefix}_phone")
        if phone is not None:
            try:
                ids.validate_mobile(phone.value)
            except ValidationError:
                out.append(
                    error(
                        "PHONE_NOT_MOBILE",
                        f"{prefix}_phone",
                        f"{who}联系电话 {mask_phone(phone.value)} 不是有效的手机号码（申请表要求填写移动电话）",
                        phone.evidence,
                    )
                )
    email = fields.get("email")
    if email is not None and not ids.is_valid(ids.validate_email, email.value):
        out.append(
            error("EMAIL_INVALID", "email", f"邮件地址“{email.value}”格式不正确，证书将发送至此地址", email.evidence)
        )
    return out


def _id_findings(prefix: str, who: str, num: Field, id_type: str) -> list[Finding]:
    key = f"{prefix}_id_number"
    if id_type in ids.OTHER_ID_FORMATS and id_type not in ("外国人永久居留身份证",):
        if ids.OTHER_ID_FORMATS[id_type].match(num.value):
            return []
        return [error("ID_NUMBER_FORMAT", key, f"{who}{id_type}号码 {mask_id(num.value)} 格式不正确", num.evidence)]
    if id_type == "外国人永久居留身份证" and ids.is_old_foreign_permanent_resident_id(num.value):
        return []  # the 15-character card of 2004 (the 18-digit one of 2023 is checked below)
    try:
        ids.validate_resident_id(num.value)
    except InvalidChecksum:
        return [error("ID_NUMBER_CHECKSUM", key, f"{who}证件号码 {mask_id(num.value)} 校验位错误", num.evidence)]
    except InvalidLength:
        text = f"{who}证件号码 {mask_id(num.value)} 位数不正确（应为 18 位）"
        return [error("ID_NUMBER_LENGTH", key, text, num.evidence)]
    except InvalidComponent as exc:
        detail = "年龄不合理" if "age" in str(exc) else "地区码或出生日期无效"
        return [error("ID_NUMBER_COMPONENT", key, f"{who}证件号码 {mask_id(num.value)} {detail}", num.evidence)]
    except ValidationError:
        return [error("ID_NUMBER_FORMAT", key, f"{who}证件号码 {mask_id(num.value)} 格式不正确", num.evidence)]
    return []


def _form_findings(fields: dict[str, Field], profile: OfficeProfile, action: Action | None) -> list[Finding]:
    out: list[Finding] = []
    if action:
        for key in profile.required_fields.get(action, ()):
            if key not in fields or not fields[key].value:
                out.append(error("FIELD_MISSING", key, f"申请表中“{zh(key)}”未填写或无法识别"))
    name, cn = fields.get("applicant_name"), fields.get("common_name")
    issues = action is not None and rules(action).issues_certificate
    if name and cn and normalise_name(name.value) != normalise_name(cn.value) and issues:
        out.append(
            error(
                "COMMON_NAME_MISMATCH",
                "common_name",
                f"通用名“{cn.value}”与申请单位名称“{name.value}”不一致（通用名默认应与申请单位名称一致）",
                cn.evidence,
            )
        )
    seal = fields.get("seal_present")
    if seal is not None and seal.value == "否":
        out.append(error("SEAL_MISSING", "seal_present", "申请表未加盖申请单位公章", seal.evidence))
    elif seal is not None and seal.confidence < profile.confidence_threshold:
        out.append(
            warning(
                "SEAL_UNCERTAIN",
                "seal_present",
                "申请表上的公章不是红色或不清晰（可能为复印件），请核对原件",
                seal.evidence,
            )
        )
    sig = fields.get("signature_present")
    if sig is not None and sig.value == "否":
        out.append(
            error(
                "SIGNATURE_MISSING",
                "signature_present",
                "申请表的法定代表人/主要负责人（或授权代理人）未签字",
                sig.evidence,
            )
        )
    elif sig is not None and sig.confidence < profile.confidence_threshold:
        out.append(
            warning(
                "SIGNATURE_UNCERTAIN",
                "signature_present",
                "申请表签字处笔迹较淡或较少，无法确认已签字，请核对原件",
                sig.evidence,
            )
        )
    alg = fields.get("algorithm")
    if alg and alg.value != "SM2":
        out.append(error("ALGORITHM_NOT_SM2", "algorithm", f"算法应为 SM2（申请表填写为“{alg.value}”）", alg.evidence))
    years = fields.get("validity_years")
    expected = str(profile.raw.get("profile", {}).get("validity_years", 10))
    if years and years.value != expected:
        out.append(
            error(
                "VALIDITY_YEARS",
                "validity_years",
                f"证书有效期应为 {expected} 年（申请表为“{years.value}”）",
                years.evidence,
            )
        )
    return out


CSR_MATERIAL = "证书申请文件（.csr）"


def required_materials(profile: OfficeProfile, action: Action) -> dict[str, str]:
    """The documents an action needs: the profile's list, plus the CSR whenever the action issues."""
    needed = dict(profile.materials.get(action, {}))
    if rules(action).issues_certificate:
        needed.setdefault(str(DocKind.CSR), CSR_MATERIAL)
    return needed


def _materials(documents: list[Document], profile: OfficeProfile, action: Action | None) -> list[Finding]:
    if not action:
        return []
    present = {d.kind for d in documents}
    out = []
    for kind, label in required_materials(profile, action).items():
        if DocKind(kind) not in present:
            out.append(error("MATERIAL_MISSING", None, f"缺少申请材料：{label}"))
    return out


# attachments whose fields the cross-document checks compare, with the key prefix of those fields
CHECKED_ATTACHMENTS = {
    DocKind.BUSINESS_LICENSE: ("license.", "营业执照"),
    DocKind.ID_CARD: ("id_card.", "身份证复印件"),
    DocKind.PRODUCT_CERT: ("product_cert.", "商用密码产品认证证书复印件"),
}


def _unread_attachments(documents: list[Document], fields: dict[str, Field]) -> list[Finding]:
    """A licence, ID or product certificate copy of which nothing was read: the checks against it were not
    made, so a person compares it (an unreadable copy must not pass for one that agrees)."""
    out = []
    for doc in documents:
        if doc.kind not in CHECKED_ATTACHMENTS:
            continue
        prefix, label = CHECKED_ATTACHMENTS[doc.kind]
        first = doc.first_page or 1
        pages = range(first, first + max(doc.pages, 1))
        read = any(
            key.startswith(prefix)
            and f.evidence is not None
            and f.evidence.document == doc.name
            and (f.evidence.page is None or f.evidence.page in pages)
            for key, f in fields.items()
        )
        if not read:
            where = f"（第 {first} 页起）" if doc.first_page else ""
            out.append(
                warning("ATTACHMENT_UNREAD", None, f"未能从{label}“{doc.name}”{where}中识别出任何信息，请人工核对")
            )
    return out


def _csr_findings(case: CaseInput, action: Action | None) -> list[Finding]:
    out: list[Finding] = []
    csr_docs = [d for d in case.documents if d.kind == DocKind.CSR]
    if not csr_docs:
        return out
    if action is not None and not rules(action).issues_certificate:
        what = rules(action).title_zh
        return [info("CSR_IGNORED", None, f"{what}业务不签发证书，随附的证书申请文件“{csr_docs[0].name}”不予处理")]
    rsa_refused = bool(case.profile.raw.get("rsa_allowed_until"))
    doc = csr_docs[0]
    parsed, findings = check_csr(doc.name, case.files.get(doc.name, b""), rsa_refused)
    out.extend(findings)
    if parsed.error:
        return out
    name = case.fields.get("applicant_name")
    cn = parsed.subject.get("common_name")
    o = parsed.subject.get("organization_name")
    expected = case.fields.get("common_name") or name
    if expected and cn and normalise_name(cn) != normalise_name(expected.value):
        out.append(
            error("CSR_CN_MISMATCH", "csr.subject_cn", f"证书申请文件的通用名“{cn}”与申请表“{expected.value}”不一致")
        )
    if name and o and normalise_name(o) != normalise_name(name.value):
        out.append(
            error("CSR_O_MISMATCH", "csr.subject_o", f"证书申请文件的单位名称“{o}”与申请单位“{name.value}”不一致")
        )
    if case.key_seen_before and parsed.fingerprint:
        other = case.key_seen_before(parsed.fingerprint)
        if other:
            out.append(
                error(
                    "CSR_KEY_REUSED",
                    "csr.key_fingerprint",
                    f"该公钥已在案件 {other} 中签发过证书，同一密钥不得重复签发",
                )
            )
    return out


def _norm_serial(serial: str) -> str:
    return serial.strip().upper().lstrip("0") or "0"


CONFIRMED = "FIELD_CONFIRMED"  # an info finding: the field's value is vouched for by a record, not by its reading


def _old_certificate_findings(case: CaseInput, action: Action | None) -> list[Finding]:
    """Actions on an old certificate (renew, replace, change, revoke): it is named (序号 on the form or the .cer
    file), ours, active, matches the form's serial and the organisation."""
    if action is None or not rules(action).needs_old_certificate:
        return []
    out: list[Finding] = []
    field = case.fields.get("old_cert_serial")
    cert_docs = [d for d in case.documents if d.kind == DocKind.CERTIFICATE]
    file_serial = None
    der_sha = None
    if cert_docs:
        data = case.files.get(cert_docs[0].name, b"")
        parsed = parse_certificate(data)
        if parsed.error or not parsed.serial_hex:
            out.append(error("OLD_CERT_UNREADABLE", None, f"证书文件“{cert_docs[0].name}”无法解析"))
        else:
            file_serial = parsed.serial_hex
            der_sha = sha256(parsed.der or b"").hexdigest()
            if field and _norm_serial(field.value) != _norm_serial(file_serial):
                out.append(
                    error(
                        "OLD_CERT_SERIAL_MISMATCH",
                        "old_cert_serial",
                        f"申请表填写的证书序号 {field.value} 与提交的证书文件序号 {file_serial} 不一致",
                        field.evidence,
                    )
                )
    serial = file_serial or (field.value if field else None)
    if not serial and not out:
        text = f"{rules(action).title_zh}须提供原证书：申请表未填写原证书序号，也未附原证书文件"
        out.append(error("OLD_CERT_MISSING", "old_cert_serial", text))
    if not serial or case.certificate_lookup is None:
        return out
    known = case.certificate_lookup(_norm_serial(serial))
    if known is None or (der_sha and known.der_sha256 and der_sha != known.der_sha256):
        out.append(error("OLD_CERT_UNKNOWN", "old_cert_serial", f"序号为 {serial} 的证书不是本受理点签发的证书"))
        return out
    org = case.fields.get("org_code")
    if org and known.org_code and org.value != known.org_code:
        out.append(
            error(
                "OLD_CERT_ORG_MISMATCH",
                "old_cert_serial",
                f"原证书属于机构代码 {known.org_code}，与申请表 {org.value} 不一致",
            )
        )
    if (
        field is not None
        and not file_serial
        and org is not None
        and org.value == known.org_code
        and known.state != "revoked"
        and field.confidence < case.profile.confidence_threshold
    ):
        # a serial of 16–18 hex digits read a little unsurely (a letter repaired to its digit) that is exactly
        # one of our certificates of this organisation is that certificate: our register vouches for it
        out.append(
            info(
                CONFIRMED,
                "old_cert_serial",
                f"原证书序号 {serial}（识别置信度 {field.confidence:.2f}）与本受理点签发给该单位的证书一致",
                field.evidence,
            )
        )
    revoking_now = rules(action).old_certificate is OldCertificate.REVOKE_NOW
    if known.state == "revoked":
        out.append(error("OLD_CERT_REVOKED", "old_cert_serial", f"序号为 {serial} 的证书已经注销"))
    elif revoking_now and known.not_after and known.not_after.replace(tzinfo=None) < datetime.now():
        out.append(error("OLD_CERT_EXPIRED", "old_cert_serial", f"序号为 {serial} 的证书已过期，到期后自动注销"))
    return out


TEXT_FORMS = (TextSource.DOCX, TextSource.PDF_TEXT, TextSource.XLSX)


def _unsealed_form(documents: list[Document], fields: dict[str, Field], profile: OfficeProfile) -> list[Finding]:
    """A 申请表 sent as a DOCX / text-layer PDF / XLSX carries neither the 公章 nor the signature the seeds
    require.  Office policy ``unsealed_text_form``: ``review`` (default: a reviewer checks the sealed paper
    original or a sealed scan) or ``accept`` (the office takes typed forms as they are)."""
    policy = str(profile.raw.get("unsealed_text_form", "review"))
    if policy == "accept" or "seal_present" in fields:
        return []
    forms = [d for d in documents if d.kind == DocKind.APPLICATION_FORM and d.text_source in TEXT_FORMS]
    if not forms:
        return []
    return [
        warning(
            "FORM_NOT_SEALED",
            "seal_present",
            f"申请表“{forms[0].name}”为电子文档，无法确认已加盖申请单位公章并签字，请核对盖章签字的原件或扫描件",
            Evidence(forms[0].name),
        )
    ]


REVOKING = (OldCertificate.REVOKE_NOW, OldCertificate.REVOKE_BEFORE_ISSUE, OldCertificate.REVOKE_AFTER_ISSUE)


def _revocation_form(fields: dict[str, Field], action: Action | None) -> list[Finding]:
    """A request that revokes a certificate (注销, and the revoke half of 补办/变更) is proved by the 申请表 with
    the organisation's 公章 and the signature, which only a scan shows (a typed form carries neither, whatever
    ``unsealed_text_form`` says); the certificate itself is public and proves nothing."""
    if action is None or rules(action).old_certificate not in REVOKING:
        return []
    seal, sig = fields.get("seal_present"), fields.get("signature_present")
    if seal is not None and sig is not None and seal.value == "是" and sig.value == "是":
        return []
    missing = [what for what, f in (("申请单位公章", seal), ("法定代表人签字", sig)) if f is None or f.value != "是"]
    text = (
        f"{rules(action).title_zh}将注销原证书，须提交加盖申请单位公章并签字的申请表扫描件"
        f"（未见{'、'.join(missing)}；证书文件是公开的，不能证明申请人有权注销）"
    )
    return [error("REVOCATION_FORM_NOT_SEALED", "seal_present", text, seal.evidence if seal else None)]


MODE_ROUTE_ZH = {
    "集中办理": "经本机构数字证书经办人统一向RA注册管理员申请（先完成内部授权与内部审批）",
    "自主办理": "由数字证书申请人直接向RA注册管理员申请（直接进入资料审核）",
}


def _mode(fields: dict[str, Field], profile: OfficeProfile) -> list[Finding]:
    """政务外网 (seed 003) 办理方式: recorded on the case when the form gives a ``mode`` field (the profile's
    ``modes``); an unknown value is a warning.  Its form has no such field yet, so nothing is read today."""
    modes = profile.settings.modes if profile.settings is not None else []
    f = fields.get("mode")
    if not modes or f is None or not f.value:
        return []
    if f.value not in modes:
        text = f"办理方式“{f.value}”不是本受理点的办理方式（{'、'.join(modes)}），请核对"
        return [warning("MODE_UNKNOWN", "mode", text, f.evidence)]
    route = MODE_ROUTE_ZH.get(f.value, "")
    return [info("MODE", "mode", f"办理方式：{f.value}" + (f"，{route}" if route else ""), f.evidence)]


def _retired_serial(case: CaseInput, action: Action | None) -> str | None:
    """The held certificate this case takes out of use (its .cer or the form's 序号), if it names one."""
    if action is None or not rules(action).needs_old_certificate:
        return None
    named = {_norm_serial(f.value) for key in ("cert.serial", "old_cert_serial") if (f := case.fields.get(key))}
    return next((s for s in case.held_certificates if _norm_serial(s) in named), None)


def _value(fields: dict[str, Field], key: str) -> str | None:
    return fields[key].value if key in fields else None


def validate_case(case: CaseInput) -> tuple[str | None, list[Finding]]:
    """(category, findings): the category as the profile names it; what is checked follows its action."""
    category, findings = _category(case.fields, case.profile)
    action = case.profile.action_of(category)
    findings += _identifier_findings(case.fields)
    findings += _form_findings(case.fields, case.profile, action)
    findings += _materials(case.documents, case.profile, action)
    findings += _unread_attachments(case.documents, case.fields)
    findings += _unsealed_form(case.documents, case.fields, case.profile)
    findings += _revocation_form(case.fields, action)
    findings += _mode(case.fields, case.profile)
    findings += _csr_findings(case, action)
    findings += _old_certificate_findings(case, action)
    findings += crossdoc.consistency(case.fields)
    findings += crossdoc.suspicious_email_domain(case.fields)
    raw = case.profile.raw
    if action is not None and rules(action).issues_certificate:
        findings += crossdoc.product_certificate(
            case.fields,
            case.registry,
            case.registry_size,
            case.today or date.today(),
            tuple(raw.get("service_device_types") or crossdoc.DEFAULT_SERVICE_TYPES),
            bool(raw.get("product_registry_required", True)),
        )
    findings += crossdoc.quota(
        _value(case.fields, "org_code"),
        case.active_certificates,
        int(raw.get("certificates_per_org", 0) or 0),
        action is not None and rules(action).issues_certificate,
        held=case.held_certificates,
        retired=_retired_serial(case, action),
    )
    if case.subject_company and case.fields.get("applicant_name"):
        if normalise_name(case.subject_company) != normalise_name(case.fields["applicant_name"].value):
            findings.append(
                warning(
                    "MAIL_SUBJECT_MISMATCH",
                    "applicant_name",
                    f"邮件主题中的企业名称“{case.subject_company}”与申请单位不一致",
                )
            )
    return category, findings


# Findings a reviewer would normally answer with 不予受理 (reject with reasons) rather than 补正 (correct)
REJECT_CODES = frozenset(
    {
        "CSR_SIGNATURE_INVALID",
        "CSR_KEY_NOT_SM2",
        "CSR_KEY_INVALID",
        "CSR_KEY_REUSED",
        "OLD_CERT_UNKNOWN",
        "OLD_CERT_REVOKED",
        "OLD_CERT_EXPIRED",
        "PRODUCT_CERT_UNKNOWN",
        "PRODUCT_CERT_EXPIRED",
        "PRODUCT_NOT_SERVICE_TYPE",
        "CATEGORY_NOT_OFFERED",
        "ORG_CERT_QUOTA",
        "DUPLICATE_SUBMISSION",
    }
)


def proposal(findings: list[Finding]) -> str | None:
    """What the reviewer is proposed to do: ``reject`` (不予受理, with the reasons) or ``correct`` (补正)."""
    serious = [f for f in findings if f.severity in (Severity.ERROR, Severity.WARNING)]
    if not serious:
        return None
    return "reject" if any(f.code in REJECT_CODES for f in serious) else "correct"


def route(
    fields: dict[str, Field], findings: list[Finding], profile: OfficeProfile, category: str | None
) -> tuple[Route, list[Finding]]:
    """Route plus the low-confidence findings that explain a review route."""
    extra: list[Finding] = []
    action = profile.action_of(category)
    required = set(profile.required_fields.get(action, ()) if action else ()) | {"category"}
    confirmed = {f.field for f in findings if f.code == CONFIRMED}
    for key in sorted(required - confirmed):
        f = fields.get(key)
        if f is not None and f.confidence < profile.confidence_threshold:
            extra.append(
                warning(
                    "LOW_CONFIDENCE",
                    key,
                    f"“{zh(key)}”识别置信度 {f.confidence:.2f} 低于阈值 {profile.confidence_threshold:.2f}，请人工核对",
                    f.evidence,
                )
            )
    everything = findings + extra
    doubtful = any(f.severity in (Severity.ERROR, Severity.WARNING) for f in everything)
    return (Route.REVIEW if doubtful or action is None else Route.ISSUE), extra
