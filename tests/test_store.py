"""Case store: migrations, blob store, transactional transitions with audit rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from pipeline.errors import InvalidTransition
from pipeline.models import Evidence, Field, warning
from pipeline.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "blobs")


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from pipeline.store import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def test_migrations_create_schema_and_wal(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {
        "alembic_version",
        "cases",
        "case_files",
        "blobs",
        "case_fields",
        "case_findings",
        "audit",
        "certificates",
        "outputs",
        "crl_state",
        "deliveries",
        "mail_ledger",
    } <= tables
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
    store.migrate()  # idempotent


def test_blobs_are_content_addressed_and_kept(store: Store) -> None:
    case = store.create_case(
        office="xiamen-eport",
        source_kind="folder",
        source_path="/in/a",
        files=[("a.txt", b"hello"), ("b.txt", b"hello")],
    )
    files = store.case_files(case.id)
    assert [f.name for f in files] == ["a.txt", "b.txt"]
    assert files[0].sha256 == files[1].sha256
    path = store.blobs.path(files[0].sha256)
    assert path.read_bytes() == b"hello"
    assert path.parent.parent.parent == store.blobs.root
    with pytest.raises(Exception):
        store.blobs.path("../../etc/passwd")


def test_transitions_are_audited_and_guarded(store: Store) -> None:
    case = store.create_case(office="xiamen-eport", source_kind="folder", source_path="/in/a", files=[("a", b"1")])
    store.transition(case.id, "extracted", actor="tester", detail="d1")
    with pytest.raises(InvalidTransition):
        store.transition(case.id, "issued")  # extracted → issued skips validation
    store.transition(case.id, "validated", route="review")
    store.transition(case.id, "review")
    with pytest.raises(InvalidTransition):
        store.transition(case.id, "issuing")  # review cannot reach issuance without approval
    rows = store.audit_rows(case.id)
    assert [(r.from_status, r.to_status) for r in rows] == [
        (None, "received"),
        ("received", "extracted"),
        ("extracted", "validated"),
        ("validated", "review"),
    ]
    assert rows[1].actor == "tester" and rows[1].detail == "d1"
    assert store.get_case(case.id).status == "review"


def test_fields_and_findings_roundtrip(store: Store) -> None:
    case = store.create_case(office="xiamen-eport", source_kind="folder", source_path="/in/a", files=[("a", b"1")])
    f = Field("91350200MA2YHR4E5X", 0.97, Evidence("申请表.jpg", 1, (1.0, 2.0, 3.0, 4.0)))
    store.replace_fields(case.id, {"org_code": f})
    assert store.fields(case.id)["org_code"] == f
    store.replace_findings(case.id, "validate", [warning("X", "org_code", "测试")])
    store.replace_findings(case.id, "validate", [warning("Y", None, "测试2")])
    assert [x.code for x in store.findings(case.id)] == ["Y"]


def test_serial_reservation_unique_per_case_and_kind(store: Store) -> None:
    case = store.create_case(office="x", source_kind="folder", source_path="/in/a", files=[("a", b"1")])
    first = store.reserve_certificate(case.id, "sign", "ABC1", None, None)
    again = store.reserve_certificate(case.id, "sign", "ABC2", None, None)
    assert again.serial == first.serial == "ABC1"
    assert store.serial_exists("ABC1") and not store.serial_exists("ABC2")
