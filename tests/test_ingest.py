"""Ingest: archives (limits, GBK names, traversal), mail files, media, the watched inbox, duplicates."""

from __future__ import annotations

import io
import mailbox
import threading
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pycdlib
import pytest
from conftest import SAMPLES, copy_case

from pipeline.ingest import archive, collect, mail
from pipeline.ingest.watch import InboxWatcher
from pipeline.stages import Context, ingest_path, process_case


class _GbkZipInfo(zipfile.ZipInfo):
    """What Windows Explorer writes on a Chinese system: GBK bytes and no UTF-8 flag."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def _zip(entries: dict[str, bytes], gbk_names: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            info = _GbkZipInfo(name) if gbk_names else zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def test_zip_with_gbk_names_unpacks_to_chinese_names() -> None:
    raw = _zip({"申请表.docx": b"x", "营业执照.jpg": b"y"}, gbk_names=True)
    info = zipfile.ZipFile(io.BytesIO(raw)).infolist()[0]
    assert not info.flag_bits & 0x800  # really written without the UTF-8 flag
    out = archive.unpack("材料.zip", raw)
    assert sorted(n for n, _ in out.files) == ["申请表.docx", "营业执照.jpg"] and out.findings == []


def test_path_traversal_names_are_sanitised_and_nothing_is_written(tmp_path: Path, monkeypatch) -> None:
    sandbox = tmp_path / "a" / "b" / "cwd"  # a relative "../../evil.csr" written from here would land in tmp_path
    sandbox.mkdir(parents=True)
    monkeypatch.chdir(sandbox)
    before = set(tmp_path.rglob("*"))
    raw = _zip({"../../evil.csr": b"a", "/etc/passwd": b"b", "ok\u202egpj.exe": b"c", "dir/a\x01b.pdf": b"d"})
    out = archive.unpack("bad.zip", raw)
    names = [n for n, _ in out.files]
    assert names == ["evil.csr", "passwd", "okgpj.exe", "ab.pdf"]
    assert all("/" not in n and ".." not in n for n in names)
    assert sum(f.code == "FILE_NAME_SANITISED" for f in out.findings) == 4
    assert set(tmp_path.rglob("*")) == before  # unpacking is in memory: no file appeared anywhere
    assert not Path("/etc/passwd").read_bytes() == b"b"


def test_zip_bomb_many_entries_nesting_and_corruption() -> None:
    bomb = _zip({"zeros.bin": b"\0" * (60 * 1024 * 1024)})
    assert len(bomb) < 200_000
    assert [f.code for f in archive.unpack("bomb.zip", bomb).findings] == ["ARCHIVE_BOMB"]
    many = _zip({f"f{i}.txt": b"x" for i in range(600)})
    assert [f.code for f in archive.unpack("many.zip", many).findings] == ["ARCHIVE_TOO_MANY_ENTRIES"]
    nested = _zip({"inner.csr": b"csr"})
    for depth in range(5):
        nested = _zip({f"level{depth}.zip": nested})
    codes = [f.code for f in archive.unpack("deep.zip", nested).findings]
    assert codes == ["ARCHIVE_TOO_DEEP"]
    shallow = _zip({"level0.zip": _zip({"inner.csr": b"csr"})})
    assert archive.unpack("ok.zip", shallow).files == [("inner.csr", b"csr")]
    assert [f.code for f in archive.unpack("x.zip", b"PK\x03\x04garbage").findings] == ["ARCHIVE_CORRUPT"]
    assert [f.code for f in archive.unpack("e.zip", _zip({"empty.pdf": b""})).findings] == ["FILE_EMPTY"]


def test_bad_archives_become_cases_with_findings(ctx: Context, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bomb.zip").write_bytes(_zip({"zeros.bin": b"\0" * (60 * 1024 * 1024)}))
    (tmp_path / "in" / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    (tmp_path / "in" / "empty.csr").write_bytes(b"")
    results = {
        name: process_case(ctx, o.case_id)
        for name in ("bomb.zip", "broken.zip", "empty.csr")
        for o in ingest_path(ctx, tmp_path / "in" / name)
    }
    assert "ARCHIVE_BOMB" in {f["code"] for f in results["bomb.zip"]["findings"]}
    assert "ARCHIVE_CORRUPT" in {f["code"] for f in results["broken.zip"]["findings"]}
    assert "FILE_EMPTY" in {f["code"] for f in results["empty.csr"]["findings"]}
    assert all(r["status"] == "review" for r in results.values())
    # the original archives are kept in the blob store even when refused
    for name in ("bomb.zip", "broken.zip"):
        [orig] = ctx.store.case_files(results[name]["case_id"], role="original")
        assert orig.name == name
        assert ctx.store.blobs.get(orig.sha256) == (tmp_path / "in" / name).read_bytes()


@pytest.mark.parametrize(
    ("subject", "company"),
    [
        ("厦门海辰密码科技有限公司+数字证书申办", "厦门海辰密码科技有限公司"),
        ("厦门海辰密码科技有限公司 ＋ 数字证书申请", "厦门海辰密码科技有限公司"),
        ("回复：厦门（集美）星河网络安全有限公司+数字证书申办", "厦门(集美)星河网络安全有限公司"),
        ("Fwd: 厦门鹭岛电子科技有限公司数字证书申办", "厦门鹭岛电子科技有限公司"),
        ("证书问题咨询", None),
    ],
)
def test_subject_company(subject: str, company: str | None) -> None:
    assert mail.subject_company(subject) == company


def case_names(case: str) -> list[str]:
    return sorted(p.name for p in (SAMPLES / case).iterdir())


def _mail_with_case(case: str, subject: str, name_style: str) -> bytes:
    folder = SAMPLES / case
    msg = EmailMessage()
    msg["From"] = "applicant@example.cn"
    msg["To"] = "xmport@189.cn"
    msg["Subject"] = subject
    msg.set_content("申请材料见附件。")
    for p in sorted(folder.iterdir()):
        msg.add_attachment(p.read_bytes(), maintype="application", subtype="octet-stream", filename=p.name)
    raw = msg.as_bytes()
    if name_style == "gbk-raw":  # Foxmail-style: raw GBK bytes in the name parameter, no encoding
        for p in folder.iterdir():
            encoded = p.name.encode("utf-8")
            raw = raw.replace(b"filename*=utf-8''" + _pct(encoded), b'filename="' + p.name.encode("gbk") + b'"')
    elif name_style == "rfc2047-gbk":
        import base64

        for p in folder.iterdir():
            b64 = base64.b64encode(p.name.encode("gbk")).decode()
            raw = raw.replace(
                b"filename*=utf-8''" + _pct(p.name.encode("utf-8")), f'filename="=?GBK?B?{b64}?="'.encode()
            )
    return raw


def _pct(b: bytes) -> bytes:
    from urllib.parse import quote

    return quote(b, safe="").encode()


@pytest.mark.parametrize("style", ["rfc2231-utf8", "gbk-raw", "rfc2047-gbk"])
def test_eml_attachment_names(style: str) -> None:
    raw = _mail_with_case("xiamen-new-docx", "厦门中科供应链管理有限公司+数字证书申办", style)
    subject, files, findings = mail.mail_files(raw)
    assert sorted(n for n, _ in files) == case_names("xiamen-new-docx"), style
    assert findings == [] and subject.endswith("数字证书申办")


def test_mail_without_attachments_and_nested_eml() -> None:
    msg = EmailMessage()
    msg["Subject"] = "咨询"
    msg.set_content("没有附件")
    _s, files, findings = mail.mail_files(msg.as_bytes())
    assert files == [] and [f.code for f in findings] == ["MAIL_NO_ATTACHMENTS"]
    outer = EmailMessage()
    outer["Subject"] = "转发：申请"
    outer.set_content("见转发邮件")
    inner = _mail_with_case("xiamen-new-docx", "x+数字证书申办", "rfc2231-utf8")
    outer.add_attachment(inner, maintype="application", subtype="octet-stream", filename="原邮件.eml")
    outer.add_attachment(
        _zip({"补充材料.jpg": b"\xff\xd8\xff"}, gbk_names=True),
        maintype="application",
        subtype="zip",
        filename="附件.zip",
    )
    _s, files, _f = mail.mail_files(outer.as_bytes())
    assert sorted(n for n, _ in files) == sorted([*case_names("xiamen-new-docx"), "补充材料.jpg"])


def test_mbox_maildir_and_eml_become_cases(ctx: Context, tmp_path: Path) -> None:
    raw = _mail_with_case("xiamen-new-docx", "厦门中科供应链管理有限公司+数字证书申办", "gbk-raw")
    (tmp_path / "one.eml").write_bytes(raw)
    box = mailbox.mbox(str(tmp_path / "office.mbox"))
    box.add(_mail_with_case("xiamen-new-bad-uscc", "厦门启明信息技术有限公司＋数字证书申请", "rfc2047-gbk"))
    box.flush()
    box.close()
    md = mailbox.Maildir(str(tmp_path / "Maildir"))
    md.add(_mail_with_case("xiamen-new-scan", "厦门嘉和网络安全有限公司+数字证书申办", "rfc2231-utf8"))
    subs = collect(tmp_path / "one.eml") + collect(tmp_path / "office.mbox") + collect(tmp_path / "Maildir")
    assert [s.kind for s in subs] == ["email", "email", "email"]
    assert [s.subject_company for s in subs] == [
        "厦门中科供应链管理有限公司",
        "厦门启明信息技术有限公司",
        "厦门嘉和网络安全有限公司",
    ]
    [o] = ingest_path(ctx, tmp_path / "one.eml")
    r = process_case(ctx, o.case_id)
    assert r["source"]["kind"] == "email" and r["source"]["subject_company"] == "厦门中科供应链管理有限公司"
    assert r["status"] == "issued", r["findings"]
    [again] = ingest_path(ctx, tmp_path / "one.eml")  # the same mail twice
    assert again.duplicate_of == o.case_id


def _iso(files: dict[str, bytes]) -> bytes:
    iso = pycdlib.PyCdlib()
    iso.new(joliet=3)
    for i, (name, data) in enumerate(files.items()):
        iso.add_fp(io.BytesIO(data), len(data), f"/F{i}.BIN;1", joliet_path=f"/{name}")
    buf = io.BytesIO()
    iso.write_fp(buf)
    iso.close()
    return buf.getvalue()


def test_iso_media_case(ctx: Context, tmp_path: Path) -> None:
    folder = SAMPLES / "xiamen-new-docx"
    (tmp_path / "cd.iso").write_bytes(
        _iso(
            {
                "申请表.docx": (folder / "申请表.docx").read_bytes(),
                "证书申请.csr": (folder / "request.csr").read_bytes(),
                "readme.txt": b"ignored",
            }
        )
    )
    [sub] = collect(tmp_path / "cd.iso")
    assert sub.kind == "media" and sorted(n for n, _ in sub.files) == ["申请表.docx", "证书申请.csr"]
    (tmp_path / "fake.iso").write_bytes(b"this is not an ISO image" * 100)
    [bad] = collect(tmp_path / "fake.iso")
    assert [f.code for f in bad.findings] == ["ISO_CORRUPT"] and bad.originals[0][0] == "fake.iso"


def test_mounted_medium_keeps_only_request_files_and_scans(ctx: Context, tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    (usb / "证书").mkdir(parents=True)
    (usb / "证书" / "server.csr").write_bytes((SAMPLES / "xiamen-new-docx" / "request.csr").read_bytes())
    (usb / "申请表.docx").write_bytes((SAMPLES / "xiamen-new-docx" / "申请表.docx").read_bytes())
    (usb / "autorun.inf").write_text("[autorun]")
    [o] = ingest_path(ctx, usb, medium=True)
    r = process_case(ctx, o.case_id)
    assert r["source"]["kind"] == "media" and sorted(d["name"] for d in r["documents"]) == ["server.csr", "申请表.docx"]
    # the CD held the request file and the form only: the copies are missing, so a person looks at it
    missing = [f["message"] for f in r["findings"] if f["code"] == "MATERIAL_MISSING"]
    assert r["status"] == "review" and any("营业执照" in m for m in missing) and any("身份证明" in m for m in missing)


def test_watcher_waits_for_a_slow_copy(ctx: Context, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    taken: list[tuple[float, int]] = []
    done_writing = threading.Event()

    def handle(entry: Path) -> None:
        taken.append((time.monotonic(), entry.stat().st_size))
        for o in ingest_path(ctx, entry):
            process_case(ctx, o.case_id)

    watcher = InboxWatcher(inbox, handle, settle=1.0, poll_interval=0.1)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    chunk = b"\0" * (2 * 1024 * 1024)
    target = inbox / "big-scan.pdf"
    with open(target, "wb") as fh:
        for _ in range(8):  # 16 MiB over ~2.4 s, slower than the settle delay between first and last byte
            fh.write(chunk)
            fh.flush()
            time.sleep(0.3)
    finished = time.monotonic()
    done_writing.set()
    deadline = time.monotonic() + 15
    while not taken and time.monotonic() < deadline:
        time.sleep(0.1)
    watcher.stop()
    thread.join(timeout=5)
    assert len(taken) == 1
    at, size = taken[0]
    assert at >= finished and size == 8 * len(chunk)
    assert not target.exists() and len(list((tmp_path / "processed").iterdir())) == 1
    [case] = ctx.store.list_cases()
    assert ctx.store.case_files(case.id)[0].size == 8 * len(chunk)


def test_watcher_same_case_twice_gives_duplicate_and_failed_entries_are_kept(ctx: Context, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    results: list[dict] = []

    def handle(entry: Path) -> None:
        if entry.name == "explode":
            raise RuntimeError("simulated intake failure")
        results.extend(process_case(ctx, o.case_id) for o in ingest_path(ctx, entry))

    watcher = InboxWatcher(inbox, handle, settle=0.0)
    copy_case("xiamen-new-docx", inbox)
    watcher.scan_once()
    assert watcher.scan_once() and results[0]["status"] == "issued"
    copy_case("xiamen-new-docx", inbox)
    watcher.scan_once()
    watcher.scan_once()
    assert results[1]["status"] == "duplicate" and results[1]["duplicate_of"] == results[0]["case_id"]
    (inbox / "explode").write_bytes(b"x")
    watcher.scan_once()
    watcher.scan_once()
    failed = list((tmp_path / "failed").iterdir())
    assert sorted(p.name.split("-", 2)[-1] for p in failed) == ["explode", "explode.reason.txt"]
    assert len(list((tmp_path / "processed").iterdir())) == 2
