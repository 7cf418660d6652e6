"""Generate labelled sample submissions: a filled 申请表 (scan JPG or DOCX) plus an SM2 CSR.

    python samples/generate.py --out samples/cases            # the committed demo set
    python samples/generate.py --out /tmp/x --seed 7 --random 20  # a labelled random corpus

The form layout below is modelled on seed 001 (《中国电子口岸数字证书申请表》, 厦门).  One layout
drives both renderers, so the scan and the DOCX carry the same labels.  Each case folder gets the
documents only; ground truth goes to ``<out>/../truth/<case>.json`` (or ``--truth DIR``) so it is
never ingested as part of a case.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageFont
from stdnum.cn import ric, uscc

FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
]

# (cell text or "{field}", column span); widths are the six grid columns of the table, in px at 200 dpi.
COLUMNS = [270, 250, 200, 260, 200, 274]
LAYOUT: list[tuple[int, list[tuple[str, int]]]] = [  # (row height, cells)
    (90, [("申请类别", 1), ("{category_row}", 5)]),
    (70, [("申请者基本信息", 6)]),
    (90, [("申请单位", 1), ("{applicant_name}", 2), ("机构代码", 1), ("{org_code}", 2)]),
    (90, [("邮件地址", 1), ("{email}", 5)]),
    (
        100,
        [
            ("法定代表人/\n主要负责人", 1),
            ("{legal_rep_name}", 1),
            ("联系电话", 1),
            ("{legal_rep_phone}", 1),
            ("证件类型", 1),
            ("{legal_rep_id_type}", 1),
        ],
    ),
    (90, [("证件号码", 1), ("{legal_rep_id_number}", 5)]),
    (
        90,
        [
            ("经办人", 1),
            ("{handler_name}", 1),
            ("联系电话", 1),
            ("{handler_phone}", 1),
            ("证件类型", 1),
            ("{handler_id_type}", 1),
        ],
    ),
    (90, [("证件号码", 1), ("{handler_id_number}", 5)]),
    (110, [("服务类密码设备商用\n密码产品认证证书编号", 2), ("{crypto_product_cert_no}", 4)]),
    (70, [("数字证书信息", 6)]),
    (90, [("通用名", 1), ("{common_name}", 3), ("算法", 1), ("{algorithm}", 1)]),
    (90, [("证书有效期", 1), ("{validity_years}年", 5)]),
]
TITLE = "中国电子口岸数字证书申请表"
# seed 000 (杭州): 机构证书申请表 with 更新 and 通信地址 instead of 邮件地址
HANGZHOU_TITLE = "中国电子口岸机构证书申请表"
HANGZHOU_CATEGORIES = ["新办", "注销", "更新"]
_HANGZHOU_ROWS = {
    "邮件地址": (90, [("通信地址", 1), ("{address}", 5)]),
    # seed 000: no phone on the legal representative's row (it goes on the ID copy)
    "法定代表人/\n主要负责人": (
        100,
        [("法定代表人/\n主要负责人", 1), ("{legal_rep_name}", 2), ("证件类型", 1), ("{legal_rep_id_type}", 2)],
    ),
}
HANGZHOU_LAYOUT: list[tuple[int, list[tuple[str, int]]]] = [_HANGZHOU_ROWS.get(row[1][0][0], row) for row in LAYOUT]
PROMISE = (
    "我单位已阅读《中国电子口岸数字证书申请须知》，了解数字证书用途、申领和使用过程中的注意事项。"
    "我单位向受理机构提供的信息和资料真实、有效，将按须知要求妥善保管密钥、使用数字证书。特此声明。"
)
CATEGORIES = ["新办", "注销"]

# seed 004 (网证通 《数字证书及电子印章申请表》)
NETCA_TITLE = "网证通数字证书及电子印章申请表"
NETCA_CATEGORIES = ["新申请", "更新续期", "变更", "注销", "补办", "解锁"]
NETCA_LAYOUT: list[tuple[int, list[tuple[str, int]]]] = [
    (90, [("申请业务类型", 1), ("{category_row}", 5)]),
    (70, [("申请单位基本资料", 6)]),
    (90, [("机构名称", 1), ("{applicant_name}", 5)]),
    (100, [("统一社会信用代码\n或营业执照号", 2), ("{org_code}", 4)]),
    (90, [("电子邮箱", 1), ("{email}", 5)]),
    (90, [("通信地址", 1), ("{address}", 5)]),
    (70, [("经办人资料", 6)]),
    (90, [("姓名", 1), ("{handler_name}", 2), ("手机", 1), ("{handler_phone}", 2)]),
    (90, [("身份证号", 1), ("{handler_id_number}", 5)]),
]


@dataclass(frozen=True)
class FormSpec:
    title: str
    categories: list[str]
    layout: list[tuple[int, list[tuple[str, int]]]]
    promise: str


FORMS = {
    "xiamen": FormSpec(TITLE, CATEGORIES, LAYOUT, PROMISE),
    "hangzhou": FormSpec(
        HANGZHOU_TITLE,
        HANGZHOU_CATEGORIES,
        HANGZHOU_LAYOUT,
        PROMISE.replace("数字证书申请须知", "机构证书申请须知").replace("使用数字证书", "机构证书"),
    ),
    "netca": FormSpec(
        NETCA_TITLE,
        NETCA_CATEGORIES,
        NETCA_LAYOUT,
        "本单位在此郑重声明：本单位授权上述经办人办理本单位数字证书，本单位保证所填写的内容和提交的证明材料"
        "真实、完整、有效。",
    ),
}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强海燕晓东红梅雪晨宇航思远子涵浩然欣怡"
CITY_PREFIX = {"厦门": ("350200", "350203"), "杭州": ("330100", "330106"), "广州": ("440100", "440104")}
WORDS = ["海辰", "鹭岛", "星河", "瑞达", "华信", "恒通", "中科", "鼎盛", "嘉和", "东方", "新锐", "天行", "融汇", "启明"]
TRADES = ["密码科技", "信息技术", "网络安全", "电子科技", "数据服务", "国际贸易", "供应链管理", "软件"]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def font_path() -> str:
    for p in FONT_CANDIDATES:
        if Path(p).exists():
            return p
    raise SystemExit("no CJK font found: install fonts-wqy-zenhei (apt) — see .ci/run")


def org_check(code8: str) -> str:
    weights = [3, 7, 9, 10, 5, 8, 4, 2]
    vals = [int(c) if c.isdigit() else ord(c) - 55 for c in code8]
    c9 = 11 - sum(w * v for w, v in zip(weights, vals, strict=True)) % 11
    return {10: "X", 11: "0"}.get(c9, str(c9))


def make_uscc(rng: random.Random, division: str) -> str:
    if rng.random() < 0.6:  # classic numeric organisation code
        body8 = "".join(rng.choice("0123456789") for _ in range(8))
    else:  # post-2015 codes issued with the USCC look like MA2XXXXX
        body8 = "MA" + "".join(rng.choice(ORG_ALPHABET) for _ in range(6))
    code17 = "91" + division + body8 + org_check(body8)
    return code17 + uscc.calc_check_digit(code17)


def make_id(rng: random.Random, address: str) -> str:
    year = rng.randint(1965, 1998)
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    seq = rng.randint(100, 999)
    body = f"{address}{year:04d}{month:02d}{day:02d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects the number *with* a check slot


def make_mobile(rng: random.Random) -> str:
    return rng.choice(["138", "139", "136", "158", "186", "177", "135", "151"]) + f"{rng.randint(0, 99999999):08d}"


def make_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2])))


def make_product_cert(rng: random.Random) -> str:
    return f"GM0033122{rng.randint(2022, 2025)}{rng.randint(1, 999):04d}"


def random_truth(rng: random.Random, city: str = "厦门", office: str = "xiamen") -> dict[str, str]:
    truth = _random_truth(rng, city)
    if office in ("hangzhou", "netca"):
        truth["address"] = (
            f"{city}市{rng.choice(['西湖区', '拱墅区', '越秀区'])}{rng.choice(WORDS)}路{rng.randint(1, 999)}号"
        )
    if office == "hangzhou":  # the 机构证书申请表 asks for 通信地址, not 邮件地址
        del truth["email"]
        del truth["legal_rep_phone"]
    if office == "netca":  # 网证通: organisation, address, handler; no legal representative or device fields
        for key in (
            "legal_rep_name",
            "legal_rep_phone",
            "legal_rep_id_type",
            "legal_rep_id_number",
            "handler_id_type",
            "crypto_product_cert_no",
            "common_name",
            "algorithm",
            "validity_years",
        ):
            del truth[key]
        truth["category"] = "新申请"
        truth["address"] = (
            f"{city}市{rng.choice(['西湖区', '拱墅区', '滨江区'])}{rng.choice(WORDS)}路{rng.randint(1, 999)}号"
        )
    return truth


def _random_truth(rng: random.Random, city: str) -> dict[str, str]:
    division, address = CITY_PREFIX[city]
    company = f"{city}{rng.choice(WORDS)}{rng.choice(TRADES)}有限公司"
    return {
        "category": "新办",
        "applicant_name": company,
        "org_code": make_uscc(rng, division),
        "email": f"{rng.choice(['ca', 'it', 'admin', 'pki', 'security'])}{rng.randint(1, 99)}@"
        f"{rng.choice(['haichen', 'ludao', 'xinghe', 'ruida', 'huaxin'])}-tech.com.cn",
        "legal_rep_name": make_name(rng),
        "legal_rep_phone": make_mobile(rng),
        "legal_rep_id_type": "居民身份证",
        "legal_rep_id_number": make_id(rng, address),
        "handler_name": make_name(rng),
        "handler_phone": make_mobile(rng),
        "handler_id_type": "居民身份证",
        "handler_id_number": make_id(rng, address),
        "crypto_product_cert_no": make_product_cert(rng),
        "common_name": company,
        "algorithm": "SM2",
        "validity_years": "10",
    }


def corrupt_uscc_check(code: str) -> str:
    """Same code with a different (wrong) check character."""
    alphabet = USCC_ALPHABET
    wrong = alphabet[(alphabet.index(code[-1]) + 7) % len(alphabet)]
    return code[:-1] + wrong


# --------------------------------------------------------------------------- rendering: scan


@dataclass
class ScanStyle:
    dpi: int = 200
    rotation: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    jpeg_quality: int = 88
    grey: bool = False
    tick: str = "check"  # check | fill | cross


PAGE_W, PAGE_H = 1654, 2339  # A4 at 200 dpi
MARGIN_X = 100


def _fit_font(draw: ImageDraw.ImageDraw, text: str, width: int, size: int) -> ImageFont.FreeTypeFont:
    fp = font_path()
    while size > 16:
        font = ImageFont.truetype(fp, size)
        if max(draw.textlength(line, font=font) for line in text.split("\n")) <= width - 24:
            return font
        size -= 2
    return ImageFont.truetype(fp, size)


def _draw_box(draw: ImageDraw.ImageDraw, x: int, y: int, size: int, ticked: bool, style: str) -> None:
    draw.rectangle([x, y, x + size, y + size], outline="black", width=3)
    if not ticked:
        return
    if style == "fill":
        draw.rectangle([x + 6, y + 6, x + size - 6, y + size - 6], fill="black")
    elif style == "cross":
        draw.line([x + 5, y + 5, x + size - 5, y + size - 5], fill="black", width=4)
        draw.line([x + size - 5, y + 5, x + 5, y + size - 5], fill="black", width=4)
    else:
        draw.line([x + 5, y + size // 2, x + size // 2.4, y + size - 6], fill="black", width=5)
        draw.line([x + size // 2.4, y + size - 6, x + size - 3, y + 3], fill="black", width=5)


def render_form_image(
    truth: dict[str, str], style: ScanStyle, rng: random.Random, office: str = "xiamen"
) -> Image.Image:
    form = FORMS[office]
    img = Image.new("RGB", (PAGE_W, PAGE_H), "white")
    draw = ImageDraw.Draw(img)
    fp = font_path()
    title_font = ImageFont.truetype(fp, 54 if len(form.title) < 16 else 46)
    tw = draw.textlength(form.title, font=title_font)
    draw.text(((PAGE_W - tw) / 2, 150), form.title, font=title_font, fill="black")
    y = 280
    table_w = sum(COLUMNS)
    for height, cells in form.layout:
        x = MARGIN_X
        col = 0
        for text, span in cells:
            w = sum(COLUMNS[col : col + span])
            draw.rectangle([x, y, x + w, y + height], outline="black", width=3)
            if text == "{category_row}":
                _draw_category_row(draw, truth, x, y, w, height, style.tick, form.categories)
            else:
                content = text.format(**truth) if "{" in text else text
                is_value = text.startswith("{")
                if is_value and draw.textlength(content, font=ImageFont.truetype(fp, 30)) > w - 24:
                    half = (len(content) + 1) // 2  # a long name wraps over two lines in its cell
                    content = content[:half] + "\n" + content[half:]
                font = _fit_font(draw, content, w, 34 if is_value else 30)
                lines = content.split("\n")
                line_h = font.size + 8
                ty = y + (height - line_h * len(lines)) / 2 + 4
                for line in lines:
                    lw = draw.textlength(line, font=font)
                    tx = x + 14 if is_value and span > 1 else x + (w - lw) / 2
                    draw.text((tx, ty), line, font=font, fill=(20, 20, 60) if is_value else "black")
                    ty += line_h
            x += w
            col += span
        y += height
    # promise block with seal and signature
    block_h = 520
    draw.rectangle([MARGIN_X, y, MARGIN_X + table_w, y + block_h], outline="black", width=3)
    small = ImageFont.truetype(fp, 28)
    draw.text((MARGIN_X + 20, y + 20), "申请单位承诺声明", font=ImageFont.truetype(fp, 32), fill="black")
    line, ty = "", y + 70
    for ch in form.promise:
        if draw.textlength(line + ch, font=small) > table_w - 60:
            draw.text((MARGIN_X + 30, ty), line, font=small, fill="black")
            line, ty = "", ty + 40
        line += ch
    draw.text((MARGIN_X + 30, ty), line, font=small, fill="black")
    draw.text((MARGIN_X + 1000, y + 300), "申请单位公章", font=small, fill="black")
    draw.text((MARGIN_X + 30, y + 380), "法定代表人/主要负责人（或授权代理人）签字：", font=small, fill="black")
    draw.text((MARGIN_X + 1000, y + 450), "年     月     日", font=small, fill="black")
    _draw_signature(draw, MARGIN_X + 650, y + 370, rng)
    _draw_seal(img, MARGIN_X + 1080, y + 300, truth["applicant_name"])
    return degrade(img, style, rng)


def _draw_category_row(
    draw: ImageDraw.ImageDraw,
    truth: dict[str, str],
    x: int,
    y: int,
    w: int,
    h: int,
    tick: str,
    categories: list[str] | None = None,
) -> None:
    categories = categories or CATEGORIES
    font = ImageFont.truetype(font_path(), 32 if len(categories) <= 2 else 26)
    cx = x + 24
    box = 30 if len(categories) <= 2 else 26
    for option in categories:
        ticked = truth["category"] == option or option in truth.get("category_extra", "")
        _draw_box(draw, cx, y + (h - box) // 2, box, ticked, tick)
        cx += box + 10
        label = option
        serial = truth.get("old_cert_serial", "") if truth["category"] == option else ""
        if option == "注销" and len(categories) <= 3:
            label = f"注销（待注销的证书[序号：{serial or '        '}]）"
        elif option == "更新" and len(categories) == 3:
            label = f"更新（原证书[序号：{serial or '        '}]一个月后注销）"
        draw.text((cx, y + (h - font.size - 2) // 2), label, font=font, fill="black")
        cx += int(draw.textlength(label, font=font)) + (80 if len(categories) <= 2 else 34)


def _draw_signature(draw: ImageDraw.ImageDraw, x: int, y: int, rng: random.Random) -> None:
    pts = [(x + i * 18, y + 30 + rng.randint(-22, 22)) for i in range(14)]
    draw.line(pts, fill=(15, 15, 40), width=4, joint="curve")


def _draw_seal(img: Image.Image, cx: int, cy: int, name: str) -> None:
    seal = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(seal)
    r = 120
    red = (205, 30, 30, 170)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=red, width=8)
    star = [
        (cx, cy - 35),
        (cx + 10, cy - 8),
        (cx + 38, cy - 8),
        (cx + 15, cy + 9),
        (cx + 24, cy + 36),
        (cx, cy + 19),
        (cx - 24, cy + 36),
        (cx - 15, cy + 9),
        (cx - 38, cy - 8),
        (cx - 10, cy - 8),
    ]
    d.polygon(star, fill=red)
    font = ImageFont.truetype(font_path(), 24)
    import math

    text = name[:14]
    for i, ch in enumerate(text):
        ang = math.radians(-150 + i * (120 / max(len(text) - 1, 1)))
        tx, ty = cx + (r - 32) * math.cos(ang), cy + (r - 32) * math.sin(ang)
        d.text((tx - 12, ty - 12), ch, font=font, fill=red)
    img.paste(Image.alpha_composite(img.convert("RGBA"), seal).convert("RGB"))


def degrade(img: Image.Image, style: ScanStyle, rng: random.Random) -> Image.Image:
    if style.rotation:
        img = img.rotate(style.rotation, resample=Image.Resampling.BICUBIC, expand=False, fillcolor="white")
    if style.blur:
        img = img.filter(ImageFilter.GaussianBlur(style.blur))
    if style.noise:
        import numpy as np

        arr = np.asarray(img).astype("int16")
        noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, style.noise, arr.shape)
        img = Image.fromarray(np.clip(arr + noise, 0, 255).astype("uint8"))
    if style.grey:
        img = img.convert("L").convert("RGB")
    if style.dpi != 200:
        scale = style.dpi / 200
        img = img.resize((int(PAGE_W * scale), int(PAGE_H * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=style.jpeg_quality, dpi=(style.dpi, style.dpi))
    return Image.open(io.BytesIO(buf.getvalue()))


# --------------------------------------------------------------------------- attachments

PRODUCTS = [
    ("服务器密码机", "SJJ1012"),
    ("签名验签服务器", "SRJ1309"),
    ("云服务器密码机", "SJJ1995"),
    ("服务器密码机", "SJJ1528-G"),
    ("签名验签服务器", "GW-SVS-2000"),
]
MAKERS = ["三未信安科技股份有限公司", "格尔软件股份有限公司", "渔翁信息技术股份有限公司", "江南天安科技有限公司"]
ISSUERS = {"厦门": "厦门市公安局思明分局", "杭州": "杭州市公安局西湖分局", "广州": "广州市公安局越秀分局"}


def attachment_truth(rng: random.Random, truth: dict[str, str], city: str = "厦门") -> dict[str, str]:
    """What the licence, ID copies, product certificate and invoice say (namespaced keys)."""
    product, model = rng.choice(PRODUCTS)
    maker = rng.choice(MAKERS)
    year = int(truth["crypto_product_cert_no"][9:13])
    start = rng.randint(2012, 2020)
    return {
        "license.org_code": truth["org_code"],
        "license.name": truth["applicant_name"],
        "license.legal_rep": truth["legal_rep_name"],
        "license.address": f"{city}市思明区{rng.choice(WORDS)}路{rng.randint(1, 999)}号",
        "id_card.1.name": truth["legal_rep_name"],
        "id_card.1.number": truth["legal_rep_id_number"],
        "id_card.1.valid": f"{start}.0{rng.randint(1, 9)}.1{rng.randint(0, 9)}-"
        f"{start + 20}.0{rng.randint(1, 9)}.1{rng.randint(0, 9)}",
        "id_card.2.name": truth["handler_name"],
        "id_card.2.number": truth["handler_id_number"],
        "id_card.2.valid": f"{start + 1}.1{rng.randint(0, 2)}.0{rng.randint(1, 9)}-长期",
        "product_cert.number": truth["crypto_product_cert_no"],
        "product_cert.product": product,
        "product_cert.model": model,
        "product_cert.maker": maker,
        "product_cert.valid_until": f"{year + 5}年{rng.randint(1, 12):02d}月{rng.randint(1, 28):02d}日",
        "invoice.buyer": truth["applicant_name"],
        "invoice.amount": f"{rng.randint(60, 300) * 1000}.00",
    }


def _kv_page(
    title: str,
    rows: list[tuple[str, str]],
    size: tuple[int, int],
    seal: str | None,
    rng: random.Random,
    style: ScanStyle,
    subtitle: str = "",
) -> Image.Image:
    img = Image.new("RGB", size, (250, 250, 246))
    draw = ImageDraw.Draw(img)
    fp = font_path()
    tfont = ImageFont.truetype(fp, 56)
    tw = draw.textlength(title, font=tfont)
    draw.text(((size[0] - tw) / 2, 70), title, font=tfont, fill=(120, 20, 20) if seal else "black")
    y = 190
    if subtitle:
        sf = ImageFont.truetype(fp, 30)
        draw.text(((size[0] - draw.textlength(subtitle, font=sf)) / 2, 150), subtitle, font=sf, fill="black")
        y = 230
    lfont, vfont = ImageFont.truetype(fp, 32), ImageFont.truetype(fp, 34)
    for label, value in rows:
        draw.text((110, y), label, font=lfont, fill="black")
        vx = 110 + max(300, int(draw.textlength(label, font=lfont)) + 60)
        draw.text((vx, y), value, font=vfont, fill=(25, 25, 60))
        y += 78
    if seal:
        _draw_seal(img, size[0] - 330, y - 120, seal)
    style = ScanStyle(
        dpi=200,
        rotation=style.rotation * 0.5,
        blur=style.blur,
        noise=style.noise,
        jpeg_quality=style.jpeg_quality,
        grey=style.grey,
    )
    return degrade(img, style, rng)


def render_license(att: dict[str, str], style: ScanStyle, rng: random.Random) -> Image.Image:
    return _kv_page(
        "营业执照",
        [
            ("统一社会信用代码", att["license.org_code"]),
            ("名称", att["license.name"]),
            ("类型", "有限责任公司"),
            ("法定代表人", att["license.legal_rep"]),
            ("注册资本", f"{rng.randint(100, 5000)}万元人民币"),
            ("成立日期", f"{rng.randint(2005, 2020)}年{rng.randint(1, 12):02d}月{rng.randint(1, 28):02d}日"),
            ("住所", att["license.address"]),
        ],
        (1654, 1169),
        "市场监督管理局",
        rng,
        style,
        subtitle="（副本）",
    )


def render_id_copy(att: dict[str, str], person: int, style: ScanStyle, rng: random.Random) -> Image.Image:
    number = att[f"id_card.{person}.number"]
    birth = f"{number[6:10]}年{int(number[10:12])}月{int(number[12:14])}日"
    return _kv_page(
        "居民身份证复印件",
        [
            ("姓名", att[f"id_card.{person}.name"]),
            ("性别", "男" if int(number[16]) % 2 else "女"),
            ("出生", birth),
            ("公民身份号码", number),
            ("签发机关", ISSUERS["厦门"]),
            ("有效期限", att[f"id_card.{person}.valid"]),
        ],
        (1654, 1169),
        None,
        rng,
        style,
    )


def render_product_cert(att: dict[str, str], style: ScanStyle, rng: random.Random) -> Image.Image:
    return _kv_page(
        "商用密码产品认证证书",
        [
            ("证书编号", att["product_cert.number"]),
            ("委托人名称", att["product_cert.maker"]),
            ("生产者名称", att["product_cert.maker"]),
            ("产品名称", att["product_cert.product"]),
            ("产品型号", att["product_cert.model"]),
            ("有效期至", att["product_cert.valid_until"]),
        ],
        (1654, 1169),
        "商用密码认证机构",
        rng,
        style,
    )


def render_invoice(att: dict[str, str], style: ScanStyle, rng: random.Random) -> Image.Image:
    return _kv_page(
        "增值税电子普通发票",
        [
            ("购买方名称", att["invoice.buyer"]),
            ("货物名称", "服务类密码设备"),
            ("价税合计", att["invoice.amount"]),
        ],
        (1654, 1000),
        None,
        rng,
        style,
    )


def _id_rows(att: dict[str, str], n: int) -> list[tuple[str, str]]:
    return [
        ("姓名", att[f"id_card.{n}.name"]),
        ("公民身份号码", att[f"id_card.{n}.number"]),
        ("有效期限", att[f"id_card.{n}.valid"]),
    ]


def _attachment_rows(att: dict[str, str]) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    return {
        "营业执照": (
            "营业执照",
            [
                ("统一社会信用代码", att["license.org_code"]),
                ("名称", att["license.name"]),
                ("法定代表人", att["license.legal_rep"]),
                ("住所", att["license.address"]),
            ],
        ),
        **{stem: ("居民身份证复印件", _id_rows(att, n)) for stem, n in (("法定代表人身份证", 1), ("经办人身份证", 2))},
        "商用密码产品认证证书": (
            "商用密码产品认证证书",
            [
                ("证书编号", att["product_cert.number"]),
                ("委托人名称", att["product_cert.maker"]),
                ("产品名称", att["product_cert.product"]),
                ("产品型号", att["product_cert.model"]),
                ("有效期至", att["product_cert.valid_until"]),
            ],
        ),
        "发票": ("增值税电子普通发票", [("购买方名称", att["invoice.buyer"]), ("价税合计", att["invoice.amount"])]),
    }


def write_attachments_docx(case: Path, att: dict[str, str], skip: tuple[str, ...] = (), invoice: bool = False) -> None:
    """Text-layer copies (fast to read: no OCR) — used by the defect corpus."""
    from docx import Document

    for stem, (title, rows) in _attachment_rows(att).items():
        if f"{stem}.jpg" in skip or f"{stem}.docx" in skip or (stem == "发票" and not invoice):
            continue
        doc = Document()
        doc.add_heading(title, level=1)
        for label, value in rows:
            doc.add_paragraph(f"{label}：{value}")
        doc.save(str(case / f"{stem}.docx"))


ATTACHMENT_FILES = {
    "营业执照.jpg": lambda att, st, rng: render_license(att, st, rng),
    "法定代表人身份证.jpg": lambda att, st, rng: render_id_copy(att, 1, st, rng),
    "经办人身份证.jpg": lambda att, st, rng: render_id_copy(att, 2, st, rng),
    "商用密码产品认证证书.jpg": lambda att, st, rng: render_product_cert(att, st, rng),
}


def write_attachments(
    case: Path,
    att: dict[str, str],
    style: ScanStyle,
    rng: random.Random,
    invoice: bool = False,
    skip: tuple[str, ...] = (),
) -> None:
    files = dict(ATTACHMENT_FILES)
    if invoice:
        files["发票.jpg"] = lambda a, st, r: render_invoice(a, st, r)
    for name, render in files.items():
        if name in skip:
            continue
        render(att, style, rng).save(case / name, "JPEG", quality=min(style.jpeg_quality, 75))


# --------------------------------------------------------------------------- rendering: DOCX


def render_form_docx(truth: dict[str, str], path: Path, office: str = "xiamen") -> None:
    from docx import Document
    from docx.shared import Pt

    form = FORMS[office]
    doc = Document()
    doc.add_heading(form.title, level=1)
    table = doc.add_table(rows=0, cols=len(COLUMNS))
    table.style = "Table Grid"
    for _height, cells in form.layout:
        row = table.add_row()
        col = 0
        for text, span in cells:
            cell = row.cells[col]
            if span > 1:
                cell = cell.merge(row.cells[col + span - 1])
            if text == "{category_row}":
                content = _category_text(truth, office)
            else:
                content = text.format(**truth) if "{" in text else text
            cell.text = content.replace("\n", "")
            for p in cell.paragraphs:
                for run in p.runs:
                    run.font.size = Pt(10.5)
            col += span
    doc.add_paragraph("申请单位承诺声明")
    doc.add_paragraph(PROMISE)
    doc.add_paragraph("申请单位公章：（已盖章）")
    doc.add_paragraph("法定代表人/主要负责人（或授权代理人）签字：")
    doc.save(str(path))


def _category_text(truth: dict[str, str], office: str) -> str:
    hangzhou = office == "hangzhou"
    cats = FORMS[office].categories
    if office == "netca":
        return "    ".join(
            ("☑" if truth["category"] == c or c in truth.get("category_extra", "") else "□") + c for c in cats
        )
    mark = {c: "☑" if truth["category"] == c or c in truth.get("category_extra", "") else "□" for c in cats}
    serial = truth.get("old_cert_serial", "")
    revoke_serial = serial if truth["category"] == "注销" else ""
    text = f"{mark['新办']}新办    {mark['注销']}注销（待注销的证书[序号：{revoke_serial}]）"
    if hangzhou:
        update_serial = serial if truth["category"] == "更新" else ""
        text += f"    {mark['更新']}更新（原证书[序号：{update_serial}]将在新证书生效后一个月注销）"
    return text


# --------------------------------------------------------------------------- rendering: PDF with a text layer


def render_form_pdf_text(truth: dict[str, str], path: Path, office: str = "xiamen") -> None:
    """The same table drawn with reportlab: real text objects, no image (a form filled on a computer)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "WQY" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("WQY", font_path(), subfontIndex=0))
    form = FORMS[office]
    k = 72 / 200  # generator pixels (200 dpi) → points
    _w, h_page = A4
    c = canvas.Canvas(str(path), pagesize=A4)

    def text(x: float, y: float, value: str, size: float) -> None:
        c.setFont("WQY", size)
        c.drawString(x * k, h_page - y * k - size, value)

    c.setFont("WQY", 20)
    c.drawCentredString(A4[0] / 2, h_page - 160 * k - 20, form.title)
    y = 280
    for height, cells in form.layout:
        x, col = MARGIN_X, 0
        for cell, span in cells:
            w = sum(COLUMNS[col : col + span])
            c.rect(x * k, h_page - (y + height) * k, w * k, height * k)
            if cell == "{category_row}":
                # WenQuanYi has no ☑: a filled square is what such forms print
                text(x + 20, y + height / 2 - 12, _category_text(truth, office).replace("☑", "■"), 10)
            else:
                content = cell.format(**truth) if "{" in cell else cell
                lines = content.split("\n")
                size = 11 if cell.startswith("{") else 10.5
                while max(len(line) for line in lines) * size / k > w - 20 and size > 6:
                    size -= 0.5
                for i, line in enumerate(lines):
                    text(x + 12, y + height / 2 - 16 * len(lines) + 32 * i + 4, line, size)
            x += w
            col += span
        y += height
    text(MARGIN_X + 20, y + 30, "申请单位承诺声明", 11)
    text(MARGIN_X + 20, y + 90, form.promise[:60], 9)
    text(MARGIN_X + 1000, y + 300, "申请单位公章：（已盖章）", 10)
    c.showPage()
    c.save()


def save_scan_pdf(img: Image.Image, path: Path, dpi: int) -> None:
    """A scanner's PDF: one JPEG image per page, no text layer."""
    img.convert("RGB").save(path, "PDF", resolution=float(dpi))


# --------------------------------------------------------------------------- CSR


def make_csr(
    subject_o: str, subject_cn: str, out: Path, key_out: Path | None = None, distid: str | None = "1234567812345678"
) -> None:
    """SM2 key + PKCS#10 request made by ``openssl req`` (the applicant's side of the real process)."""
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "key.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True, capture_output=True)
        cmd = [
            "openssl",
            "req",
            "-new",
            "-key",
            str(key),
            "-sm3",
            "-utf8",
            "-out",
            str(out),
            "-subj",
            f"/C=CN/O={subject_o}/CN={subject_cn}",
        ]
        if distid:
            cmd += ["-sigopt", f"distid:{distid}"]
        subprocess.run(cmd, check=True, capture_output=True)
        if key_out is not None:
            shutil.copyfile(key, key_out)


# --------------------------------------------------------------------------- cases


def write_case_with_attachments(
    out: Path,
    truth_dir: Path,
    name: str,
    truth: dict[str, str],
    kind: str,
    style: ScanStyle | None,
    rng: random.Random,
    att_rng: random.Random,
    overrides: dict[str, str] | None = None,
    skip: tuple[str, ...] = (),
) -> Path:
    case = write_case(out, truth_dir, name, truth, kind, style, rng)
    att = attachment_truth(att_rng, truth) | (overrides or {})
    write_attachments(case, att, style or ScanStyle(), att_rng, skip=skip)
    record = json.loads((truth_dir / f"{name}.json").read_text(encoding="utf-8"))
    record["attachments"] = att
    (truth_dir / f"{name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    return case


def write_case(
    out: Path,
    truth_dir: Path,
    name: str,
    truth: dict[str, str],
    kind: str,
    style: ScanStyle | None,
    rng: random.Random,
    csr: bool = True,
    office: str = "xiamen",
) -> Path:
    """kind: jpg (a scan), pdf-scan (a scanner's image PDF), pdf-text (a PDF with a text layer) or docx."""
    case = out / name
    case.mkdir(parents=True, exist_ok=True)
    style = style or ScanStyle()
    if kind == "docx":
        render_form_docx(truth, case / "申请表.docx", office=office)
    elif kind == "pdf-text":
        render_form_pdf_text(truth, case / "申请表.pdf", office=office)
    else:
        img = render_form_image(truth, style, rng, office=office)
        if kind == "pdf-scan":
            save_scan_pdf(img, case / "申请表.pdf", style.dpi)
        else:
            img.save(case / "申请表.jpg", "JPEG", quality=style.jpeg_quality)
    if csr:
        name_ = truth["applicant_name"]
        make_csr(name_, truth.get("common_name", name_), case / "request.csr")
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / f"{name}.json").write_text(
        json.dumps({"kind": kind, "office": office, "fields": truth}, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return case


def committed_set(out: Path, truth_dir: Path) -> None:
    rng = random.Random(20261121)
    clean = random_truth(rng)
    scan = ScanStyle(rotation=0.6, blur=0.6, noise=6, jpeg_quality=80)
    write_case_with_attachments(out, truth_dir, "xiamen-new-scan", clean, "jpg", scan, rng, random.Random(1))
    docx_truth = random_truth(rng)
    write_case_with_attachments(out, truth_dir, "xiamen-new-docx", docx_truth, "docx", None, rng, random.Random(2))
    bad = random_truth(rng)
    good_code = bad["org_code"]
    bad["org_code"] = corrupt_uscc_check(bad["org_code"])
    write_case_with_attachments(
        out,
        truth_dir,
        "xiamen-new-bad-uscc",
        bad,
        "jpg",
        ScanStyle(rotation=-0.4, blur=0.5, noise=5, jpeg_quality=82, tick="fill"),
        rng,
        random.Random(3),
        overrides={"license.org_code": good_code},
    )
    atts = [
        json.loads((truth_dir / f"{n}.json").read_text(encoding="utf-8"))["attachments"]
        for n in ("xiamen-new-scan", "xiamen-new-docx", "xiamen-new-bad-uscc")
    ]
    write_registry(out.parent / "product-registry.csv", registry_rows(atts, random.Random(4)))
    # one committed scan and one text-layer PDF of each of the other two forms (the OCR and PDF tests read them)
    forms_rng = random.Random(5)
    for office in ("hangzhou", "netca"):
        t = random_truth(forms_rng, office=office)
        write_case(
            out.parent / "forms",
            truth_dir,
            f"{office}-scan",
            t,
            "jpg",
            ScanStyle(rotation=0.8, blur=0.5, noise=5, jpeg_quality=80),
            forms_rng,
            csr=False,
            office=office,
        )
        t = random_truth(forms_rng, office=office)
        write_case(
            out.parent / "forms",
            truth_dir,
            f"{office}-text-pdf",
            t,
            "pdf-text",
            None,
            forms_rng,
            csr=False,
            office=office,
        )


REGISTRY_HEADER = ["证书编号", "产品名称", "型号", "生产者", "发证日期", "有效期至"]


def registry_rows(atts: list[dict[str, str]], rng: random.Random) -> list[list[str]]:
    """Registry rows for the given attachment truths plus unrelated products (one expired, one not a
    service-type device) so the defect corpus can refer to them."""
    rows = []
    for att in atts:
        year = int(att["product_cert.number"][9:13])
        rows.append(
            [
                att["product_cert.number"],
                att["product_cert.product"],
                att["product_cert.model"],
                att["product_cert.maker"],
                f"{year}-03-01",
                att["product_cert.valid_until"].replace("年", "-").replace("月", "-").replace("日", ""),
            ]
        )
    rows.append(["GM003312220150007", "服务器密码机", "SJJ0917", MAKERS[0], "2015-05-01", "2020-04-30"])
    rows.append(["GM003312220210811", "智能密码钥匙", "mToken-GM3000", MAKERS[1], "2021-06-01", "2031-05-31"])
    return rows


def write_registry(path: Path, rows: list[list[str]]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(REGISTRY_HEADER)
        w.writerows(rows)


def random_set(out: Path, truth_dir: Path, seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    made = []
    for i in range(count):
        truth = random_truth(rng)
        kind = rng.choice(["jpg", "jpg", "jpg", "docx"])
        style = ScanStyle(
            dpi=rng.choice([150, 200, 300]),
            rotation=rng.uniform(-3, 3),
            blur=rng.uniform(0, 1.0),
            noise=rng.uniform(0, 10),
            jpeg_quality=rng.randint(50, 90),
            grey=rng.random() < 0.3,
            tick=rng.choice(["check", "fill", "cross"]),
        )
        name = f"case-{seed}-{i:04d}"
        case = write_case(out, truth_dir, name, truth, kind, style, rng)
        att = attachment_truth(rng, truth)
        write_attachments_docx(case, att)  # text-layer copies: the form is what is measured here
        made.append({"name": name, "kind": kind, "truth": truth, "att": att})
    write_registry(out.parent / "registry.csv", registry_rows([m["att"] for m in made], rng))
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "cases")
    ap.add_argument("--truth", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--random", type=int, default=0, help="generate N random labelled cases instead")
    args = ap.parse_args()
    truth_dir = args.truth or args.out.parent / "truth"
    if args.random:
        random_set(args.out, truth_dir, args.seed or 1, args.random)
    else:
        committed_set(args.out, truth_dir)


if __name__ == "__main__":
    main()
