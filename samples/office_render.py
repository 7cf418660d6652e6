"""Render labelled submissions the way offices really receive them (the second, independent renderer).

    python samples/office_render.py --out /tmp/office --cases 24 --seed 11     # a random labelled corpus
    python samples/office_render.py --committed --out samples/office --seed 2611  # the committed samples

The 申请表 is typed into a word processor (python-docx: a real Word table laid out after seed 000 杭州
《中国电子口岸机构证书申请表》 / seed 001 厦门《中国电子口岸数字证书申请表》, with per-case column widths,
margins, fonts and sizes), printed to PDF by LibreOffice (one ``soffice`` call for a whole batch) and
rasterised by ``pdftoppm``; scans then get a red seal over 申请单位公章, a handwritten signature and date,
and photocopy degradation.  Attachments (营业执照, 身份证 copies, 商用密码产品认证证书, 发票) are drawn with
PIL in layouts of their own.  Kinds: ``scan`` (JPG or image-only PDF), ``text-pdf`` (LibreOffice's PDF),
``docx``, ``stack`` (one multi-page scanner PDF, pages shuffled, one upside down) and ``photo``
(12-megapixel phone photos on a desk).  Each case folder holds only the submission's files; the truth
goes to ``<out>/truth/<case>.json``; ``<out>/registry.csv`` lists the product certificates.

Nothing here draws with samples/generate.py's layout code; only its ``make_csr`` (openssl) is reused.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from stdnum.cn import ric, uscc

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- fonts

NOTO = "/usr/share/fonts/opentype/noto"
FONT_FILES = {  # family as LibreOffice knows it → (file, index) for PIL
    "Noto Serif CJK SC": (f"{NOTO}/NotoSerifCJK-Regular.ttc", 2),
    "Noto Sans CJK SC": (f"{NOTO}/NotoSansCJK-Regular.ttc", 2),
    "AR PL UMing CN": ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    "WenQuanYi Zen Hei": ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    "AR PL UKai CN": ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0),
}
BOLD_FILES = {
    "Noto Serif CJK SC": (f"{NOTO}/NotoSerifCJK-Bold.ttc", 2),
    "Noto Sans CJK SC": (f"{NOTO}/NotoSansCJK-Bold.ttc", 2),
}
LABEL_FONTS = ["Noto Serif CJK SC", "Noto Sans CJK SC", "AR PL UMing CN", "WenQuanYi Zen Hei"]
HAND_FONT = "AR PL UKai CN"
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def available_fonts() -> list[str]:
    return [f for f in LABEL_FONTS if Path(FONT_FILES[f][0]).exists()]


def pil_font(family: str, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    path, index = (BOLD_FILES.get(family) if bold else None) or FONT_FILES.get(family, (None, 0))
    for p, i in ((path, index), FONT_FILES["WenQuanYi Zen Hei"], FONT_FILES["Noto Sans CJK SC"]):
        if p and Path(p).exists():
            return ImageFont.truetype(p, size, index=i)
    raise SystemExit("no CJK font: apt-get install fonts-noto-cjk fonts-wqy-zenhei fonts-arphic-ukai")


def hand_font(size: int) -> ImageFont.FreeTypeFont:
    return pil_font(HAND_FONT if Path(FONT_FILES[HAND_FONT][0]).exists() else "WenQuanYi Zen Hei", size)


# --------------------------------------------------------------------------- values

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余杜叶程苏魏吕丁任沈姚卢柯庄洪黎骆"
)
COMPOUND = ["欧阳", "司马", "上官", "诸葛", "东方"]
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志海燕晓东红梅雪晨宇航思远子涵浩然欣怡嘉琪俊德淑珍"
CITIES = {
    "xiamen": {
        "names": ["厦门", "厦门", "厦门", "福建", "厦门市"],
        "division": ["350200", "350203", "350206", "350211"],
    },
    "hangzhou": {"names": ["杭州", "杭州", "浙江", "杭州市", "杭州"], "division": ["330100", "330106", "330108"]},
}
ID_AREAS = {
    "xiamen": ["350203", "350206", "350211", "350212", "350583", "350102", "350627"],
    "hangzhou": ["330106", "330105", "330108", "330182", "330302", "330402"],
}
OTHER_AREAS = ["440106", "320106", "110105", "420106", "362502", "430104"]
DISTRICTS = {
    "xiamen": ["思明区", "湖里区", "海沧区", "集美区", "同安区", "翔安区"],
    "hangzhou": ["西湖区", "拱墅区", "滨江区", "上城区", "余杭区", "萧山区"],
}
ROADS = [
    "湖滨南路",
    "嘉禾路",
    "象兴一路",
    "仙岳路",
    "环岛东路",
    "文三路",
    "天目山路",
    "江南大道",
    "莫干山路",
    "观音山路",
]
TRADE_NAMES = [
    "海辰",
    "鹭岛",
    "星河",
    "瑞达",
    "华信",
    "恒通",
    "中科",
    "鼎盛",
    "嘉和",
    "东渡",
    "象屿",
    "新锐",
    "天行",
    "融汇",
    "启明",
    "远海",
    "国贸",
    "建发",
    "金桥",
    "信诚",
    "安恒",
    "数字之光",
]
TRADES = [
    "密码科技",
    "信息技术",
    "网络安全",
    "电子科技",
    "数据服务",
    "国际贸易",
    "供应链管理",
    "软件",
    "电子",
    "物流",
    "报关",
    "跨境电子商务",
    "智能科技",
]
LONG_TRADES = ["国际物流供应链管理服务", "跨境电子商务综合服务", "信息安全技术研究发展", "进出口贸易代理服务"]
ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
PRODUCTS = [
    ("服务器密码机", ["SJJ1012", "SJJ1528-G", "SJJ1988", "SJJ19113", "HSM-5000"]),
    ("签名验签服务器", ["SRJ1309", "GW-SVS-2000", "SRJ1702", "NetSign-V6"]),
    ("云服务器密码机", ["SJJ1995", "CloudHSM-3"]),
    ("时间戳服务器", ["SJJ1624", "TSA-1200"]),
    ("金融数据密码机", ["SJJ1731", "FHSM-9000"]),
]
MAKERS = [
    "三未信安科技股份有限公司",
    "格尔软件股份有限公司",
    "渔翁信息技术股份有限公司",
    "江南天安科技有限公司",
    "北京数字认证股份有限公司",
    "卫士通信息产业股份有限公司",
]
ISSUERS = {"xiamen": "厦门市公安局{d}分局", "hangzhou": "杭州市公安局{d}分局"}
DOMAINS = ["haichen", "ludao", "xinghe", "ruida", "huaxin", "dongdu", "xiangyu", "yuanhai", "anheng", "qiming"]


def org_check(code8: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    weights = [3, 7, 9, 10, 5, 8, 4, 2]
    vals = [int(c) if c.isdigit() else ord(c) - 55 for c in code8]
    c9 = 11 - sum(w * v for w, v in zip(weights, vals, strict=True)) % 11
    return {10: "X", 11: "0"}.get(c9, str(c9))


def make_uscc(rng: random.Random, division: str) -> str:
    if rng.random() < 0.55:
        body8 = "".join(rng.choice("0123456789") for _ in range(8))
    else:
        body8 = "MA" + "".join(rng.choice(ORG_ALPHABET) for _ in range(6))
    code17 = "91" + division + body8 + org_check(body8)
    return code17 + uscc.calc_check_digit(code17)


def bad_uscc(code: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return code[:-1] + alphabet[(alphabet.index(code[-1]) + 5) % len(alphabet)]


def make_ric(rng: random.Random, area: str) -> str:
    body = (
        f"{area}{rng.randint(1960, 2000):04d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(1, 999):03d}"
    )
    return body + ric.calc_check_digit(body + "0")


def bad_ric(number: str) -> str:
    digits = "0123456789X"
    return number[:-1] + digits[(digits.index(number[-1]) + 3) % 11]


def make_mobile(rng: random.Random) -> str:
    prefix = rng.choice(["130", "131", "133", "135", "136", "138", "139", "150", "151", "158", "159", "177"])
    prefix = rng.choice([prefix, rng.choice(["170", "176", "180", "182", "186", "187", "189"])])
    return prefix + f"{rng.randint(0, 99999999):08d}"


def make_landline(rng: random.Random, office: str) -> str:
    return (
        ("0592" + f"{rng.randint(2000000, 8999999)}")
        if office == "xiamen"
        else ("0571" + f"{rng.randint(81000000, 89999999)}")
    )


def make_person(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.05:
        return rng.choice(COMPOUND) + "".join(rng.choice(GIVEN) for _ in range(2))
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(1 if r < 0.35 else 2))


def make_company(rng: random.Random, office: str) -> str:
    city = rng.choice(CITIES[office]["names"])
    word = rng.choice(TRADE_NAMES)
    trade = rng.choice(TRADES)
    r = rng.random()
    if r < 0.12:
        return f"{city}{word}{trade}（集团）有限公司"
    if r < 0.24:
        return f"{word}{trade}（{city.rstrip('市')}）有限公司"
    if r < 0.40:  # long names that must wrap in a narrow cell (20–28 characters)
        name = (
            f"{city}{word}{rng.choice(TRADE_NAMES)}{rng.choice(LONG_TRADES)}{rng.choice(['有限公司', '股份有限公司'])}"
        )
        while len(name) > 28:
            name = name.replace(rng.choice(TRADE_NAMES), "", 1) if len(name) > 28 else name
            name = name[:4] + name[6:] if len(name) > 28 else name
        return name
    if r < 0.55:
        return f"{city}{word}{trade}股份有限公司"
    return f"{city}{word}{trade}有限公司"


def make_email(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"{rng.randint(10000000, 3999999999)}@{rng.choice(['qq.com', '163.com', '126.com'])}"
    user = rng.choice(["ca", "it", "admin", "pki", "security", "zhangwei", "cert", "ops", "xmport"])
    if rng.random() < 0.5:
        user += str(rng.randint(1, 99))
    domain = rng.choice(DOMAINS) + rng.choice(["-tech", "", "group", "-sec"])
    return f"{user}@{domain}.{rng.choice(['com', 'com.cn', 'cn', 'net'])}"


def make_address(rng: random.Random, office: str) -> str:
    city = "厦门市" if office == "xiamen" else "杭州市"
    addr = f"{city}{rng.choice(DISTRICTS[office])}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
    if rng.random() < 0.5:
        addr += f"{rng.randint(1, 30)}{rng.choice(['层', '楼'])}{rng.choice(['', f'{rng.randint(1, 20):02d}单元'])}"
    return addr


def make_product_cert(rng: random.Random) -> str:
    return f"GM0033122{rng.randint(2019, 2025)}{rng.randint(1, 1999):04d}"


def make_serial(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randint(16, 20)))


def case_truth(rng: random.Random, office: str, category: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(form fields, attachment values) for one consistent applicant."""
    if category is None:
        category = (
            rng.choices(["新办", "注销"], [0.85, 0.15])[0]
            if office == "xiamen"
            else rng.choices(["新办", "更新", "注销"], [0.7, 0.15, 0.15])[0]
        )
    company = make_company(rng, office)
    areas = ID_AREAS[office] + OTHER_AREAS[:2]
    f: dict[str, str] = {
        "category": category,
        "applicant_name": company,
        "org_code": make_uscc(rng, rng.choice(CITIES[office]["division"])),
    }
    if office == "xiamen":
        f["email"] = make_email(rng)
    else:
        f["address"] = make_address(rng, office)
    f["legal_rep_name"] = make_person(rng)
    if office == "xiamen":
        f["legal_rep_phone"] = make_mobile(rng)
    f["legal_rep_id_type"] = rng.choices(["居民身份证", "身份证"], [0.8, 0.2])[0]
    f["legal_rep_id_number"] = make_ric(rng, rng.choice(areas))
    f["handler_name"] = make_person(rng)
    f["handler_phone"] = make_mobile(rng)
    f["handler_id_type"] = rng.choices(["居民身份证", "身份证"], [0.8, 0.2])[0]
    f["handler_id_number"] = make_ric(rng, rng.choice(areas))
    f["crypto_product_cert_no"] = make_product_cert(rng)
    f["common_name"] = company
    f["algorithm"] = "SM2"
    f["validity_years"] = "10"
    if category in ("注销", "更新"):
        f["old_cert_serial"] = make_serial(rng)
    if category == "注销" and rng.random() < 0.6:
        del f["crypto_product_cert_no"]
        if rng.random() < 0.6:
            del f["common_name"]
    product, models = rng.choice(PRODUCTS)
    cert_no = f.get("crypto_product_cert_no") or make_product_cert(rng)
    year = int(cert_no[9:13])
    start = rng.randint(2012, 2022)
    district = rng.choice(DISTRICTS[office])[:-1]
    att = {
        "license.org_code": f["org_code"],
        "license.name": company,
        "license.legal_rep": f["legal_rep_name"],
        "license.address": make_address(rng, office),
        "id_card.1.name": f["legal_rep_name"],
        "id_card.1.number": f["legal_rep_id_number"],
        "id_card.1.valid": f"{start}.{rng.randint(1, 12):02d}.{rng.randint(1, 28):02d}-"
        + rng.choice([f"{start + 20}.{rng.randint(1, 12):02d}.{rng.randint(1, 28):02d}", "长期"]),
        "id_card.2.name": f["handler_name"],
        "id_card.2.number": f["handler_id_number"],
        "id_card.2.valid": (s2 := f"{start + 1}.{rng.randint(1, 12):02d}.{rng.randint(1, 28):02d}")
        + f"-{int(s2[:4]) + rng.choice([10, 20])}{s2[4:]}",
        "product_cert.number": cert_no,
        "product_cert.product": product,
        "product_cert.model": rng.choice(models),
        "product_cert.maker": rng.choice(MAKERS),
        # five years from issue, and still valid today (an expired product is a defect of its own)
        "product_cert.valid_until": f"{max(year + 5, 2027)}年{rng.randint(1, 12):02d}月{rng.randint(1, 28):02d}日",
        "invoice.buyer": company,
        "invoice.amount": f"{rng.randint(38, 420) * 1000 + rng.choice([0, 0, 0, 500, 800])}.00",
        "_issuer": ISSUERS[office].format(d=district),
    }
    return f, att


DEFECTS = ["bad-uscc", "bad-id", "landline", "two-categories", "licence-name", "no-seal"]


def apply_defect(defect: str, f: dict[str, str], att: dict[str, str], rng: random.Random, office: str) -> None:
    if defect == "bad-uscc":
        f["org_code"] = bad_uscc(f["org_code"])  # the licence keeps the right code
    elif defect == "bad-id":
        f["handler_id_number"] = bad_ric(f["handler_id_number"])
    elif defect == "landline":
        f["handler_phone"] = make_landline(rng, office)
    elif defect == "licence-name":
        att["license.name"] = make_company(rng, office)
    # two-categories and no-seal change the drawing, not the values


# --------------------------------------------------------------------------- the form (python-docx)

XIAMEN_PROMISE = (
    "我单位已阅读《中国电子口岸数字证书申请须知》，了解数字证书用途、申领和使用过程中的注意事项。"
    "我单位向受理机构提供的信息和资料真实、有效，将按须知要求妥善保管密钥、使用数字证书。特此声明。"
)
HANGZHOU_PROMISE = (
    "我单位已阅读《中国电子口岸机构证书申请须知》，了解机构证书用途、申领和使用过程中的注意事项。"
    "我单位向受理机构提供的信息和资料真实、有效，将按须知要求妥善保管密钥和机构证书。特此声明。"
)
EMAIL_HINT = "此邮件地址将用于接收数字证书和告知书，请务必准确填写，并确保邮箱安全"
TICKS = ["☑", "■", "√", "√□", "pen"]


@dataclass
class FormStyle:
    label_font: str
    value_font: str
    label_pt: float
    value_pt: float
    bold_labels: bool
    valign: str  # top | center | bottom
    value_align: str  # left | center
    margins_cm: tuple[float, float, float, float]  # top, bottom, left, right
    widths_cm: list[float]
    row_cm: float
    product_span: int  # 1 or 2 columns for the long 产品认证证书编号 label
    tick: str
    ticks_pen: bool
    email_hint: str  # before | after | none
    product_hint: bool
    title_pt: float
    attachment_line: str
    date_typed: bool = False
    latin_font: str = ""  # digits and Latin letters typed in a Western font (Word's default split), or the CJK one

    @property
    def text_width_cm(self) -> float:
        return 21.0 - self.margins_cm[2] - self.margins_cm[3]


def column_widths(
    label_pt: float, value_pt: float, text_w: float, label_share: float, weights: list[float], force: bool = False
) -> list[float] | None:
    """The six grid columns (cm): each wide enough for what must not wrap (phone, 18-character code, 联系电话),
    the label column and the 通用名 value column narrow enough that long text wraps.  None: does not fit."""
    lc = label_pt / 72 * 2.54  # one CJK label character, cm
    vc = value_pt / 72 * 2.54
    pad = 0.42  # LibreOffice's default cell margins, both sides
    digit = 0.6 * vc
    mins = [
        label_share * lc + pad,
        4.2 * vc + pad,
        4.3 * lc + pad,  # 联系电话 / 机构代码 / 算法
        max(11 * digit + pad, 4.3 * lc + pad),  # an 11-digit phone
        4.3 * lc + pad,  # 证件类型 / 证书有效期 (wraps)
        5.2 * vc + pad,  # 居民身份证
    ]
    if mins[4] + mins[5] < 18 * digit + pad + 0.2:  # the 18-character code must not wrap
        mins[5] = 18 * digit + pad + 0.2 - mins[4]
    spare = text_w - sum(mins)
    if spare < 0 and not force:
        return None
    spare = max(spare, 0.0)
    widths = [m + spare * w / sum(weights) for m, w in zip(mins, weights, strict=True)]
    return [w * text_w / sum(widths) for w in widths] if not force else widths


def shrink(style: FormStyle) -> FormStyle:
    """The same form typed smaller (when it ran onto a second page)."""
    from dataclasses import replace

    label_pt, value_pt = max(9.0, style.label_pt - 1.5), max(9.0, style.value_pt - 1.5)
    text_w = 21.0 - 1.8 - 1.6
    widths = column_widths(label_pt, value_pt, text_w, 4.0, [0.3, 1, 1, 1, 1, 1], force=True)
    return replace(
        style,
        label_pt=label_pt,
        value_pt=value_pt,
        row_cm=0.75,
        margins_cm=(1.2, 1.0, 1.8, 1.6),
        widths_cm=widths or style.widths_cm,
        title_pt=16,
        attachment_line="",
    )


def random_style(rng: random.Random, scanned: bool) -> FormStyle:
    fonts = available_fonts()
    label_font = rng.choice(fonts)
    value_font = rng.choice([label_font, label_font, HAND_FONT, rng.choice(fonts)])
    label_pt = rng.choice([10, 10.5, 11, 11, 12, 12, 13, 14])
    value_pt = min(14, max(10, label_pt + rng.choice([0, 0, 0.5, 1, 2, -0.5])))
    margins = (rng.uniform(1.4, 2.4), rng.uniform(1.2, 2.0), rng.uniform(1.6, 3.0), rng.uniform(1.5, 2.8))
    text_w = 21.0 - margins[2] - margins[3]
    # the label column: 法定代表人/主要负责人 wraps over 2–3 lines; now and then even 4-character labels wrap
    label_share = rng.uniform(3.6, 4.2) if rng.random() < 0.12 else rng.uniform(4.5, 6.5)
    weights = [rng.uniform(0.0, 0.6), rng.uniform(0.3, 1.3), rng.random(), rng.random(), rng.random(), rng.random()]
    while True:
        widths = column_widths(label_pt, value_pt, text_w, label_share, weights)
        if widths or label_pt <= 9:
            break
        label_pt, value_pt = label_pt - 0.5, max(9.0, value_pt - 0.5)
    widths = widths or column_widths(label_pt, value_pt, text_w, 3.6, weights, force=True)
    tick = rng.choice(TICKS if scanned else TICKS[:4])
    # drawn apart from the case's stream (its draws stay those of the corpora measured before)
    latin = random.Random(repr(margins)).choice(["", "", "Liberation Serif", "Liberation Sans", "DejaVu Sans"])
    return FormStyle(
        label_font=label_font,
        value_font=value_font,
        label_pt=label_pt,
        value_pt=value_pt,
        bold_labels=rng.random() < 0.35,
        valign=rng.choice(["center", "center", "top", "bottom"]),
        value_align=rng.choice(["left", "left", "center"]),
        margins_cm=margins,
        widths_cm=widths,
        row_cm=rng.uniform(0.85, 1.25) if label_pt <= 12 else rng.uniform(0.8, 1.0),
        product_span=rng.choice([1, 2]),
        tick=tick,
        ticks_pen=tick == "pen",
        email_hint=rng.choice(["before", "after", "after", "none"]),
        product_hint=rng.random() < 0.4,
        title_pt=rng.choice([16, 18, 20, 22]),
        attachment_line=rng.choice(["", "附件", "附件一", "附件1"]),
        latin_font=latin,
    )


def _category_lines(f: dict[str, str], office: str, style: FormStyle, extra: str | None) -> list[str]:
    chosen = {f["category"]} | ({extra} if extra else set())
    serial = f.get("old_cert_serial", "")

    def box(option: str) -> str:
        if option not in chosen or style.ticks_pen:
            return "□"
        return {"☑": "☑", "■": "■", "√": "√", "√□": "√□"}[style.tick]

    pad = "\u3000" * 6
    revoke = serial if f["category"] == "注销" else ""
    line1 = f"{box('新办')}新办        {box('注销')}注销（待注销的证书[序号：{revoke or pad}]）"
    if office == "xiamen":
        return [line1]
    update = serial if f["category"] == "更新" else ""
    return [line1, f"{box('更新')}更新 (原证书[序号：{update or pad}]将在新证书生效后一个月注销）"]


def build_form_docx(
    f: dict[str, str], office: str, style: FormStyle, path: Path, extra_category: str | None = None
) -> None:
    from docx import Document
    from docx.enum.table import WD_ALIGN_VERTICAL, WD_ROW_HEIGHT_RULE
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    doc = Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Cm(21.0), Cm(29.7)
    sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin = (Cm(m) for m in style.margins_cm)

    def set_font(run: Any, family: str, pt: float, bold: bool = False) -> None:
        run.font.name = family
        rpr = run._element.get_or_add_rPr()
        rfonts = rpr.find(qn("w:rFonts"))
        if rfonts is None:
            rfonts = OxmlElement("w:rFonts")
            rpr.insert(0, rfonts)
        for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):  # Word's own split: Latin text in its font
            rfonts.set(qn(attr), style.latin_font if style.latin_font and attr != "w:eastAsia" else family)
        run.font.size = Pt(pt)
        run.bold = bold

    def para(container: Any, text: str, family: str, pt: float, bold: bool = False, align: str = "left") -> Any:
        p = container.add_paragraph() if hasattr(container, "add_paragraph") else container
        set_font(p.add_run(text), family, pt, bold)
        p.alignment = {
            "left": WD_ALIGN_PARAGRAPH.LEFT,
            "center": WD_ALIGN_PARAGRAPH.CENTER,
            "right": WD_ALIGN_PARAGRAPH.RIGHT,
        }[align]
        p.paragraph_format.space_after = Pt(0)
        p.paragraph_format.space_before = Pt(0)
        return p

    if style.attachment_line:
        para(doc, style.attachment_line, style.label_font, style.label_pt)
    title = "中国电子口岸数字证书申请表" if office == "xiamen" else "中国电子口岸机构证书申请表"
    tp = para(doc, title, style.label_font, style.title_pt, bold=True, align="center")
    tp.paragraph_format.space_after = Pt(8)

    label = ("label",)
    rows: list[list[tuple[Any, int]]] = []  # (text | ("value", text) | ("category",) | ("section", t), span)
    rows.append([("申请类别", 1), (("category",), 5)])
    rows.append([(("section", "申请者基本信息"), 6)])
    rows.append([("申请单位", 1), (("value", f["applicant_name"]), 2), ("机构代码", 1), (("value", f["org_code"]), 2)])
    if office == "xiamen":
        rows.append([("邮件地址", 1), (("email", f.get("email", "")), 5)])
        rows.append(
            [
                ("法定代表人/主要负责人", 1),
                (("value", f["legal_rep_name"]), 1),
                ("联系电话", 1),
                (("value", f.get("legal_rep_phone", "")), 1),
                ("证件类型", 1),
                (("value", f["legal_rep_id_type"]), 1),
            ]
        )
    else:
        rows.append([("通信地址", 1), (("value", f.get("address", "")), 5)])
        rows.append(
            [
                ("法定代表人/主要负责人", 1),
                (("value", f["legal_rep_name"]), 2),
                ("证件类型", 1),
                (("value", f["legal_rep_id_type"]), 2),
            ]
        )
    rows.append([("证件号码", 1), (("value", f["legal_rep_id_number"]), 5)])
    rows.append(
        [
            ("经办人", 1),
            (("value", f["handler_name"]), 1),
            ("联系电话", 1),
            (("value", f["handler_phone"]), 1),
            ("证件类型", 1),
            (("value", f["handler_id_type"]), 1),
        ]
    )
    rows.append([("证件号码", 1), (("value", f["handler_id_number"]), 5)])
    span = style.product_span
    rows.append(
        [("服务类密码设备商用密码产品认证证书编号", span), (("product", f.get("crypto_product_cert_no", "")), 6 - span)]
    )
    rows.append([(("section", "数字证书信息" if office == "xiamen" else "机构证书信息"), 6)])
    rows.append(
        [
            ("通用名", 1),
            (("value", f["common_name"]) if f.get("common_name") else ("hint", "注销业务此项可不填写"), 1),
            ("算法", 1),
            (("value", "SM2"), 1),
            ("证书有效期", 1),
            (("value", "10年"), 1),
        ]
    )
    rows.append([(("promise",), 6)])
    del label

    table = doc.add_table(rows=0, cols=6)
    table.style = "Table Grid"
    table.autofit = False
    for i, w in enumerate(style.widths_cm):
        table.columns[i].width = Cm(w)
    valign = {"center": WD_ALIGN_VERTICAL.CENTER, "top": WD_ALIGN_VERTICAL.TOP, "bottom": WD_ALIGN_VERTICAL.BOTTOM}
    for cells in rows:
        row = table.add_row()
        row.height = Cm(style.row_cm)
        row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
        for i, w in enumerate(style.widths_cm):
            row.cells[i].width = Cm(w)
        col = 0
        for content, n in cells:
            cell = row.cells[col]
            if n > 1:
                cell = cell.merge(row.cells[col + n - 1])
            cell.vertical_alignment = valign[style.valign]
            p0 = cell.paragraphs[0]
            if isinstance(content, str):
                para(p0, content, style.label_font, style.label_pt, style.bold_labels, "center")
            elif content[0] == "section":
                para(p0, content[1], style.label_font, style.label_pt + 1, True, "center")
            elif content[0] == "value":
                para(p0, content[1], style.value_font, style.value_pt, False, style.value_align)
            elif content[0] == "email":
                hint_pt = max(8.0, style.label_pt - 2)
                if style.email_hint == "before":
                    para(p0, EMAIL_HINT, style.label_font, hint_pt)
                    para(cell, content[1], style.value_font, style.value_pt)
                else:
                    para(p0, content[1], style.value_font, style.value_pt)
                    if style.email_hint == "after":
                        para(cell, EMAIL_HINT, style.label_font, hint_pt)
            elif content[0] == "hint":  # the template's printed hint, left in the blank cell
                para(p0, content[1], style.label_font, max(8.0, style.label_pt - 2), False, "left")
            elif content[0] == "product":
                para(p0, content[1], style.value_font, style.value_pt, False, style.value_align)
                if style.product_hint or not content[1]:
                    para(cell, "注销业务此项可不填", style.label_font, max(8.0, style.label_pt - 2))
            elif content[0] == "category":
                lines = _category_lines(f, office, style, extra_category)
                para(p0, lines[0], style.label_font, style.label_pt)
                for line in lines[1:]:
                    para(cell, line, style.label_font, style.label_pt)
            elif content[0] == "promise":
                cell.vertical_alignment = WD_ALIGN_VERTICAL.TOP
                para(p0, "申请单位承诺声明", style.label_font, style.label_pt + 1, True, "left")
                p = para(
                    cell, XIAMEN_PROMISE if office == "xiamen" else HANGZHOU_PROMISE, style.label_font, style.label_pt
                )
                p.paragraph_format.first_line_indent = Pt(style.label_pt * 2)
                p.paragraph_format.line_spacing = 1.3
                para(cell, "", style.label_font, style.label_pt)
                p = para(cell, "申请单位公章", style.label_font, style.label_pt, align="right")
                p.paragraph_format.right_indent = Cm(2.2)
                para(cell, "", style.label_font, style.label_pt)
                para(cell, "", style.label_font, style.label_pt)
                para(cell, "法定代表人/主要负责人（或授权代理人）签字：", style.label_font, style.label_pt)
                para(cell, "", style.label_font, style.label_pt)
                p = para(
                    cell, "年\u3000\u3000\u3000月\u3000\u3000\u3000日", style.label_font, style.label_pt, align="right"
                )
                p.paragraph_format.right_indent = Cm(1.5)
                para(cell, "", style.label_font, style.label_pt)
            col += n
    doc.save(str(path))


def soffice_convert(docx_paths: list[Path], outdir: Path) -> float:
    """Convert all DOCX to PDF in ONE soffice call with a private profile; returns the seconds it took."""
    if not docx_paths:
        return 0.0
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        raise SystemExit("soffice not found: apt-get install libreoffice-writer-nogui")
    outdir.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-office-render-"))
    t0 = time.perf_counter()
    try:
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--norestore",
                "--convert-to",
                "pdf",
                "--outdir",
                str(outdir),
                *map(str, docx_paths),
            ],
            check=True,
            capture_output=True,
            timeout=120 + 20 * len(docx_paths),
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    missing = [p for p in docx_paths if not (outdir / (p.stem + ".pdf")).exists()]
    if missing:
        raise RuntimeError(f"soffice did not convert {missing}")
    return time.perf_counter() - t0


def rasterise(pdf: Path, dpi: int, page: int = 1) -> Image.Image:
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "p"
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                str(dpi),
                "-png",
                "-f",
                str(page),
                "-l",
                str(page),
                "-singlefile",
                str(pdf),
                str(prefix),
            ],
            check=True,
            capture_output=True,
        )
        img = Image.open(f"{prefix}.png")
        img.load()
        return img.convert("RGB")


def pdf_pages(pdf: Path) -> int:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        return len(doc)
    finally:
        doc.close()


def text_boxes(pdf: Path, needles: list[str], dpi: int) -> dict[str, list[tuple[float, float, float, float]]]:
    """Pixel boxes (x0, y0, x1, y1) at `dpi` of every occurrence of each needle on page 1."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    out: dict[str, list[tuple[float, float, float, float]]] = {}
    try:
        page = doc[0]
        _w, h = page.get_size()
        tp = page.get_textpage()
        k = dpi / 72
        for needle in needles:
            found = []
            search = tp.search(needle, match_case=True)
            while (hit := search.get_next()) is not None:
                idx, count = hit
                boxes = [tp.get_charbox(i) for i in range(idx, idx + count)]
                x0 = min(b[0] for b in boxes)
                x1 = max(b[2] for b in boxes)
                y0 = min(b[1] for b in boxes)
                y1 = max(b[3] for b in boxes)
                found.append((x0 * k, (h - y1) * k, x1 * k, (h - y0) * k))
            out[needle] = found
    finally:
        doc.close()
    return out


# --------------------------------------------------------------------------- ink: seals, signatures, pen ticks

INK = [(20, 25, 70), (15, 15, 20), (25, 40, 110)]


def seal_image(name: str, diameter: int, rng: random.Random, bottom: str = "") -> Image.Image:
    """A round company seal: ring, the name around the top arc, a star; RGBA, uneven ink."""
    size = diameter + 8
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    c = size / 2
    r = diameter / 2
    ring = max(3, int(diameter * 0.035))
    d.ellipse([c - r, c - r, c + r, c + r], outline=255, width=ring)
    # star
    rs, ri = r * 0.26, r * 0.1
    pts = []
    for i in range(10):
        rr = rs if i % 2 == 0 else ri
        a = -math.pi / 2 + i * math.pi / 5
        pts.append((c + rr * math.cos(a), c + rr * math.sin(a)))
    d.polygon(pts, fill=255)
    text = name[:24]
    n = len(text)
    span = min(250.0, 130 + n * 7.5)
    fsize = int(min(r * 0.3, (2 * math.pi * (r * 0.72) * span / 360) / max(n, 1) * 1.05))
    font = pil_font("Noto Sans CJK SC", max(fsize, 10), bold=True)
    for i, ch in enumerate(text):
        ang = -90 - span / 2 + (i + 0.5) * span / n
        tile = Image.new("L", (fsize * 2, fsize * 2), 0)
        ImageDraw.Draw(tile).text((fsize / 2, fsize / 2 - fsize * 0.1), ch, font=font, fill=255)
        tile = tile.rotate(-(ang + 90), resample=Image.Resampling.BICUBIC)
        a = math.radians(ang)
        rr = r - ring - fsize * 0.62
        x, y = c + rr * math.cos(a), c + rr * math.sin(a)
        img.paste(255, (int(x - fsize), int(y - fsize)), tile)
    if bottom:
        bf = pil_font("Noto Sans CJK SC", max(int(r * 0.14), 9), bold=True)
        bw = d.textlength(bottom, font=bf)
        d.text((c - bw / 2, c + r * 0.42), bottom, font=bf, fill=255)
    arr = np.asarray(img).astype(np.float32) / 255
    nrng = np.random.default_rng(rng.randint(0, 2**31))
    blotch = nrng.uniform(0.45, 1.0, (max(4, size // 24), max(4, size // 24))).astype(np.float32)
    blotch = np.asarray(Image.fromarray((blotch * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC))
    arr = arr * (blotch / 255) * rng.uniform(0.7, 0.95)
    alpha = Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    red = (rng.randint(190, 225), rng.randint(20, 50), rng.randint(30, 60))
    out = Image.new("RGBA", (size, size), (*red, 0))
    out.putalpha(alpha)
    return out.rotate(rng.uniform(-25, 25), resample=Image.Resampling.BICUBIC)


def stamp(page: Image.Image, seal: Image.Image, cx: float, cy: float) -> None:
    """Multiply a coloured RGBA seal onto the page (ink over text, text still shows through)."""
    x0, y0 = int(cx - seal.width / 2), int(cy - seal.height / 2)
    box = (max(0, x0), max(0, y0), min(page.width, x0 + seal.width), min(page.height, y0 + seal.height))
    if box[2] <= box[0] or box[3] <= box[1]:
        return
    region = np.asarray(page.crop(box)).astype(np.float32)
    s = np.asarray(seal.crop((box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0))).astype(np.float32)
    a = s[..., 3:4] / 255
    ink = s[..., :3] / 255
    blended = region * (1 - a) + region * ink * a
    page.paste(Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8)), box[:2])


def handwriting(text: str, px: int, rng: random.Random, slant: float | None = None) -> Image.Image:
    """Text in a brush font, slanted and jittered; RGBA ink."""
    font = hand_font(px)
    pad = px
    w = int(sum(font.getlength(ch) for ch in text) * 1.25) + 2 * pad
    img = Image.new("L", (w, px * 3), 0)
    d = ImageDraw.Draw(img)
    x = pad
    for ch in text:
        size = int(px * rng.uniform(0.88, 1.12))
        f = hand_font(size)
        d.text((x, px + rng.uniform(-px * 0.12, px * 0.12)), ch, font=f, fill=255)
        x += f.getlength(ch) * rng.uniform(0.88, 1.1)
    shear = slant if slant is not None else rng.uniform(-0.35, -0.1)
    img = img.transform(
        img.size, Image.Transform.AFFINE, (1, shear, -shear * px * 1.5, 0, 1, 0), Image.Resampling.BICUBIC
    )
    img = img.rotate(rng.uniform(-6, 4), resample=Image.Resampling.BICUBIC, expand=True)
    colour = rng.choice(INK)
    out = Image.new("RGBA", img.size, (*colour, 0))
    out.putalpha(img.point(lambda v: int(v * 0.92)))
    bbox = img.getbbox()
    return out.crop(bbox) if bbox else out


def scribble(width: int, height: int, rng: random.Random) -> Image.Image:
    img = Image.new("L", (width, height), 0)
    d = ImageDraw.Draw(img)
    pts = []
    x = 4.0
    while x < width - 4:
        pts.append((x, height / 2 + rng.uniform(-0.42, 0.42) * height))
        x += rng.uniform(width / 14, width / 6)
    stroke = max(2, height // 16)
    d.line(pts, fill=255, width=stroke, joint="curve")
    d.line([(pts[0][0], pts[-1][1]), (pts[-1][0] * 0.8, pts[0][1] * 0.9)], fill=255, width=stroke)
    img = img.filter(ImageFilter.GaussianBlur(1))
    out = Image.new("RGBA", img.size, (*rng.choice(INK), 0))
    out.putalpha(img)
    return out


def paste_ink(page: Image.Image, ink: Image.Image, x: float, y: float) -> None:
    """x, y: the ink's left, vertical centre."""
    layer = Image.new("RGBA", page.size, (0, 0, 0, 0))
    layer.paste(ink, (int(x), int(y - ink.height / 2)), ink)
    page.paste(Image.alpha_composite(page.convert("RGBA"), layer).convert("RGB"))


def pen_tick(page: Image.Image, box: tuple[float, float, float, float], rng: random.Random, kind: str) -> None:
    d = ImageDraw.Draw(page)
    x0, y0, x1, y1 = box
    w = x1 - x0
    colour = rng.choice(INK)
    width = max(2, int(w * 0.14))
    if kind == "cross":
        d.line([(x0 - w * 0.1, y0 - w * 0.05), (x1 + w * 0.1, y1 + w * 0.05)], fill=colour, width=width)
        d.line([(x1 + w * 0.05, y0 - w * 0.1), (x0 - w * 0.05, y1 + w * 0.1)], fill=colour, width=width)
    else:
        mid = (x0 + w * 0.38, y1 - w * 0.05)
        d.line([(x0 + w * 0.05, y0 + w * 0.5), mid], fill=colour, width=width)
        d.line([mid, (x1 + w * 0.45, y0 - w * 0.55)], fill=colour, width=width)


# --------------------------------------------------------------------------- degradation


def _field(shape: tuple[int, int], rng: random.Random, low: float, high: float) -> np.ndarray:
    """A smooth random field in [low, high] (uneven lighting / toner)."""
    h, w = shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    lin = (np.cos(a) * gx / w + np.sin(a) * gy / h + 1) / 2
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    blob = np.exp(-(((gx - cx) / (w * 0.6)) ** 2 + ((gy - cy) / (h * 0.6)) ** 2))
    f = 0.6 * lin + 0.4 * blob
    f = (f - f.min()) / max(float(f.max() - f.min()), 1e-6)
    return (low + (high - low) * f).astype(np.float32)


def photocopy(img: Image.Image, rng: random.Random, dpi: int, rotation: float | None = None) -> Image.Image:
    """A copier/scanner pass: slight rotation, blur, uneven contrast, noise, sometimes greyscale."""
    import cv2

    rot = rng.uniform(-2.5, 2.5) if rotation is None else rotation
    arr = np.asarray(img.convert("RGB"))
    if abs(rot) > 0.05:
        m = cv2.getRotationMatrix2D((img.width / 2, img.height / 2), rot, 1.0)
        arr = cv2.warpAffine(arr, m, img.size, flags=cv2.INTER_CUBIC, borderValue=(255, 255, 255))
    blur = rng.uniform(0.2, 0.9) * dpi / 200
    if blur > 0.25:
        arr = cv2.GaussianBlur(arr, (0, 0), blur)
    img = Image.fromarray(arr)
    gamma = rng.uniform(0.85, 1.25)
    offset = rng.uniform(-6, 10)
    img = img.point([max(0, min(255, int(255 * (v / 255) ** gamma + offset))) for v in range(256)] * 3)
    arr = np.asarray(img).astype(np.float32)
    small = (max(8, img.height // 16), max(8, img.width // 16))
    light = _field(small, rng, rng.uniform(0.78, 0.92), 1.0)
    light = np.asarray(Image.fromarray((light * 255).astype(np.uint8)).resize(img.size, Image.Resampling.BILINEAR))
    arr *= light.astype(np.float32)[..., None] / 255
    nrng = np.random.default_rng(rng.randint(0, 2**31))
    arr += (nrng.standard_normal(arr.shape[:2], dtype=np.float32) * rng.uniform(2, 9))[..., None]
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        out = out.convert("L").convert("RGB")
    return out


def jpeg_bytes(img: Image.Image, quality: int, dpi: int | None = None) -> bytes:
    buf = io.BytesIO()
    kw: dict[str, Any] = {"quality": quality}
    if dpi:
        kw["dpi"] = (dpi, dpi)
    img.convert("RGB").save(buf, "JPEG", **kw)
    return buf.getvalue()


def save_image_pdf(pages: list[Image.Image], path: Path, dpi: int, quality: int = 80) -> None:
    """A scanner's PDF: one JPEG per page, no text layer."""
    jpgs = [Image.open(io.BytesIO(jpeg_bytes(p, quality))) for p in pages]
    jpgs[0].save(path, "PDF", resolution=float(dpi), save_all=True, append_images=jpgs[1:])


def desk(size: tuple[int, int], rng: random.Random) -> np.ndarray:
    """A textured desk (wood grain, laminate or cloth), float32 HxWx3."""
    w, h = size
    sw, sh = w // 4, h // 4
    nrng = np.random.default_rng(rng.randint(0, 2**31))
    gy, gx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    kind = rng.choice(["wood", "wood", "laminate", "cloth"])
    if kind == "wood":
        base = np.array(rng.choice([(150, 105, 70), (120, 80, 50), (185, 145, 100), (95, 65, 45)]), np.float32)
        warp = np.asarray(
            Image.fromarray(nrng.uniform(0, 255, (sh // 20 + 2, sw // 20 + 2)).astype(np.uint8)).resize(
                (sw, sh), Image.Resampling.BICUBIC
            )
        ).astype(np.float32)
        grain = np.sin(gy * rng.uniform(0.15, 0.35) + warp * 0.25) * 0.5 + 0.5
        tex = 0.82 + 0.2 * grain[..., None]
    elif kind == "laminate":
        base = np.array(rng.choice([(200, 200, 195), (170, 175, 180), (60, 60, 65), (225, 220, 210)]), np.float32)
        tex = 1 + 0.0 * gx[..., None]
    else:
        base = np.array(rng.choice([(40, 70, 60), (60, 60, 90), (110, 30, 35)]), np.float32)
        tex = 0.9 + 0.1 * ((np.sin(gx * 1.3) * np.sin(gy * 1.3)) > 0)[..., None]
    small = base * tex + nrng.normal(0, 4, (sh, sw, 1))
    return cv2_resize(np.clip(small, 0, 255).astype(np.uint8), (w, h)).astype(np.float32)


def cv2_resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(arr, size, interpolation=cv2.INTER_LINEAR)


def photograph(
    doc: Image.Image, rng: random.Random, card: bool = False, sideways: bool = False, quality: int | None = None
) -> bytes:
    """A 12-megapixel phone photo of a page (or an ID card) on a desk: perspective, uneven light, JPEG."""
    import cv2

    if sideways:
        doc = doc.rotate(rng.choice([90, 270]), expand=True)
    portrait_doc = doc.height >= doc.width
    landscape = (not portrait_doc) if rng.random() < 0.85 else portrait_doc
    if card:
        landscape = rng.random() < 0.6
    fw, fh = (4000, 3000) if landscape else (3000, 4000)
    frame = desk((fw, fh), rng)
    frac = rng.uniform(0.3, 0.5) if card else rng.uniform(0.55, 0.85)
    scale = min(frac * fh / doc.height, 0.95 * fw / doc.width) if not card else frac * fw / max(doc.width, doc.height)
    dw, dh = doc.width * scale, doc.height * scale
    cx = fw / 2 + rng.uniform(-0.5, 0.5) * (fw - dw) * 0.8
    cy = fh / 2 + rng.uniform(-0.5, 0.5) * (fh - dh) * 0.8
    ang = math.radians(rng.uniform(-6, 6))
    corners = [(-dw / 2, -dh / 2), (dw / 2, -dh / 2), (dw / 2, dh / 2), (-dw / 2, dh / 2)]
    # perspective: the far edge shrinks, every corner jitters
    far = rng.uniform(0.0, 0.12)
    side = rng.choice(["top", "bottom", "left", "right"])
    pts = []
    for x, y in corners:
        if (side == "top" and y < 0) or (side == "bottom" and y > 0):
            x *= 1 - far
        if (side == "left" and x < 0) or (side == "right" and x > 0):
            y *= 1 - far
        x += rng.uniform(-0.025, 0.025) * dw
        y += rng.uniform(-0.025, 0.025) * dh
        pts.append((cx + x * math.cos(ang) - y * math.sin(ang), cy + x * math.sin(ang) + y * math.cos(ang)))
    src = np.float32([(0, 0), (doc.width, 0), (doc.width, doc.height), (0, doc.height)])
    m = cv2.getPerspectiveTransform(src, np.float32(pts))
    page = cv2.warpPerspective(np.asarray(doc.convert("RGB")), m, (fw, fh), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((doc.height, doc.width), 255, np.uint8), m, (fw, fh), flags=cv2.INTER_LINEAR)
    a = mask.astype(np.float32)[..., None] / 255
    # drop shadow under the page
    shadow = cv2.resize(np.roll(mask, (int(fh * 0.006), int(fw * 0.006)), (0, 1)), (fw // 8, fh // 8))
    shadow = cv2.resize(cv2.GaussianBlur(shadow, (0, 0), 2.5), (fw, fh)).astype(np.float32)
    frame *= 1 - 0.45 * shadow[..., None] / 255
    out = frame * (1 - a) + page.astype(np.float32) * a
    # light: gradient + vignette + a soft shadow (the phone / a hand)
    light = _field((fh // 8, fw // 8), rng, rng.uniform(0.62, 0.85), rng.uniform(1.0, 1.1))
    gy, gx = np.mgrid[0 : fh // 8, 0 : fw // 8].astype(np.float32)
    vign = 1 - rng.uniform(0.1, 0.3) * (((gx / (fw / 8) - 0.5) ** 2 + (gy / (fh / 8) - 0.5) ** 2) * 2)
    light = light * vign
    if rng.random() < 0.6:
        sh = Image.new("L", (fw // 8, fh // 8), 0)
        sx, sy = rng.uniform(0, fw / 8), rng.uniform(0, fh / 8)
        rad = rng.uniform(0.15, 0.35) * fw / 8
        ImageDraw.Draw(sh).ellipse([sx - rad, sy - rad * 1.6, sx + rad, sy + rad * 1.6], fill=255)
        sh = np.asarray(sh.filter(ImageFilter.GaussianBlur(rad * 0.5))).astype(np.float32) / 255
        light = light * (1 - rng.uniform(0.15, 0.3) * sh)
    light = cv2.resize(light, (fw, fh), interpolation=cv2.INTER_LINEAR)
    tint = np.array([rng.uniform(0.97, 1.03), 1.0, rng.uniform(0.92, 1.0)], np.float32)
    out *= light[..., None] * tint
    out += np.random.default_rng(rng.randint(0, 2**31)).standard_normal((fh, fw, 1), dtype=np.float32) * 2.0
    out8 = np.clip(out, 0, 255).astype(np.uint8)
    out8 = cv2.GaussianBlur(out8, (0, 0), rng.uniform(0.6, 1.5))
    return jpeg_bytes(Image.fromarray(out8), quality or rng.randint(80, 92))


# --------------------------------------------------------------------------- attachments (PIL, 200 dpi)

A4_PORTRAIT = (1654, 2339)
A4_LANDSCAPE = (2339, 1654)
VALUE_INK = (25, 25, 30)


def _text(d: ImageDraw.ImageDraw, xy: tuple[float, float], s: str, font: Any, fill: Any = (0, 0, 0)) -> float:
    d.text(xy, s, font=font, fill=fill)
    return d.textlength(s, font=font)


def _wrap(d: ImageDraw.ImageDraw, s: str, font: Any, width: float) -> list[str]:
    lines, cur = [], ""
    for ch in s:
        if d.textlength(cur + ch, font=font) > width and cur:
            lines.append(cur)
            cur = ""
        cur += ch
    return [*lines, cur] if cur else lines


def spaced(label: str, rng: random.Random) -> str:
    """Licences print short labels letter-spaced (名    称)."""
    if len(label) == 2 and rng.random() < 0.6:
        return label[0] + "\u3000\u3000" + label[1]
    return label


def render_license(att: dict[str, str], rng: random.Random) -> Image.Image:
    img = Image.new("RGB", A4_LANDSCAPE, (252, 250, 244))
    d = ImageDraw.Draw(img)
    w, h = img.size
    family = rng.choice(available_fonts())
    brown = (150, 95, 40)
    d.rectangle([60, 60, w - 60, h - 60], outline=brown, width=10)
    d.rectangle([85, 85, w - 85, h - 85], outline=brown, width=3)
    d.ellipse([w / 2 - 70, 120, w / 2 + 70, 260], outline=(180, 30, 30), width=6)  # national emblem
    tf = pil_font("Noto Serif CJK SC", 120, bold=True)
    tw = d.textlength("营业执照", font=tf)
    _text(d, ((w - tw) / 2, 280), "营业执照", tf, (30, 30, 30))
    sf = pil_font(family, 40)
    _text(d, ((w - d.textlength("（副本）", font=sf)) / 2, 440), "（副本）", sf)
    lf = pil_font(family, 38)
    vf = pil_font(family, 40)
    _text(d, (180, 200), "统一社会信用代码", lf)
    _text(d, (180, 255), att["license.org_code"], pil_font("Noto Sans CJK SC", 44), VALUE_INK)
    d.rectangle([w - 420, 170, w - 220, 370], outline=(0, 0, 0), width=4)  # QR code placeholder
    for _ in range(60):
        x, y = rng.randint(w - 410, w - 250), rng.randint(180, 340)
        d.rectangle([x, y, x + 20, y + 20], fill=(0, 0, 0))
    capital = f"{rng.choice([100, 200, 500, 1000, 3000, 5000, 10000])}万元人民币"
    founded = f"{rng.randint(2003, 2021)}年{rng.randint(1, 12):02d}月{rng.randint(1, 28):02d}日"
    term = rng.choice(["长期", f"{founded}至{int(founded[:4]) + 30}{founded[4:]}"])
    ctype = rng.choice(["有限责任公司（自然人投资或控股）", "股份有限公司（非上市）", "有限责任公司（法人独资）"])
    left = [("名称", att["license.name"]), ("类型", ctype), ("法定代表人", att["license.legal_rep"])]
    right = [("注册资本", capital), ("成立日期", founded), ("营业期限", term), ("住所", att["license.address"])]
    y = 600
    for label, value in left:
        _text(d, (180, y), spaced(label, rng), lf)
        for i, line in enumerate(_wrap(d, value, vf, 640)):
            _text(d, (450, y + i * 58), line, vf, VALUE_INK)
        y += 58 * max(1, len(_wrap(d, value, vf, 640))) + 40
    _text(d, (180, y), spaced("经营范围", rng), lf)
    scope = (
        "一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；信息系统集成服务；"
        "计算机软硬件及辅助设备零售；货物进出口；技术进出口。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"
    )
    sf2 = pil_font(family, 30)
    for i, line in enumerate(_wrap(d, scope, sf2, 640)[:7]):
        _text(d, (450, y + i * 44), line, sf2, VALUE_INK)
    y = 600
    for label, value in right:
        _text(d, (1230, y), spaced(label, rng), lf)
        for i, line in enumerate(_wrap(d, value, vf, 650)):
            _text(d, (1480, y + i * 58), line, vf, VALUE_INK)
        y += 58 * max(1, len(_wrap(d, value, vf, 650))) + 40
    _text(d, (1500, 1300), "登记机关", lf)
    dt = f"{rng.randint(2019, 2026)}年{rng.randint(1, 12):02d}月{rng.randint(1, 28):02d}日"
    _text(d, (1560, 1440), dt, lf)
    city = "厦门市" if "厦门" in att["license.address"] else "杭州市"
    stamp(img, seal_image(f"{city}市场监督管理局", 300, rng), 1720, 1380)
    return img


def _card_base(size: tuple[int, int], rng: random.Random) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    w, h = size
    card = Image.new("RGB", size, (255, 255, 255))
    bg = Image.new("RGB", size, (rng.randint(225, 240), rng.randint(232, 245), rng.randint(238, 250)))
    d = ImageDraw.Draw(bg)
    for i in range(0, w, 18):  # guilloche-ish background
        d.arc([i - w // 2, -h // 2, i + w // 2, h * 3 // 2], 0, 360, fill=(205, 220, 232), width=1)
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, w - 1, h - 1], radius=int(h * 0.06), fill=255)
    card.paste(bg, (0, 0), mask)
    d = ImageDraw.Draw(card)
    d.rounded_rectangle([0, 0, w - 1, h - 1], radius=int(h * 0.06), outline=(150, 150, 150), width=2)
    return card, d


def render_id_front(att: dict[str, str], n: int, rng: random.Random, scale: float = 1.0) -> Image.Image:
    """The front of a resident ID card (85.6 × 54 mm) at about 300 dpi × scale."""
    w, h = int(1012 * scale), int(638 * scale)
    card, d = _card_base((w, h), rng)
    number = att[f"id_card.{n}.number"]
    lf = pil_font("Noto Sans CJK SC", int(34 * scale))
    vf = pil_font("Noto Serif CJK SC", int(40 * scale))
    lab = (70, 110, 170)
    x0, vx = 60 * scale, 190 * scale
    _text(d, (x0, 60 * scale), "姓名", lf, lab)
    _text(d, (vx, 54 * scale), att[f"id_card.{n}.name"], vf)
    _text(d, (x0, 140 * scale), "性别", lf, lab)
    _text(d, (vx, 134 * scale), "男" if int(number[16]) % 2 else "女", vf)
    _text(d, (330 * scale, 140 * scale), "民族", lf, lab)
    _text(d, (440 * scale, 134 * scale), rng.choice(["汉", "汉", "汉", "回", "畲"]), vf)
    _text(d, (x0, 220 * scale), "出生", lf, lab)
    _text(d, (vx, 214 * scale), f"{number[6:10]}年{int(number[10:12])}月{int(number[12:14])}日", vf)
    _text(d, (x0, 300 * scale), "住址", lf, lab)
    addr = att.get("_id_address", att["license.address"])
    for i, line in enumerate(_wrap(d, addr, vf, 440 * scale)[:3]):
        _text(d, (vx, (294 + i * 54) * scale), line, vf)
    _text(d, (x0, 520 * scale), "公民身份号码", lf, lab)
    nf = ImageFont.truetype(MONO, int(48 * scale)) if Path(MONO).exists() else vf
    _text(d, (320 * scale, 512 * scale), number, nf)
    px0, py0 = 680 * scale, 70 * scale  # photo
    d.rectangle([px0, py0, px0 + 280 * scale, py0 + 350 * scale], fill=(228, 232, 236))
    d.ellipse([px0 + 80 * scale, py0 + 60 * scale, px0 + 200 * scale, py0 + 200 * scale], fill=(120, 120, 130))
    d.chord([px0 + 30 * scale, py0 + 210 * scale, px0 + 250 * scale, py0 + 450 * scale], 180, 360, fill=(90, 90, 100))
    return card


def render_id_back(att: dict[str, str], n: int, rng: random.Random, scale: float = 1.0) -> Image.Image:
    w, h = int(1012 * scale), int(638 * scale)
    card, d = _card_base((w, h), rng)
    d.ellipse([60 * scale, 50 * scale, 220 * scale, 210 * scale], outline=(200, 40, 40), width=int(8 * scale))
    tf = pil_font("Noto Serif CJK SC", int(50 * scale), bold=True)
    _text(d, (330 * scale, 80 * scale), "中华人民共和国", tf)
    bf = pil_font("Noto Serif CJK SC", int(76 * scale), bold=True)
    _text(d, (300 * scale, 190 * scale), "居民身份证", bf)
    lf = pil_font("Noto Sans CJK SC", int(34 * scale))
    vf = pil_font("Noto Serif CJK SC", int(38 * scale))
    _text(d, (200 * scale, 430 * scale), "签发机关", lf, (70, 110, 170))
    _text(d, (380 * scale, 424 * scale), att.get("_issuer", "厦门市公安局思明分局"), vf)
    _text(d, (200 * scale, 510 * scale), "有效期限", lf, (70, 110, 170))
    _text(d, (380 * scale, 504 * scale), att[f"id_card.{n}.valid"], vf)
    return card


def render_id_copy(att: dict[str, str], n: int, rng: random.Random, phone: str = "") -> Image.Image:
    """An A4 photocopy of both sides of the card (200 dpi: the card at 674 px wide)."""
    page = Image.new("RGB", A4_PORTRAIT, (255, 255, 255))
    scale = 674 / 1012 * rng.uniform(1.0, 1.15)
    front = render_id_front(att, n, rng, scale)
    back = render_id_back(att, n, rng, scale)
    x = int((page.width - front.width) / 2 + rng.uniform(-120, 120))
    page.paste(front, (x, 260 + rng.randint(-60, 60)))
    page.paste(back, (x + rng.randint(-40, 40), 1100 + rng.randint(-60, 60)))
    if rng.random() < 0.5 or phone:
        note = "与原件一致" + (f"  {phone}" if phone else "")
        paste_ink(page, handwriting(note, 52, rng), x + rng.randint(-40, 200), 1900 + rng.randint(-40, 80))
    return page


def render_product_cert(att: dict[str, str], rng: random.Random) -> Image.Image:
    img = Image.new("RGB", A4_PORTRAIT, (253, 252, 247))
    d = ImageDraw.Draw(img)
    w, h = img.size
    d.rectangle([70, 70, w - 70, h - 70], outline=(40, 90, 150), width=14)
    d.rectangle([100, 100, w - 100, h - 100], outline=(40, 90, 150), width=3)
    tf = pil_font("Noto Serif CJK SC", 84, bold=True)
    t = "商用密码产品认证证书"
    _text(d, ((w - d.textlength(t, font=tf)) / 2, 260), t, tf, (20, 20, 20))
    family = rng.choice(available_fonts())
    lf = pil_font(family, 38)
    vf = pil_font(family, 40)
    number_top = rng.random() < 0.5
    if number_top:
        _text(d, (w - 760, 170), f"证书编号：{att['product_cert.number']}", lf)
    client = att.get("_client", att["product_cert.maker"])
    maker = att["product_cert.maker"]
    rows = [] if number_top else [("证书编号", att["product_cert.number"])]
    rows += [
        ("委托人名称", client),
        (
            "委托人地址",
            rng.choice(["北京市海淀区", "上海市徐汇区", "济南市高新区", "成都市高新区"]) + f"{rng.randint(1, 99)}号",
        ),
        ("生产者名称", maker),
        ("生产企业名称", maker),
        ("产品名称", att["product_cert.product"]),
        ("产品型号", att["product_cert.model"]),
        (
            "产品标准和技术要求",
            rng.choice(
                [
                    "GM/T 0030-2014《服务器密码机技术规范》",
                    "GM/T 0029-2014《签名验签服务器技术规范》",
                    "GM/T 0028-2014《密码模块安全技术要求》第二级",
                ]
            ),
        ),
        ("认证模式", "型式试验＋初始工厂检查＋获证后监督"),
    ]
    if rng.random() < 0.4:
        rows = [r for r in rows if r[0] != "生产企业名称"]
    y = 480
    for label, value in rows:
        _text(d, (200, y), f"{label}：", lf)
        vx = 200 + d.textlength(f"{label}：", font=lf) + 10
        lines = _wrap(d, value, vf, w - 260 - vx)
        for i, line in enumerate(lines):
            _text(d, (vx, y + i * 56), line, vf, VALUE_INK)
        y += 56 * max(1, len(lines)) + 48
    body = "经认证，上述产品符合商用密码产品认证规则的要求，特发此证。"
    for i, line in enumerate(_wrap(d, body, lf, w - 420)):
        _text(d, (240, y + 20 + i * 56), line, lf)
    y += 200
    issued = f"{int(att['product_cert.number'][9:13])}年{rng.randint(1, 12):02d}月{rng.randint(1, 28):02d}日"
    _text(d, (200, y), f"发证日期：{issued}", lf)
    _text(d, (200, y + 90), "有效期至：", lf)
    _text(d, (200 + d.textlength("有效期至：", font=lf) + 10, y + 90), att["product_cert.valid_until"], vf, VALUE_INK)
    _text(d, (w - 820, h - 420), "国家密码管理局商用密码检测中心", lf)
    stamp(img, seal_image("国家密码管理局商用密码检测中心", 330, rng, bottom="认证专用章"), w - 520, h - 420)
    return img


DIGITS_CN = "零壹贰叁肆伍陆柒捌玖"


def amount_in_words(amount: str) -> str:
    yuan = int(float(amount))
    units = ["", "拾", "佰", "仟"]
    out = ""
    for group, gname in ((yuan // 10000, "万"), (yuan % 10000, "")):
        if not group:
            continue
        s = ""
        digits = f"{group:04d}" if out else str(group)
        zero = False
        for i, ch in enumerate(digits):
            pos = len(digits) - 1 - i
            if ch == "0":
                zero = bool(s)
                continue
            if zero:
                s += "零"
                zero = False
            s += DIGITS_CN[int(ch)] + units[pos]
        out += s + gname
    cents = round((float(amount) - yuan) * 100)
    tail = (
        "元整" if not cents else f"元{DIGITS_CN[cents // 10]}角" + (f"{DIGITS_CN[cents % 10]}分" if cents % 10 else "")
    )
    return (out or "零") + tail


def render_invoice(att: dict[str, str], rng: random.Random) -> Image.Image:
    img = Image.new("RGB", (2339, 1500), (255, 255, 255))
    d = ImageDraw.Draw(img)
    w, h = img.size
    family = rng.choice(available_fonts())
    red = (150, 40, 30)
    tf = pil_font("Noto Serif CJK SC", 64, bold=True)
    t = "电子发票（普通发票）"
    _text(d, ((w - d.textlength(t, font=tf)) / 2, 80), t, tf, red)
    d.line([(w / 2 - 300, 170), (w / 2 + 300, 170)], fill=red, width=3)
    d.line([(w / 2 - 300, 178), (w / 2 + 300, 178)], fill=red, width=3)
    sf = pil_font(family, 32)
    _text(d, (w - 700, 90), f"发票号码：{rng.randint(10**19, 10**20 - 1)}", sf, red)
    _text(d, (w - 700, 140), f"开票日期：2026年{rng.randint(1, 11):02d}月{rng.randint(1, 28):02d}日", sf, red)
    top, bottom = 240, h - 160
    d.rectangle([100, top, w - 100, bottom], outline=red, width=3)
    d.line([(100, top + 260), (w - 100, top + 260)], fill=red, width=2)
    d.line([(w / 2, top), (w / 2, top + 260)], fill=red, width=2)
    vf = pil_font(family, 36)
    buyer_label = rng.choice(["购买方名称：", "名称："])
    _text(d, (130, top + 30), "购买方信息", sf, red)
    _text(d, (130, top + 90), buyer_label, sf, red)
    bx = 130 + d.textlength(buyer_label, font=sf) + 10
    for i, line in enumerate(_wrap(d, att["invoice.buyer"], vf, w / 2 - bx - 20)):
        _text(d, (bx, top + 86 + i * 50), line, vf, VALUE_INK)
    _text(d, (130, top + 190), f"统一社会信用代码/纳税人识别号：{att['license.org_code']}", sf, red)
    _text(d, (w / 2 + 30, top + 30), "销售方信息", sf, red)
    _text(d, (w / 2 + 30, top + 90), "名称：", sf, red)
    _text(d, (w / 2 + 130, top + 86), att["product_cert.maker"], vf, VALUE_INK)
    cols = [
        ("项目名称", 130),
        ("规格型号", 760),
        ("单位", 1060),
        ("数量", 1200),
        ("单价", 1350),
        ("金额", 1620),
        ("税率/征收率", 1860),
        ("税额", 2080),
    ]
    y = top + 290
    for name, x in cols:
        _text(d, (x, y), name, sf, red)
    total = float(att["invoice.amount"])
    net = round(total / 1.13, 2)
    tax = round(total - net, 2)
    row = [
        f"*计算机外部设备*{att['product_cert.product']}",
        att["product_cert.model"],
        "台",
        "1",
        f"{net:.2f}",
        f"{net:.2f}",
        "13%",
        f"{tax:.2f}",
    ]
    for (_name, x), value in zip(cols, row, strict=True):
        _text(d, (x, y + 70), value, pil_font(family, 30), VALUE_INK)
    _text(d, (130, y + 330), "合计", sf, red)
    _text(d, (1620, y + 330), f"¥{net:.2f}", sf, VALUE_INK)
    _text(d, (2080, y + 330), f"¥{tax:.2f}", sf, VALUE_INK)
    d.line([(100, y + 400), (w - 100, y + 400)], fill=red, width=2)
    if rng.random() < 0.6:  # the 全电 layout: words and figures on one row
        _text(d, (130, y + 430), "价税合计（大写）", sf, red)
        _text(d, (420, y + 426), "ⓧ" + amount_in_words(att["invoice.amount"]), vf, VALUE_INK)
        _text(d, (1500, y + 430), "（小写）", sf, red)
        _text(d, (1640, y + 426), f"¥{att['invoice.amount']}", vf, VALUE_INK)
    else:
        _text(d, (130, y + 430), "价税合计（小写）", sf, red)
        x = 130 + d.textlength("价税合计（小写）", font=sf) + 20
        _text(d, (x, y + 426), f"¥{att['invoice.amount']}", vf, VALUE_INK)
        _text(d, (1300, y + 430), "（大写）" + amount_in_words(att["invoice.amount"]), sf, VALUE_INK)
    _text(d, (130, bottom + 40), f"开票人：{make_person(rng)}", sf, red)
    stamp(img, seal_image(att["product_cert.maker"], 260, rng, bottom="发票专用章"), w - 500, bottom - 90)
    return img


def attachment_pages(att: dict[str, str], office: str, rng: random.Random, invoice: bool) -> dict[str, Image.Image]:
    """role → clean 200-dpi page (before scanning).  Order: licence, legal rep's ID, handler's ID, product, invoice."""
    pages = {
        "business_license": render_license(att, rng),
        "id_card.1": render_id_copy(att, 1, rng, phone=att.get("_legal_phone_on_copy", "")),
        "id_card.2": render_id_copy(att, 2, rng),
        "product_cert": render_product_cert(att, rng),
    }
    if invoice:
        pages["invoice"] = render_invoice(att, rng)
    return pages


# --------------------------------------------------------------------------- cases

ROLE_KIND = {
    "form": "application_form",
    "business_license": "business_license",
    "id_card.1": "id_card",
    "id_card.2": "id_card",
    "product_cert": "product_cert",
    "invoice": "invoice",
    "csr": "csr",
}
VARIANTS = ["scan-jpg150", "scan-jpg200", "scan-jpg300", "scan-pdf", "text-pdf", "docx", "stack", "photo"]
SCANNED = {"scan", "stack", "photo"}


@dataclass
class CaseSpec:
    name: str
    office: str
    variant: str  # one of VARIANTS
    defect: str | None = None
    attachments: bool = True
    category: str | None = None
    photo_attachments: bool = True
    dpi: int | None = None  # scans: None picks by variant (scan-pdf: 200 or 300)
    only_roles: tuple[str, ...] | None = None  # attachments limited to these roles (committed samples)

    @property
    def kind(self) -> str:
        return "scan" if self.variant.startswith("scan") else self.variant


@dataclass
class Planned:
    spec: CaseSpec
    seed: int
    fields: dict[str, str]
    att: dict[str, str]
    style: FormStyle
    docx: Path
    extra_category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _names(spec: CaseSpec, roles: list[str], rng: random.Random, company: str) -> dict[str, str]:
    """File names for the roles (roles already in file order: the legal rep's ID before the handler's)."""
    kind = spec.kind
    out: dict[str, str] = {}
    scheme = (
        rng.choice(["img", "wechat", "dsc", "scan", "words"])
        if kind != "photo"
        else rng.choice(["img", "wechat", "dsc"])
    )
    n0 = rng.randint(1000, 8000)
    stamp_ = f"2026{rng.randint(1, 11):02d}{rng.randint(10, 28)}{rng.randint(100000, 150000)}"
    words = {
        "form": rng.choice(["申请表", "数字证书申请表", "附件", f"{company}申请表"]),
        "business_license": rng.choice(["营业执照", "执照副本", "营业执照复印件"]),
        "id_card.1": rng.choice(["法人身份证", "法定代表人身份证"]),
        "id_card.2": rng.choice(["经办人身份证", "经办人证件"]),
        "product_cert": rng.choice(["密码产品证书", "商密认证证书", "产品认证证书"]),
        "invoice": rng.choice(["发票", "采购发票"]),
    }
    for i, role in enumerate(roles):
        if scheme == "img":
            name = f"IMG_{n0 + i * rng.randint(1, 3):04d}"
        elif scheme == "wechat":
            name = f"微信图片_{int(stamp_) + i * 7}"
        elif scheme == "dsc":
            name = f"DSC{n0 + i:05d}"
        elif scheme == "scan":
            name = f"scan{i + 1:04d}"
        else:
            name = words[role]
        out[role] = name
    # numeric schemes are strictly increasing in file order; make sure of it when steps vary
    if scheme == "img":
        for i, role in enumerate(roles):
            out[role] = f"IMG_{n0 + i * 2:04d}"
    if rng.random() < 0.2 and len(roles) > 2:  # one misleading name (never on an ID copy: it would reorder them)
        victims = [r for r in roles if not r.startswith("id_card")]
        v = rng.choice(victims)
        decoy = rng.choice(["身份证", "营业执照", "发票", "申请表", "新建文件"])
        out[v] = decoy if decoy != words.get(v) else "资料"
    return out


def plan_case(spec: CaseSpec, seed: int, work: Path) -> Planned:
    rng = random.Random(seed)
    f, att = case_truth(rng, spec.office, spec.category)
    extra = None
    if spec.defect:
        apply_defect(spec.defect, f, att, rng, spec.office)
        if spec.defect == "two-categories":
            extra = next(
                c
                for c in (["注销", "新办"] if spec.office == "xiamen" else ["更新", "注销", "新办"])
                if c != f["category"]
            )
    style = random_style(rng, spec.kind in SCANNED)
    docx = work / f"{spec.name}.docx"
    build_form_docx(f, spec.office, style, docx, extra)
    return Planned(spec, seed, f, att, style, docx, extra)


def _ink_form(p: Planned, pdf: Path, dpi: int, rng: random.Random) -> Image.Image:
    """Rasterise the LibreOffice PDF and add what a pen and a stamp add: seal, signature, date, pen ticks."""
    img = rasterise(pdf, dpi)
    boxes = text_boxes(pdf, ["申请单位公章", "签字：", "年", "月", "日", "□"], dpi)
    k = dpi / 200
    if p.spec.defect != "no-seal" and boxes["申请单位公章"]:
        x0, y0, x1, y1 = boxes["申请单位公章"][-1]
        cx = (x0 + x1) / 2 + rng.uniform(-80, 80) * k
        cy = (y0 + y1) / 2 + rng.uniform(-60, 40) * k
        stamp(img, seal_image(p.fields["applicant_name"], int(rng.uniform(300, 330) * k), rng), cx, cy)
    if boxes["签字："]:
        x0, y0, x1, y1 = boxes["签字："][-1]
        if rng.random() < 0.75:
            ink = handwriting(p.fields["legal_rep_name"], int(rng.uniform(56, 80) * k), rng)
        else:
            ink = scribble(int(rng.uniform(200, 320) * k), int(rng.uniform(60, 90) * k), rng)
        paste_ink(img, ink, x1 + rng.uniform(10, 80) * k, (y0 + y1) / 2 + rng.uniform(-10, 5) * k)
    if boxes["年"] and boxes["月"] and boxes["日"]:
        day = time.gmtime(1767225600 + rng.randint(0, 320) * 86400)  # a day in 2026
        for ch, value in (("年", str(day.tm_year)), ("月", str(day.tm_mon)), ("日", str(day.tm_mday))):
            x0, y0, x1, y1 = boxes[ch][-1]
            ink = handwriting(value, int((y1 - y0) * rng.uniform(1.0, 1.3)), rng, slant=rng.uniform(-0.2, 0.0))
            paste_ink(img, ink, x0 - ink.width - rng.uniform(2, 12) * k, (y0 + y1) / 2)
    if p.style.ticks_pen:
        order = ["新办", "注销", "更新"]
        chosen = [p.fields["category"]] + ([p.extra_category] if p.extra_category else [])
        mark = rng.choice(["check", "check", "cross"])
        for c in chosen:
            i = order.index(c)
            if i < len(boxes["□"]):
                pen_tick(img, boxes["□"][i], rng, mark)
    return img


def finish_case(p: Planned, pdf: Path, out: Path, truth_dir: Path, make_csr: Any) -> dict[str, Any]:
    spec = p.spec
    rng = random.Random(p.seed * 7 + 1)
    case = out / spec.name
    if case.exists():
        shutil.rmtree(case)
    case.mkdir(parents=True)
    kind = spec.kind
    dpi = {"scan-jpg150": 150, "scan-jpg300": 300, "scan-pdf": rng.choice([200, 300])}.get(spec.variant, 200)
    dpi = spec.dpi or dpi
    invoice = spec.office == "hangzhou" or rng.random() < 0.3
    with_att = spec.attachments or kind == "stack"
    if spec.office == "hangzhou" and rng.random() < 0.5:
        p.att["_legal_phone_on_copy"] = make_mobile(rng)
    roles = ["form"]
    if with_att:
        roles += ["business_license", "id_card.1", "id_card.2"]
        if "crypto_product_cert_no" in p.fields or p.fields["category"] != "注销":
            roles.append("product_cert")
        if invoice:
            roles.append("invoice")
    if spec.only_roles is not None or (kind == "photo" and not spec.photo_attachments):
        roles = [r for r in roles if r == "form" or r in (spec.only_roles or ())]
        with_att = len(roles) > 1
    files: dict[str, str] = {}
    fields = dict(p.fields)
    if kind in SCANNED:
        fields["seal_present"] = "否" if spec.defect == "no-seal" else "是"
        fields["signature_present"] = "是"
    company = p.fields["applicant_name"]
    att_pages = attachment_pages(p.att, spec.office, rng, invoice) if with_att else {}

    # file order: form and attachments shuffled, but the legal rep's ID copy before the handler's
    order = roles[:]
    rng.shuffle(order)
    if "id_card.1" in order and "id_card.2" in order:
        i1, i2 = order.index("id_card.1"), order.index("id_card.2")
        if i1 > i2:
            order[i1], order[i2] = order[i2], order[i1]
    names = _names(spec, order, rng, company)
    photo_quality = 83 if spec.name.startswith("committed") else None  # the committed set stays small

    def put(role: str, data: bytes, ext: str) -> None:
        fname = names[role] + ext
        while fname in files:
            fname = names[role] + "_1" + ext
        (case / fname).write_bytes(data)
        files[fname] = ROLE_KIND[role]

    if kind == "stack":
        pages = []
        for role in order:
            page = _ink_form(p, pdf, 200, rng) if role == "form" else att_pages[role]
            pages.append((role, photocopy(page, rng, 200)))
        rng.shuffle(pages)
        ids = [i for i, (r, _) in enumerate(pages) if r.startswith("id_card")]
        if pages[ids[0]][0] != "id_card.1":
            pages[ids[0]], pages[ids[1]] = pages[ids[1]], pages[ids[0]]
        flip = rng.randrange(len(pages))
        imgs = [pg for _, pg in pages]
        imgs[flip] = imgs[flip].rotate(180)
        turned = None
        if rng.random() < 0.4:
            turned = rng.choice([i for i in range(len(imgs)) if i != flip])
            imgs[turned] = imgs[turned].rotate(rng.choice([90, 270]), expand=True)
        fname = f"scan{rng.randint(1, 40):04d}.pdf" if rng.random() < 0.7 else f"{company}材料.pdf"
        save_image_pdf(imgs, case / fname, 200, 62 if photo_quality else rng.randint(60, 85))
        files[fname] = "stack"
        p.meta["stack_pages"] = [r for r, _ in pages]
        p.meta["upside_down_page"] = flip + 1
        p.meta["sideways_page"] = turned + 1 if turned is not None else None
    else:
        for role in order:
            if role == "form":
                if kind == "docx":
                    put(role, p.docx.read_bytes(), ".docx")
                elif kind == "text-pdf":
                    put(role, pdf.read_bytes(), ".pdf")
                elif kind == "scan":
                    scan = photocopy(_ink_form(p, pdf, dpi, rng), rng, dpi)
                    if spec.variant == "scan-pdf":
                        tmp_pdf = case.parent / f".{spec.name}.tmp.pdf"
                        save_image_pdf([scan], tmp_pdf, dpi, rng.randint(55, 90))
                        put(role, tmp_pdf.read_bytes(), ".pdf")
                        tmp_pdf.unlink()
                    else:
                        put(role, jpeg_bytes(scan, rng.randint(55, 90), dpi), ".jpg")
                else:  # photo
                    page = _ink_form(p, pdf, 300, rng)
                    put(role, photograph(page, rng, quality=photo_quality), rng.choice([".jpg", ".jpg", ".JPG"]))
            else:
                page = att_pages[role]
                if kind == "photo":
                    if role.startswith("id_card"):
                        n = int(role[-1])
                        card = render_id_front(p.att, n, rng)
                        data = photograph(card, rng, card=True, sideways=rng.random() < 0.3, quality=photo_quality)
                    else:
                        data = photograph(page, rng, quality=photo_quality)
                    put(role, data, ".jpg")
                else:
                    put(role, jpeg_bytes(photocopy(page, rng, 200), rng.randint(60, 85), 200), ".jpg")
    # CSR: subject O = 申请单位, CN = 通用名
    if p.fields["category"] != "注销" or rng.random() < 0.3:
        csr_name = rng.choice([f"{company}.csr", "request.csr", "sm2.csr", f"{p.fields['org_code']}.csr"])
        make_csr(company, p.fields.get("common_name", company), case / csr_name)
        files[csr_name] = "csr"
    prefix_role = {"license": "business_license", "product_cert": "product_cert", "invoice": "invoice"}
    att = {
        k: v
        for k, v in p.att.items()
        if not k.startswith("_")
        and prefix_role.get(k.split(".")[0], ".".join(k.split(".")[:2])) in roles
        # a photographed ID card shows its front only: the back's 有效期限 is not in the case
        and not (kind == "photo" and k.startswith("id_card.") and k.endswith(".valid"))
    }
    record = {
        "kind": kind,
        "office": spec.office,
        "renderer": "office",
        "seed": p.seed,
        "variant": spec.variant,
        "defect": spec.defect,
        "files": dict(sorted(files.items())),
        "fields": fields,
        "attachments": att,
    }
    if p.meta:
        record["layout"] = p.meta
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / f"{spec.name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    return {
        "name": spec.name,
        "office": spec.office,
        "kind": kind,
        "variant": spec.variant,
        "path": case,
        "truth": record,
    }


REGISTRY_HEADER = ["证书编号", "产品名称", "型号", "生产者", "发证日期", "有效期至"]


def write_registry(path: Path, atts: list[dict[str, str]]) -> None:
    """The product-certificate list the office imports (cert-intake registry import)."""
    import csv

    seen = set()
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(REGISTRY_HEADER)
        for a in atts:
            no = a.get("product_cert.number")
            if not no or no in seen:
                continue
            seen.add(no)
            until = a["product_cert.valid_until"].replace("年", "-").replace("月", "-").replace("日", "")
            w.writerow(
                [
                    no,
                    a["product_cert.product"],
                    a["product_cert.model"],
                    a["product_cert.maker"],
                    f"{no[9:13]}-03-01",
                    until,
                ]
            )


def _load_make_csr() -> Any:
    if "sample_generator" in sys.modules:
        return sys.modules["sample_generator"].make_csr
    spec = importlib.util.spec_from_file_location("sample_generator", HERE / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sample_generator"] = mod
    spec.loader.exec_module(mod)
    return mod.make_csr


def build(
    specs: list[CaseSpec], out: Path, seed: int, truth_dir: Path | None = None
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Render every case: all DOCX first, ONE soffice call, then rasterise and post-process each case."""
    truth_dir = truth_dir or out / "truth"
    make_csr = _load_make_csr()
    work = Path(tempfile.mkdtemp(prefix="office-render-"))
    try:
        seeds = random.Random(seed)
        planned = [plan_case(s, seeds.randint(0, 2**31), work) for s in specs]
        secs = soffice_convert([p.docx for p in planned], work / "pdf")  # DOCX cases too: pages are checked
        conversions = len(planned)
        for _ in range(3):  # a form that ran onto a second page is typed again, smaller
            long = [p for p in planned if pdf_pages(work / "pdf" / (p.docx.stem + ".pdf")) > 1]
            if not long:
                break
            for p in long:
                p.style = shrink(p.style)
                build_form_docx(p.fields, p.spec.office, p.style, p.docx, p.extra_category)
            secs += soffice_convert([p.docx for p in long], work / "pdf")
            conversions += len(long)
        made = []
        t0 = time.perf_counter()
        for p in planned:
            pdf = work / "pdf" / (p.docx.stem + ".pdf")
            p.meta["pdf_pages"] = pdf_pages(pdf)
            made.append(finish_case(p, pdf, out / "cases", truth_dir, make_csr))
        post = time.perf_counter() - t0
        write_registry(out / "registry.csv", [_att_for_registry(p) for p in planned])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    timing = {
        "soffice_s": round(secs, 2),
        "soffice_conversions": conversions,
        "soffice_s_per_doc": round(secs / max(conversions, 1), 3),
        "post_s": round(post, 1),
    }
    return made, timing


def _att_for_registry(p: Planned) -> dict[str, str]:
    return (
        {k: v for k, v in p.att.items() if k.startswith("product_cert.")}
        if "crypto_product_cert_no" in p.fields
        else {}
    )


def default_specs(
    n: int, seed: int, attachments_every: int = 4, defects: float = 0.0, prefix: str = "office"
) -> list[CaseSpec]:
    """A mix of every variant over both offices; every Nth case carries attachment scans (stack: always)."""
    rng = random.Random(seed ^ 0x5EED)
    specs = []
    for i in range(n):
        variant = VARIANTS[i % len(VARIANTS)]  # every variant within 8 cases, each office on each in 16
        office = ["xiamen", "hangzhou"][(i + i // len(VARIANTS)) % 2]
        defect = None
        if defects and rng.random() < defects:
            pool = [d for d in DEFECTS if d != "no-seal" or variant.startswith(("scan", "stack", "photo"))]
            defect = rng.choice(pool)
        att = bool(attachments_every) and i % attachments_every == 0
        specs.append(
            CaseSpec(f"{prefix}-{office}-{variant}-{i:04d}", office, variant, defect, att, photo_attachments=att)
        )
    return specs


def committed_specs() -> list[CaseSpec]:
    return [
        CaseSpec("committed-xiamen-scan-jpg150", "xiamen", "scan-jpg150", attachments=False, category="新办"),
        CaseSpec("committed-xiamen-scan-pdf300", "xiamen", "scan-pdf", attachments=False, category="新办", dpi=300),
        CaseSpec("committed-hangzhou-scan", "hangzhou", "scan-jpg200", attachments=False, category="新办"),
        CaseSpec("committed-xiamen-text-pdf", "xiamen", "text-pdf", attachments=False, category="新办"),
        CaseSpec("committed-hangzhou-docx", "hangzhou", "docx", attachments=False, category="更新"),
        CaseSpec("committed-hangzhou-stack", "hangzhou", "stack", attachments=True, category="新办"),
        CaseSpec(
            "committed-xiamen-photo",
            "xiamen",
            "photo",
            attachments=True,
            category="新办",
            only_roles=("business_license", "id_card.1"),
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--cases", type=int, default=16)
    ap.add_argument("--attachments-every", type=int, default=4)
    ap.add_argument("--defects", type=float, default=0.0, help="share of defective cases (0.25: about one in four)")
    ap.add_argument("--committed", action="store_true", help="the committed sample set (samples/office)")
    args = ap.parse_args()
    specs = (
        committed_specs()
        if args.committed
        else default_specs(args.cases, args.seed, args.attachments_every, args.defects)
    )
    made, timing = build(specs, args.out, args.seed)
    for m in made:
        size = sum(p.stat().st_size for p in m["path"].iterdir())
        print(
            f"{m['name']:<44} {m['variant']:<12} {m['truth']['defect'] or '-':<14} "
            f"{len(m['truth']['files'])} files {size / 1e6:5.2f} MB"
        )
    print(json.dumps(timing))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
