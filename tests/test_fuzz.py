"""Property tests and bounded fuzzing (hypothesis) of validators, normalisation and every parser of outside
bytes: each either returns a value or reports through its own error type — it never crashes otherwise."""

from __future__ import annotations

import io
import os
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.exceptions import ValidationError

from pipeline import identifiers as ids
from pipeline.extract.forms import TextItem, clean_value, extract_labeled
from pipeline.ingest import archive, mail
from pipeline.issue import envelope, sm2
from pipeline.pki import der
from pipeline.profiles import load_profiles
from pipeline.validate.crossdoc import normalise_name

# CI explores a fixed set of examples (a red build must be reproducible); local runs explore new ones
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("CI") == "true",
)
ALPHABET = ids.USCC_ALPHABET


@st.composite
def usccs(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from("9NY15"))
    kind = draw(st.sampled_from("123"))
    division = draw(st.text("0123456789", min_size=6, max_size=6))
    org8 = draw(st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8))
    body = authority + kind + division + org8 + ids.org_code_check_char(org8)
    return body + ids.uscc_check_char(body)


@FUZZ
@given(usccs(), st.data())
def test_uscc_single_substitution_always_detected(code: str, data: st.DataObject) -> None:
    assert ids.validate_uscc(code) == code
    pos = data.draw(st.integers(0, 17))
    new = data.draw(st.sampled_from([c for c in ALPHABET if c != code[pos]]))
    try:
        ids.validate_uscc(code[:pos] + new + code[pos + 1 :])
    except ValidationError:
        return
    raise AssertionError(f"undetected substitution at {pos}")


@FUZZ
@given(st.text(max_size=30))
def test_validators_only_raise_validation_errors(text: str) -> None:
    for validator in (
        ids.validate_uscc,
        ids.validate_org_code,
        ids.validate_resident_id,
        ids.validate_mobile,
        ids.validate_email,
    ):
        try:
            validator(text)
        except ValidationError:
            pass


@FUZZ
@given(st.integers(1950, 2005), st.integers(1, 12), st.integers(1, 28), st.integers(0, 999), st.data())
def test_resident_id_single_digit_error_detected(
    year: int, month: int, day: int, seq: int, data: st.DataObject
) -> None:
    body = f"350203{year}{month:02d}{day:02d}{seq:03d}"
    number = body + ids._ric_check(body)
    ids.validate_resident_id(number)
    pos = data.draw(st.integers(14, 16))  # sequence digits: every change keeps a real date and address
    new = data.draw(st.sampled_from([c for c in "0123456789" if c != number[pos]]))
    try:
        ids.validate_resident_id(number[:pos] + new + number[pos + 1 :])
    except ValidationError:
        return
    raise AssertionError("undetected single-digit error")


_FW = str.maketrans("()ABC0123 ", "（）ＡＢＣ０１２３　")


@FUZZ
@given(st.text(alphabet=st.sampled_from("厦门海辰科技有限公司()ABC0123 "), max_size=30))
def test_name_normalisation_folds_width_and_brackets(name: str) -> None:
    n = normalise_name(name)
    assert normalise_name(n) == n
    assert normalise_name(name.translate(_FW)) == n


@FUZZ
@given(
    st.sampled_from(
        [
            "uscc",
            "id_number",
            "phone",
            "email",
            "years",
            "name",
            "person",
            "serial",
            "amount",
            "algorithm",
            "text",
            "product_cert",
            "model",
        ]
    ),
    st.text(max_size=60),
)
def test_clean_value_total(shape: str, text: str) -> None:
    value = clean_value(shape, text)
    assert isinstance(value, str)
    if shape == "phone":
        assert all(c.isdigit() or c == "+" for c in value)


PROFILE = load_profiles(__import__("pipeline.config").config.REPO_ROOT / "forms")["xiamen-eport"]
boxes = st.tuples(st.floats(0, 2000), st.floats(0, 3000), st.floats(1, 400), st.floats(1, 80)).map(
    lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3])
)
words = st.sampled_from(
    [
        "申请单位",
        "机构代码",
        "联系电话",
        "证件号码",
        "经办人",
        "法定代表人",
        "厦门某公司",
        "91350200MA2YHR4E5X",
        "13812345678",
        "",
        "：",
        "申请类别",
        "□新办",
    ]
) | st.text(max_size=12)


@FUZZ
@given(st.lists(st.tuples(words, boxes, st.floats(0, 1)), max_size=40))
def test_field_extraction_never_crashes(raw: list) -> None:
    items = [TextItem(t, b, s) for t, b, s in raw]
    fields = extract_labeled(items, PROFILE.fields, PROFILE.stop_labels, "x.jpg")
    assert all(0.0 <= f.confidence <= 1.0 for f in fields.values())


@FUZZ
@given(st.binary(max_size=2048))
def test_der_parsers_report_errors_as_values(data: bytes) -> None:
    for parsed in (der.parse_csr(data), der.parse_certificate(data)):
        assert parsed.error is None or isinstance(parsed.error, str)


@FUZZ
@given(st.binary(min_size=1, max_size=400), st.integers(0, 399))
def test_der_parser_on_mutated_real_csr(noise: bytes, at: int) -> None:
    from pathlib import Path

    real = Path(__file__).resolve().parent.parent / "samples" / "cases" / "xiamen-new-docx" / "request.csr"
    _, _, body = __import__("asn1crypto.pem").pem.unarmor(real.read_bytes())
    at = at % len(body)
    mutated = body[:at] + noise + body[at + len(noise) :]
    for blob in (mutated, mutated[: at + 1]):  # must return a result (possibly an error), never raise
        parsed = der.parse_csr(blob)
        assert (parsed.error is None) == (parsed.key is not None)


@FUZZ
@given(st.binary(max_size=300))
def test_sm2_structures_raise_only_sm2_error(data: bytes) -> None:
    key = sm2.PrivateKey(123456789)
    for fn in (
        lambda: sm2.decode_signature(data),
        lambda: sm2.Ciphertext.from_der(data),
        lambda: envelope.open_envelope(data, key),
    ):
        try:
            fn()
        except sm2.SM2Error:
            pass
    assert sm2.verify(key.public_key, b"m", data) in (True, False)


@FUZZ
@given(st.binary(max_size=4096))
def test_mail_parser_total(data: bytes) -> None:
    subject, files, _findings = mail.mail_files(data)
    assert isinstance(subject, str)
    assert all("/" not in name and "\x00" not in name for name, _ in files)


@FUZZ
@given(
    st.dictionaries(st.text(min_size=1, max_size=20), st.binary(max_size=64), max_size=8),
    st.binary(max_size=64),
    st.integers(0, 500),
)
def test_archive_unpacker_total(entries: dict, noise: bytes, at: int) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            try:
                zf.writestr(zipfile.ZipInfo(name), data)
            except (ValueError, OSError):
                pass
    raw = buf.getvalue()
    at = at % (len(raw) or 1)
    for blob in (raw, raw[:at] + noise + raw[at + len(noise) :]):
        out = archive.unpack("x.zip", blob)
        assert all("/" not in n and not n.startswith(".") and "\x00" not in n for n, _ in out.files)


def test_regression_zip_with_unknown_version_is_reported_not_raised() -> None:
    """Found by test_archive_unpacker_total: zipfile raised NotImplementedError("zip file version 6.4")."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("00\x80\x80\x80\U00010000"), b"\x00")
    raw = buf.getvalue()
    mutated = raw[:49] + b"@" + raw[50:]
    out = archive.unpack("x.zip", mutated)
    assert [f.code for f in out.findings] == ["ARCHIVE_CORRUPT"] and out.files == []
    assert archive.is_archive("x.zip", mutated)  # a zip that claims to be one, yet cannot be read


def test_regression_zip_member_named_nul_only() -> None:
    """Found by test_archive_unpacker_total: a member named "\\x00" made ZipInfo.is_dir() raise IndexError."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("\x00"), b"")
    out = archive.unpack("x.zip", buf.getvalue())
    assert [n for n, _ in out.files] == ["file"] and "FILE_NAME_SANITISED" in [f.code for f in out.findings]
