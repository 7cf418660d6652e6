"""Security review checks that can fail: masking in logs, no shell, names confined, keys protected."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest.names import safe_name
from pipeline.logsafe import MaskingFilter, mask

ROOT = Path(__file__).resolve().parent.parent


def test_ids_phones_and_secrets_are_masked_in_logs(caplog) -> None:
    logger = logging.getLogger("cert_intake.test")
    caplog.handler.addFilter(MaskingFilter())
    logger.warning("case failed for 350203197204141799 phone 13812345678 password=hunter2 on %s", "x")
    text = caplog.text
    assert "350203197204141799" not in text and "350203********1799" in text
    assert "13812345678" not in text and "138****5678" in text
    assert "hunter2" not in text
    assert mask("USCC 91350200MA2YHR4E5X stays") == "USCC 91350200MA2YHR4E5X stays"  # not personal data


def test_no_subprocess_with_a_shell() -> None:
    for path in (ROOT / "pipeline").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"shell\s*=\s*True", source), path
        assert "os.system(" not in source and "os.popen(" not in source, path


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_names_from_outside_stay_inside(raw: str) -> None:
    name = safe_name(raw)
    assert name and "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".") and len(name) <= 120
    base = Path("/srv/case")
    assert (base / name).resolve().parent == base
