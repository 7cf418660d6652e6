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
    doc.add_paragraph("尊敬的客户 {customer}：")
    # {boxes}: one box per category the office offers, the case's own ticked; {outcome}: the result of its
    # action (新办/增办, 更新, 补办, 变更, 注销, 解锁) with every date and serial filled (pipeline/issue/notice.py)
    doc.add_paragraph("您提交的 {boxes} 申请已办理完成。现将办理结果告知如下：")
    doc.add_paragraph("· {outcome_title}")
    doc.add_paragraph("{outcome}")
    doc.add_paragraph("为便于您使用数字证书，现将交付的文件罗列如下：")
    doc.add_paragraph("{files}")
    doc.add_paragraph("{note}")
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
