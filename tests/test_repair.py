"""Check-digit-guided repair: one valid candidate is taken with low confidence and a finding; several are not."""

from __future__ import annotations

from pipeline.extract.repair import REPAIRED_CONFIDENCE, candidates, repair_fields
from pipeline.identifiers import validate_resident_id, validate_uscc
from pipeline.models import Evidence, Field

EV = Evidence("申请表.jpg", 1, (1.0, 2.0, 3.0, 4.0))


def test_single_candidate_is_repaired_with_low_confidence() -> None:
    good = "91610000555693947R"
    misread = good.replace("5556", "S556", 1)  # OCR read 5 as S
    fields, findings = repair_fields({"org_code": Field(misread, 0.98, EV)})
    assert fields["org_code"].value == good and fields["org_code"].confidence == REPAIRED_CONFIDENCE
    assert [f.code for f in findings] == ["OCR_REPAIRED"] and "S→5" in findings[0].message_zh


def test_ambiguous_or_text_layer_codes_are_not_guessed() -> None:
    bad = "350203197806113480"  # two single-confusion fixes validate (7→1 at 11, 1→7 at 16): never guess
    assert candidates(bad, validate_resident_id) == ["350203191806113480", "350203197806173480"]
    fields, findings = repair_fields({"handler_id_number": Field(bad, 0.99, EV)})
    assert fields["handler_id_number"].value == bad and [f.code for f in findings] == ["OCR_REPAIR_AMBIGUOUS"]
    # a typed (text-layer) value has no bbox: it is what the applicant wrote, never altered
    typed, none = repair_fields({"org_code": Field("9161000O555693947R", 1.0, Evidence("申请表.docx", 1, None))})
    assert typed["org_code"].value == "9161000O555693947R" and none == []


def test_valid_codes_untouched() -> None:
    fields, findings = repair_fields({"org_code": Field("91610000555693947R", 0.99, EV)})
    assert fields["org_code"].confidence == 0.99 and findings == []
    assert candidates("91610000555693947R", validate_uscc) == []


def test_a_serial_read_with_a_letter_o_is_read_whole_and_repaired_for_a_person() -> None:
    """Seed 57575: 序号：1CEBBECF6707FB0B24 read with O for the 0 in the 15th place.  The serial used to
    end at the O — `1CEBBECF6707FB` at 0.93, sure and wrong; now the whole run is read and the O, no hex digit,
    is the 0 it resembles, with lowered confidence and a finding (a serial has no check digit)."""
    from pipeline.extract.forms import TextItem, old_serial

    text = "√□更新(原证书[序号：1CEBBECF6707FBOB24]将在新证书生效后一个月注销）"
    line = TextItem(text, (356, 308, 1334, 348), 0.97, 1)
    read = old_serial([line], "scan.jpg", with_bbox=True)
    assert read is not None and read.value == "1CEBBECF6707FBOB24"
    fields, findings = repair_fields({"old_cert_serial": read})
    assert fields["old_cert_serial"].value == "1CEBBECF6707FB0B24"
    assert fields["old_cert_serial"].confidence == REPAIRED_CONFIDENCE
    assert [f.code for f in findings] == ["OCR_REPAIRED"] and "O→0（第 15 位）" in findings[0].message_zh
    # a letter no hex digit resembles is left as read (validation then finds no such certificate)
    odd, none = repair_fields({"old_cert_serial": Field("1CEBKECF", 0.97, EV)})
    assert odd["old_cert_serial"].value == "1CEBKECF" and none == []
    # typed: what the applicant wrote
    typed_line = TextItem("更新(原证书[序号：1CEBOECF]）", (0, 0, 1, 1), 1.0, 1)
    typed = old_serial([typed_line], "申请表.docx", with_bbox=False)
    assert typed is not None
    kept, none = repair_fields({"old_cert_serial": typed})
    assert kept["old_cert_serial"].value == "1CEBOECF" and none == []


def test_a_closing_bracket_read_as_j_is_not_part_of_the_serial() -> None:
    """Seed 23456: the ] after 序号：13D616F8C4A40CC0ED was read as J and joined the serial.  A serial is hex and
    J resembles no hex digit, so a J ending the run with no ] after it is the bracket; a J followed by the ]
    was written inside the brackets and is left for validation to question."""
    from pipeline.extract.forms import TextItem, old_serial

    line = TextItem("√注销（待注销的证书[序号：13D616F8C4A40CC0EDJ）", (356, 308, 1334, 348), 0.93, 1)
    read = old_serial([line], "scan.jpg", with_bbox=True)
    assert read is not None and read.value == "13D616F8C4A40CC0ED" and read.confidence == 0.93
    kept = old_serial([TextItem("注销（待注销的证书[序号：13D616F8C4AJ]）", (0, 0, 1, 1), 0.9, 1)], "s.jpg", True)
    assert kept is not None and kept.value == "13D616F8C4AJ"
