"""Build forms/templates/*.docx — the 《申请受理告知书》 modelled on seed 000 附件2, and the reviewers'
补正材料通知书 (materials missing) and 不予受理通知书 (application refused).

Placeholders in braces are filled by pipeline/issue/notice.py; run this script only to change the
template's layout (the .docx is committed so offices can edit it in Word, keeping the placeholders).
"""

from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

OUT = Path(__file__).with_name("notice.docx")
DECISIONS = {
    "correction.docx": (
        "{form_title}申请补正材料通知书",
        "经审查，您提交的申请材料不齐全或不符合要求，请于{deadline}前补正以下材料后重新提交：",
        "补正内容：",
    ),
    "refusal.docx": (
        "{form_title}申请不予受理通知书",
        "经审查，您提交的申请不符合受理条件，决定不予受理。理由如下：",
        "不予受理理由：",
    ),
}


def build() -> None:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.size = Pt(11)
    title = doc.add_paragraph("{form_title}申请受理告知书")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.runs[0].font.size = Pt(16)
    title.runs[0].bold = True
    doc.add_paragraph("受理编号：{case_id}")
    doc.add_paragraph("尊敬的电子口岸客户 {customer}：")
    doc.add_paragraph(
        "您提交的 {box_new}证书新办  {box_update}证书更新  {box_revoke}证书注销 申请已办理完成。现将办理结果告知如下："
    )
    doc.add_paragraph("· 证书新办")
    doc.add_paragraph(
        "您的证书已于{new_issue_y}年{new_issue_m}月{new_issue_d}日签发，有效期至{new_until_y}年{new_until_m}月{new_until_d}日"
        "（请您在证书到期前30天内到我单位办理新证书）。"
    )
    doc.add_paragraph("为便于您使用数字证书，现将交付的文件罗列如下：")
    doc.add_paragraph("{files}")
    doc.add_paragraph("SM2算法根证书可通过中国电子口岸门户网站--客服专区--下载中心—认证服务栏目内下载")
    doc.add_paragraph("· 证书更新")
    doc.add_paragraph(
        "您的证书已于{upd_issue_y}年{upd_issue_m}月{upd_issue_d}日签发，有效期至{upd_until_y}年{upd_until_m}月{upd_until_d}日"
        "（请您在证书到期前30天内到我单位办理新证书）。您的原证书[序号：{upd_old_serial}]即将在新证书生效后1个月后注销"
        "（{upd_revoke_date}）。"
    )
    doc.add_paragraph("· 证书注销")
    doc.add_paragraph("您的证书[序号：{revoked_serial}]已于{rev_y}年{rev_m}月{rev_d}日注销。")
    doc.add_paragraph("本人已知晓上述内容。")
    doc.add_paragraph("经办人签字：")
    table = doc.add_table(rows=3, cols=2)
    table.style = "Table Grid"
    table.cell(0, 0).text = "{office_name}"
    table.cell(0, 1).text = "申请单位：{customer}"
    table.cell(1, 0).text = "联系电话：{office_phone}"
    table.cell(1, 1).text = "经办人：{handler}"
    table.cell(2, 0).text = "日期：{today}"
    table.cell(2, 1).text = "日期："
    doc.add_paragraph("本告知书一式两份，申请者和受理机构各留存一份。")
    doc.save(str(OUT))


def build_decision(name: str, title: str, lead: str, heading: str) -> Path:
    doc = Document()
    doc.styles["Normal"].font.size = Pt(11)
    p = doc.add_paragraph(title)
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.runs[0].font.size = Pt(16)
    p.runs[0].bold = True
    doc.add_paragraph("受理编号：{case_id}")
    doc.add_paragraph("{customer}：")
    doc.add_paragraph("您于{received}提交的数字证书{category}申请已收悉。" + lead)
    doc.add_paragraph(heading)
    doc.add_paragraph("{reasons}")
    doc.add_paragraph("如有疑问，请致电{office_phone}。")
    table = doc.add_table(rows=2, cols=2)
    table.style = "Table Grid"
    table.cell(0, 0).text = "{office_name}"
    table.cell(0, 1).text = "经办人：{handler}"
    table.cell(1, 0).text = "日期：{today}"
    table.cell(1, 1).text = "复核人：{reviewer}"
    out = Path(__file__).with_name(name)
    doc.save(str(out))
    return out


if __name__ == "__main__":
    build()
    print(OUT)
    for name, parts in DECISIONS.items():
        print(build_decision(name, *parts))
