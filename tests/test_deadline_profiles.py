"""Working-day deadlines and the office profiles of all five seeds."""

from __future__ import annotations

from datetime import date

from pipeline.config import REPO_ROOT
from pipeline.profiles import load_profiles
from pipeline.workdays import add_working_days, working_days_between


def test_working_days_skip_weekends_and_holidays() -> None:
    friday = date(2026, 11, 20)
    assert add_working_days(friday, 1) == date(2026, 11, 23)  # Monday
    assert add_working_days(friday, 5) == date(2026, 11, 27)
    assert add_working_days(date(2026, 9, 30), 2, [date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 5)]) == date(
        2026, 10, 7
    )
    assert working_days_between(friday, date(2026, 11, 27)) == 5
    assert working_days_between(friday, friday) == 0


def test_every_seed_office_has_a_profile() -> None:
    profiles = load_profiles(REPO_ROOT / "forms")
    assert set(profiles) == {"xiamen-eport", "hangzhou-eport", "netca-gd", "mofcom-ekey", "egov-extranet"}
    assert profiles["mofcom-ekey"].raw["certificates_per_org"] == 3
    assert profiles["xiamen-eport"].categories == ("新办", "注销")
    assert "更新" in profiles["hangzhou-eport"].categories
    assert profiles["netca-gd"].raw["review"]["policy"] == "two_stage"


def test_contract_carries_the_deadline(ctx) -> None:
    from pathlib import Path

    from conftest import SAMPLES

    from pipeline.stages import case_contract, ingest_path

    [o] = ingest_path(ctx, Path(SAMPLES / "xiamen-new-docx" / "request.csr"))
    data = case_contract(ctx, o.case_id)
    received = ctx.store.get_case(o.case_id).created_at.date()
    assert (
        data["deadline"]
        == add_working_days(
            received, 5, [date.fromisoformat(str(d)) for d in ctx.profiles["xiamen-eport"].raw["holidays"]]
        ).isoformat()
    )
