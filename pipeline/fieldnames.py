"""The Chinese name of every field key, as users see it in findings, the review workspace and its refusals."""

from __future__ import annotations

FIELD_NAMES_ZH = {
    "category": "申请类别",
    "applicant_name": "申请单位",
    "org_code": "机构代码（统一社会信用代码）",
    "address": "通信地址",
    "email": "邮件地址",
    "legal_rep_name": "法定代表人/主要负责人",
    "legal_rep_phone": "法定代表人联系电话",
    "legal_rep_id_type": "法定代表人证件类型",
    "legal_rep_id_number": "法定代表人证件号码",
    "handler_name": "经办人",
    "handler_phone": "经办人联系电话",
    "handler_id_type": "经办人证件类型",
    "handler_id_number": "经办人证件号码",
    "crypto_product_cert_no": "商用密码产品认证证书编号",
    "common_name": "通用名",
    "algorithm": "算法",
    "validity_years": "证书有效期",
    "old_cert_serial": "原证书（待注销证书）序号",
    "seal_present": "申请单位公章",
    "signature_present": "签字",
    "license.org_code": "营业执照·统一社会信用代码",
    "license.name": "营业执照·名称",
    "license.legal_rep": "营业执照·法定代表人",
    "license.address": "营业执照·住所",
    "product_cert.number": "认证证书·证书编号",
    "product_cert.product": "认证证书·产品名称",
    "product_cert.model": "认证证书·型号",
    "product_cert.client": "认证证书·委托人",
    "product_cert.maker": "认证证书·生产者",
    "product_cert.valid_until": "认证证书·有效期至",
    "invoice.buyer": "发票·购买方",
    "invoice.amount": "发票·金额",
    "csr.subject_cn": "CSR·通用名",
    "csr.subject_o": "CSR·组织",
    "csr.key_algorithm": "CSR·公钥算法",
    "csr.key_fingerprint": "CSR·公钥指纹",
    "cert.serial": "原证书·序号",
    "cert.subject_cn": "原证书·通用名",
}


def zh(key: str) -> str:
    """The Chinese name of a field key (ID copies are numbered: id_card.2.number → 身份证2·公民身份号码)."""
    if key in FIELD_NAMES_ZH:
        return FIELD_NAMES_ZH[key]
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "id_card":
        names = {"name": "姓名", "number": "公民身份号码", "valid": "有效期限"}
        return f"身份证{parts[1]}·{names.get(parts[2], parts[2])}"
    return key
