"""Actions, not category names: every category of every office maps to an Action; the profile schema refuses
what it does not know at load; each (office, category) pair end to end through the real pipeline (DOCX
forms, real SM2 issuance, the CRL read by OpenSSL), its 告知书 read back with python-docx and its ledger row."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import (
    REPO,
    child_env,
    generator,
    openssl_csr,
    openssl_sm2_key,
    openssl_sm2_verify,
    run,
    through_review,
)
from docx import Document
from openpyxl import load_workbook

from pipeline import policy
from pipeline.actions import Action, OldCertificate, rules
from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.issue.ledger import write_ledger
from pipeline.profiles import OfficeProfile, load_profile, load_profiles
from pipeline.review import actions as review_actions
from pipeline.stages import Context, add_months, case_contract, ingest_path, process_case

FORMS = REPO / "forms"
REASON_TEXT = {  # how `openssl crl -text` prints each reason
    "cessation_of_operation": "Cessation Of Operation",
    "key_compromise": "Key Compromise",
    "affiliation_changed": "Affiliation Changed",
}
# the generator draws these offices' own forms; the others get a plain table from their profile's labels
GENERATOR_OFFICE = {"xiamen-eport": "xiamen", "hangzhou-eport": "hangzhou", "netca-gd": "netca"}


# --------------------------------------------------------------------------- (a) every category has an action


def test_every_category_and_alias_of_every_office_maps_to_an_action() -> None:
    profiles = load_profiles(FORMS)
    assert set(profiles) == {"xiamen-eport", "hangzhou-eport", "netca-gd", "mofcom-ekey", "egov-extranet"}
    for profile in profiles.values():
        for name in (*profile.categories, *profile.category_aliases, *profile.category_options):
            assert isinstance(profile.action_of(name), Action), (profile.office, name)
    assert profiles["mofcom-ekey"].action_of("补办") is Action.REPLACE
    assert profiles["mofcom-ekey"].action_of("新办") is Action.ISSUE_NEW  # an alias
    assert profiles["netca-gd"].action_of("续期") is Action.RENEW
    assert profiles["netca-gd"].action_of("解锁") is Action.UNLOCK
    assert profiles["xiamen-eport"].action_of("更新") is Action.ISSUE_NEW  # 厦门: 更新 is handled as 新办
    assert profiles["xiamen-eport"].action_of("解锁") is None


# --------------------------------------------------------------------------- (b) the schema refuses at load


def _profile_copy(tmp_path: Path, edit: str, office: str = "xiamen-eport") -> Path:
    path = tmp_path / f"{office}.yaml"
    path.write_text((FORMS / f"{office}.yaml").read_text(encoding="utf-8") + "\n" + edit + "\n", encoding="utf-8")
    return path


def _refused(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_an_unknown_key_is_refused_with_file_and_key(tmp_path: Path) -> None:
    assert "two_stage_reveiw: unknown key" in _refused(_profile_copy(tmp_path, "two_stage_reveiw: true"))
    nested = _profile_copy(tmp_path, "review: {two_persons: false}")
    assert "review.two_persons: unknown key" in _refused(nested)


def test_a_wrong_type_is_refused_with_file_and_key(tmp_path: Path) -> None:
    message = _refused(_profile_copy(tmp_path, "certificates_per_org: many"))
    assert "certificates_per_org:" in message and "integer" in message
    assert "confidence_threshold:" in _refused(_profile_copy(tmp_path, "confidence_threshold: [0.9]"))


def test_a_misspelt_or_missing_action_is_refused(tmp_path: Path) -> None:
    bad = _profile_copy(tmp_path, "categories: {新办: isue_new, 注销: revoke}")
    assert "categories.新办: unknown action 'isue_new'" in _refused(bad)
    none = _profile_copy(tmp_path, "categories: {新办: issue_new, 注销: }")
    assert "categories.注销" in _refused(none)
    dead = _profile_copy(tmp_path, "categories: {新办: issue_new}")  # materials/required_fields of revoke remain
    assert "materials.revoke: no category of this office maps to 'revoke'" in _refused(dead)
    alias = _profile_copy(tmp_path, "category_aliases: {续期: 更新}")
    assert "category_aliases.续期: '更新' is not one of categories" in _refused(alias)
    kind = _profile_copy(tmp_path, "materials: {issue_new: {passport: 护照}, revoke: {certificate: 证书}}")
    assert "materials.issue_new.passport: unknown document kind 'passport'" in _refused(kind)


def test_cert_intake_refuses_to_start_on_a_bad_profile(tmp_path: Path) -> None:
    forms = tmp_path / "forms"
    shutil.copytree(FORMS, forms)
    path = forms / "netca-gd.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("解锁: unlock}", "解锁: unlok}"), encoding="utf-8")
    env = {**child_env(), "CERT_INTAKE_FORMS_DIR": str(forms), "PYTHONPATH": str(REPO)}
    home, empty = tmp_path / "home", tmp_path / "empty"
    empty.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--home", str(home), "process", str(empty), "--no-prefect"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert r.returncode == ConfigError.exit_code, r.stderr
    assert f"{path}: categories.解锁: unknown action 'unlok'" in r.stderr
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------- (c) each pair end to end


def _table_form(profile: OfficeProfile, truth: dict[str, str], path: Path) -> None:
    """A typed 申请表 for an office the generator does not draw: its title, the category row with one box per
    option (the applicant's ticked) and one row per field, labels as the profile prints them."""
    doc = Document()
    doc.add_heading(profile.form_title, level=1)
    table = doc.add_table(rows=0, cols=4)
    table.style = "Table Grid"

    def row(*cells: str) -> None:
        r = table.add_row()
        if len(cells) == 2:
            r.cells[0].text = cells[0]
            r.cells[1].merge(r.cells[3]).text = cells[1]
        else:
            for i, text in enumerate(cells):
                r.cells[i].text = text

    row(
        profile.category_label,
        "  ".join(("☑" if c == truth["category"] else "□") + c for c in profile.category_options),
    )
    rows_of = {f.row_of: f for f in profile.fields if f.row_of}
    for spec in profile.fields:
        if spec.row_of or spec.key not in truth:
            continue
        partner = rows_of.get(spec.key)
        if partner is not None and partner.key in truth:
            row(spec.labels[0], truth[spec.key], partner.labels[0], truth[partner.key])
        else:
            row(spec.labels[0], truth[spec.key])
    doc.save(str(path))


@dataclass
class Submission:
    ctx: Context
    root: Path
    office: str
    seed: int

    @property
    def profile(self) -> OfficeProfile:
        return self.ctx.profiles[self.office]

    def truth(self, category: str) -> dict[str, str]:
        """What the applicant writes on this office's form (one company per seed, whatever the office)."""
        gen = generator()
        truth = gen.random_truth(random.Random(self.seed), office=GENERATOR_OFFICE.get(self.office, "netca"))
        if self.office not in GENERATOR_OFFICE:
            keys = {f.key for f in self.profile.fields}
            truth = {k: v for k, v in truth.items() if k in keys}
        truth["category"] = category
        return truth

    def make(self, name: str, category: str, *, csr: bool, old: dict | None = None, scan: bool = False) -> Path:
        """``scan``: the 申请表 as a sealed, signed scan (the generator draws the e-port and 网证通 forms)."""
        gen = generator()
        truth = self.truth(category)
        folder = self.root / name
        folder.mkdir(parents=True)
        if old is not None and any(f.key == "old_cert_serial" for f in self.profile.fields):
            truth["old_cert_serial"] = old["outputs"]["serial"]
        if scan:
            img = gen.render_form_image(truth, gen.ScanStyle(), random.Random(self.seed), GENERATOR_OFFICE[self.office])
            img.save(folder / "申请表.jpg", "JPEG", quality=90)
        elif self.office in GENERATOR_OFFICE:
            gen.render_form_docx(truth, folder / "申请表.docx", office=GENERATOR_OFFICE[self.office])
        else:
            _table_form(self.profile, truth, folder / "申请表.docx")
        # the licence and ID copies of the same company and people (the e-port truth has every key they need)
        full = gen.random_truth(random.Random(self.seed), office="xiamen")
        att = gen.attachment_truth(random.Random(self.seed + 100), full)
        gen.write_attachments_docx(folder, att, invoice=self.office == "hangzhou-eport")
        from defects import register

        register(self.ctx, att)
        if csr:
            key = openssl_sm2_key(self.root / f"{name}.key.pem")
            n = truth["applicant_name"]
            openssl_csr(key, folder / "request.csr", f"/C=CN/O={n}/CN={n}")
        if old is not None:
            shutil.copy(old["outputs"]["sign_cert"], folder / "old.cer")
        return folder

    def process(self, folder: Path) -> dict:
        [o] = ingest_path(self.ctx, folder)
        return process_case(self.ctx, o.case_id)

    def carried_out(self, folder: Path, old: dict | None = None) -> dict:
        """Processed, and where the office's policy or a revocation wants people, verified and approved.  On a
        scan the generator's 序号 cell cuts a 40-digit serial short, or the OCR misses it (the serial is random
        each run): the case is held on old_cert_serial and the registrar types it from the .cer."""
        r = self.process(folder)
        action = self.profile.action_of(r["fields"]["category"]["value"])
        doubts = [f for f in r["findings"] if f["field"] == "old_cert_serial" and f["severity"] in ("error", "warning")]
        if old is not None and doubts:
            registrar = review_actions.Actor("reg-wang", "registrar")
            review_actions.correct_field(self.ctx, registrar, r["case_id"], "old_cert_serial", old["outputs"]["serial"])
            r = case_contract(self.ctx, r["case_id"])
        if r["status"] == "review" and policy.needs_person(self.profile, action):
            return through_review(self.ctx, r["case_id"])
        return r


def _pairs() -> list[tuple[str, str]]:
    return [(office, cat) for office, p in sorted(load_profiles(FORMS).items()) for cat in p.categories]


def _notice_text(path: str) -> str:
    doc = Document(path)
    return "\n".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])


def _crl_serials(ctx: Context) -> str:
    r = run(["openssl", "crl", "-inform", "DER", "-in", str(ctx.settings.crl_path), "-noout", "-text"])
    assert r.returncode == 0, r.stderr
    return r.stdout.replace(":", "").upper()


def _crl_lists(ctx: Context, tmp: Path, serial: str, reason: str) -> bool:
    """The published CRL, checked with OpenSSL link by link (`openssl crl -verify` has no -vfyopt distid in
    OpenSSL 3.0): its SM2 signature over TBSCertList verifies under the issuing CA's public key, and it lists
    ``serial`` with ``reason``."""
    from asn1crypto import crl as asn1_crl

    pub = tmp / "issuing-pub.pem"
    r = run(["openssl", "x509", "-inform", "DER", "-in", str(ctx.local_ca.issuing_path), "-pubkey", "-noout"])
    pub.write_text(r.stdout)
    parsed = asn1_crl.CertificateList.load(ctx.settings.crl_path.read_bytes())
    sig, tbs = parsed["signature"].native, parsed["tbs_cert_list"].dump()
    assert openssl_sm2_verify(pub, sig, tbs, tmp), "the CRL's SM2 signature does not verify"
    listing = run(["openssl", "crl", "-inform", "DER", "-in", str(ctx.settings.crl_path), "-noout", "-text"]).stdout
    entries = listing.replace(":", "").upper()
    return serial.upper() in entries and reason in listing


def _ledger_row(ctx: Context, tmp: Path, case_id: str) -> list:
    path = write_ledger(ctx.store, tmp / "ledger.xlsx", ctx.profiles)
    wb = load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            if row[0] == case_id:
                return list(row)
    raise AssertionError(f"no ledger row for {case_id}")


@pytest.mark.parametrize(("office", "category"), _pairs())
def test_each_office_category_end_to_end(ctx: Context, tmp_path: Path, office: str, category: str) -> None:
    sub = Submission(ctx, tmp_path, office, seed=sum(map(ord, office + category)) % 1000)
    action = sub.profile.action_of(category)
    assert action is not None
    rule = rules(action)
    old = None
    if rule.needs_old_certificate:
        first_category = next(c for c in sub.profile.categories if sub.profile.action_of(c) is Action.ISSUE_NEW)
        old = sub.carried_out(sub.make("first", first_category, csr=True))
        assert old["status"] == "issued", old["findings"]
    with_csr = rule.issues_certificate or action is Action.UNLOCK  # an unlock's CSR is ignored, never issued
    if policy.revokes(action) and office not in GENERATOR_OFFICE:
        # a revocation needs the sealed, signed scan, which this office's typed form cannot be: held
        held = sub.process(sub.make("request", category, csr=with_csr, old=old))
        assert held["status"] == "review" and "REVOCATION_FORM_NOT_SEALED" in {f["code"] for f in held["findings"]}
        assert old is not None and {c.state for c in ctx.store.certificates(old["case_id"])} == {"issued"}
        return
    r = sub.carried_out(sub.make("request", category, csr=with_csr, old=old, scan=policy.revokes(action)), old)
    codes = {f["code"] for f in r["findings"]}
    assert r["status"] == ("revoked" if action is Action.REVOKE else "issued"), r["findings"]
    new_certs = ctx.store.certificates(r["case_id"])
    if rule.issues_certificate:
        assert {c.kind: c.state for c in new_certs} == {"sign": "issued", "env": "issued"}
        assert r["outputs"]["serial"] and Path(r["outputs"]["sign_cert"]).exists()
    else:
        assert new_certs == [] and "sign_cert" not in r["outputs"]
    if action is Action.UNLOCK:
        assert "CSR_IGNORED" in codes
    if action is Action.CHANGE:  # the 变更 record (seed 004): old subject → new subject, on the case and the notice
        record = next(f["message"] for f in r["findings"] if f["code"] == "CHANGE_RECORD")
        assert record.startswith("证书主体由“") and record.count("Organization: ") == 2

    if old is not None:
        old_sign = ctx.store.certificate(old["outputs"]["serial"])
        assert old_sign is not None
        if rule.old_certificate is OldCertificate.REVOKE_AFTER_GRACE:
            assert old_sign.state == "issued" and old_sign.scheduled_revocation_at is not None
            nb = datetime.fromisoformat(r["outputs"]["not_after"])  # the new certificate's validity start …
            start = next(c.not_before for c in new_certs if c.kind == "sign")
            assert start is not None and nb > start
            months = sub.profile.settings.renew_revokes_old_after_months if sub.profile.settings else 1
            expected = add_months(start.replace(tzinfo=UTC), months)
            assert abs(old_sign.scheduled_revocation_at.replace(tzinfo=UTC) - expected) < timedelta(seconds=2)
            assert old["outputs"]["serial"] not in _crl_serials(ctx) if ctx.settings.crl_path.exists() else True
        else:
            assert old_sign.state == "revoked" and old_sign.revocation_reason == rule.revocation_reason
            assert _crl_lists(ctx, tmp_path, old["outputs"]["serial"], REASON_TEXT[rule.revocation_reason])
            if rule.issues_certificate:
                assert not _crl_lists(ctx, tmp_path, r["outputs"]["serial"], "")
            if rule.old_certificate is OldCertificate.REVOKE_BEFORE_ISSUE:
                new_sign = next(c for c in new_certs if c.kind == "sign")
                assert old_sign.revoked_at is not None and new_sign.not_before is not None
                assert old_sign.revoked_at <= new_sign.not_before + timedelta(seconds=1)

    # (d) the 告知书: this category's box ticked, the action's outcome with its dates and serials filled
    text = _notice_text(r["outputs"]["notice"])
    assert f"☑{category}" in text and text.count("☑") == 1
    assert all(f"□{c}" in text for c in sub.profile.categories if c != category)
    assert f"· {rule.title_zh}" in text
    assert "____" not in text and "__月" not in text
    if rule.issues_certificate:
        assert r["outputs"]["serial"] in text and "sign.cer" in text
        until = datetime.fromisoformat(r["outputs"]["not_after"])
        assert f"有效期至{until.year:04d}年{until.month:02d}月{until.day:02d}日" in text
    if old is not None:
        assert f"[序号：{old['outputs']['serial']}]" in text
    if action is Action.CHANGE:
        assert f"变更记录：{record}。" in text
    today = datetime.now(UTC)
    if action in (Action.REVOKE, Action.UNLOCK):
        assert f"{today.year:04d}年{today.month:02d}月" in text

    # the ledger row: the category as the office names it, the action's wording
    row = _ledger_row(ctx, tmp_path, r["case_id"])
    assert row[4] == category and row[7] == rule.ledger_result_zh
    if rule.issues_certificate:
        assert row[8] == r["outputs"]["serial"]
    if action is Action.UNLOCK:
        assert row[8] in ("", None) and "未签发证书" in (row[12] or "")
    if old is not None and action is not Action.REVOKE:
        assert old["outputs"]["serial"] in (row[12] or "")


def test_every_pair_is_covered() -> None:
    pairs = _pairs()
    assert len(pairs) == 20 and {load_profiles(FORMS)[o].action_of(c) for o, c in pairs} == set(Action)


# --------------------------------------------------------------------------- an unmapped category


def test_an_unmapped_ticked_option_goes_to_review_never_issuance(home: Path, tmp_path: Path) -> None:
    forms = tmp_path / "forms"
    shutil.copytree(Path(os.environ["CERT_INTAKE_FORMS_DIR"]), forms)
    path = forms / "netca-gd.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["categories"]["解锁"]  # the form still prints □解锁; the office has no action for it
    del data["required_fields"]["unlock"], data["materials"]["unlock"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    ctx = Context(load_settings(home, use_prefect=False, forms_dir=forms))
    sub = Submission(ctx, tmp_path / "cases", "netca-gd", seed=41)
    r = sub.process(sub.make("unlock", "解锁", csr=True))
    assert r["status"] == "review" and r["route"] == "review"
    [finding] = [f for f in r["findings"] if f["code"] == "CATEGORY_UNMAPPED"]
    assert (
        finding["severity"] == "error" and "解锁" in finding["message"] and "没有对应的办理方式" in finding["message"]
    )
    assert ctx.store.certificates(r["case_id"]) == [] and "notice" not in r["outputs"]


# --------------------------------------------------------------------------- the README's table


def test_the_readme_office_table_is_what_the_profiles_say() -> None:
    from pipeline.offices import office_table, replace_table

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert replace_table(readme, office_table(load_profiles(FORMS))) == readme, (
        "README office table is stale: python -m pipeline.offices --write README.md"
    )


def test_the_clerk_sees_the_category_with_its_action() -> None:
    from pipeline.actions import describe

    netca = load_profiles(FORMS)["netca-gd"]
    assert describe("补办", netca.action_of("补办")) == "补办（原证书立即注销，再签发新证书）"
    assert describe("解锁", None) == "解锁（未配置办理方式）" and describe(None, None) == ""


# --------------------------------------------------------------------------- validation by action (no pipeline)


def _codes(profile: OfficeProfile, category: str, documents: list | None = None) -> set[str]:
    from pipeline.models import Field
    from pipeline.validate import CaseInput, validate_case

    _cat, found = validate_case(CaseInput(profile, {"category": Field(category, 0.99)}, documents or [], {}))
    return {f.code for f in found}


def test_old_certificate_actions_need_one_and_only_they() -> None:
    netca = load_profiles(FORMS)["netca-gd"]
    for category in netca.categories:
        needs = rules(netca.action_of(category) or Action.UNLOCK).needs_old_certificate
        assert ("OLD_CERT_MISSING" in _codes(netca, category)) == needs, category


def test_issuing_actions_need_a_csr_even_where_the_profile_does_not_list_one() -> None:
    mofcom = load_profiles(FORMS)["mofcom-ekey"]
    assert "csr" not in mofcom.materials[Action.ADD]
    from pipeline.validate import CSR_MATERIAL, required_materials

    assert required_materials(mofcom, Action.ADD)["csr"] == CSR_MATERIAL
    assert "csr" not in required_materials(mofcom, Action.UNLOCK)


def test_an_option_the_form_does_not_print_is_not_offered() -> None:
    xiamen = load_profiles(FORMS)["xiamen-eport"]
    assert "CATEGORY_NOT_OFFERED" in _codes(xiamen, "解锁")
