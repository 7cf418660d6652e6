"""The review workspace in a real Chromium (Debian's /usr/bin/chromium driven by Playwright).

One scanned case whose 统一社会信用代码 fails its check goes to review; a registrar corrects and verifies
it, an approver approves it, the certificate is issued — plus the refusals: a clerk cannot approve, whoever
verified cannot approve, a form without its CSRF token is refused, wrong passwords throttle the address
they come from and never lock the account.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import REPO, copy_case, free_port

from pipeline.review import auth
from pipeline.stages import Context, ingest_path, process_case

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
# the closed network refuses Chromium's own background connections: keep them off
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORDS = {
    "reg": "registrar password 1",
    "app": "approver password 1",
    "clk": "clerk password 1",
    "adm": "admin password 1",
}
ROLES = {"reg": "registrar", "app": "approver", "clk": "clerk", "adm": "admin"}


@pytest.fixture
def served(ctx: Context, tmp_path: Path) -> Iterator[tuple[str, Context, str]]:
    import uvicorn

    from pipeline.review.web import create_app

    [o] = ingest_path(ctx, copy_case("xiamen-new-bad-uscc", tmp_path))
    assert process_case(ctx, o.case_id)["status"] == "review"
    for name, role in ROLES.items():
        auth.add_user(ctx.store, name, role, PASSWORDS[name])
    app = create_app(ctx)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}", ctx, o.case_id
    server.should_exit = True
    thread.join(10)
    app.state.pool.shutdown(wait=True)


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is missing (.ci/run installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def login(browser, base: str, name: str, password: str | None = None):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.fill("#username", name)
    page.fill("#password", password or PASSWORDS[name])
    page.click("#login-submit")
    return page


def test_registrar_corrects_approver_approves_certificate_issued(served, browser) -> None:  # type: ignore[no-untyped-def]
    base, ctx, case_id = served
    right = ctx.store.fields(case_id)["license.org_code"].value
    wrong = ctx.store.fields(case_id)["org_code"].value
    assert right != wrong

    # a clerk: sees the queue, but has no approve button and the server refuses a forged approval
    clerk = login(browser, base, "clk")
    assert clerk.locator(f"tr[data-case='{case_id}']").count() == 1
    clerk.goto(f"{base}/cases/{case_id}")
    assert clerk.locator("#approve").count() == 0
    token = clerk.locator("input[name=csrf]").first.get_attribute("value")
    forged = clerk.request.post(f"{base}/cases/{case_id}/approve", form={"csrf": token})
    assert forged.status == 403
    clerk.context.close()

    # the registrar opens the flagged case from the queue
    reg = login(browser, base, "reg")
    reg.click(f"tr[data-case='{case_id}'] a")
    reg.wait_for_url(f"**/cases/{case_id}")
    assert reg.locator("#case-status").get_attribute("data-status") == "review"
    assert reg.locator("#findings li[data-code='ORG_CODE_CHECKSUM']").count() == 1
    # the misread code has its box on the page image, inside the image
    box = reg.locator(".box[data-field='org_code']")
    assert box.count() == 1
    img = reg.locator("figure.page", has=box).locator("img")
    b, i = box.bounding_box(), img.bounding_box()
    assert b and i and b["width"] > 20 and b["height"] > 5
    assert i["x"] <= b["x"] and b["x"] + b["width"] <= i["x"] + i["width"] + 1
    assert i["y"] <= b["y"] and b["y"] + b["height"] <= i["y"] + i["height"] + 1
    # keyboard: the first flagged field is selected; j/k move the selection and its box lights up
    reg.keyboard.press("j")
    reg.keyboard.press("k")
    selected = reg.locator("tr.field.active").get_attribute("data-field")
    assert selected and reg.locator(f".box.active[data-field='{selected}']").count() == 1
    if os.environ.get("CERT_INTAKE_SCREENSHOT"):
        reg.locator("#f-org_code").click()
        reg.screenshot(path=os.environ["CERT_INTAKE_SCREENSHOT"])
    # a form without its CSRF token is refused
    reg.evaluate("document.querySelector('#verify-form input[name=csrf]').remove()")
    reg.click("#verify")
    assert "CSRF" in reg.content()
    assert not any(a.action == "verify" for a in ctx.store.review_actions(case_id))
    reg.goto(f"{base}/cases/{case_id}")
    # correct the code (validation runs again at once), then verify
    row = reg.locator("#f-org_code")
    row.locator("input.value").fill(right)
    row.locator("button.save").click()
    assert "已更正" in reg.locator("#flash-ok").inner_text()
    assert reg.locator("#findings li[data-code='ORG_CODE_CHECKSUM']").count() == 0
    assert reg.locator("#f-org_code input.value").input_value() == right
    assert reg.locator("#approve").count() == 0  # a registrar has no approve button …
    reg.click("#verify")
    assert "验核通过" in reg.locator("#flash-ok").inner_text()
    token = reg.locator("input[name=csrf]").first.get_attribute("value")
    assert reg.request.post(f"{base}/cases/{case_id}/approve", form={"csrf": token}).status == 403  # … nor right
    reg.context.close()

    # an admin who verified the case too is barred by the two-person rule
    adm = login(browser, base, "adm")
    adm.goto(f"{base}/cases/{case_id}")
    adm.click("#verify")
    assert adm.locator("#approve").is_disabled()
    assert "双人原则" in adm.locator("#blockers").inner_text()
    token = adm.locator("input[name=csrf]").first.get_attribute("value")
    adm.request.post(f"{base}/cases/{case_id}/approve", form={"csrf": token})
    assert ctx.store.get_case(case_id).status == "review"
    adm.context.close()

    # the approver approves; issuance follows without anyone running anything
    app = login(browser, base, "app")
    app.goto(f"{base}/cases/{case_id}")
    assert app.locator("#approve").is_enabled()
    app.fill("#approve-form input[name=note]", "材料齐全，同意签发")
    app.click("#approve")
    assert "复核批准" in app.locator("#flash-ok").inner_text()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        app.goto(f"{base}/cases/{case_id}")
        if app.locator("#case-status").get_attribute("data-status") in ("issued", "delivered"):
            break
        time.sleep(0.5)
    assert app.locator("#case-status").get_attribute("data-status") in ("issued", "delivered")
    assert app.locator("#outputs a", has_text="sign_cert").count() == 1
    certs = ctx.store.certificates(case_id)
    assert {c.kind for c in certs} == {"sign", "env"} and all(c.state == "issued" for c in certs)
    assert ctx.store.fields(case_id)["org_code"].value == right
    app.context.close()
    assert ctx.store.verify_audit()[1] == []


def test_wrong_passwords_throttle_the_address_not_the_account(served, browser, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    base, ctx, _case = served
    # the 4th failure in a row blocks the address; long enough here that a slow machine cannot outlast it
    monkeypatch.setattr(auth, "address_block", lambda n: timedelta(minutes=5) if n > auth.FREE_FAILURES else None)
    texts = []
    for name in ("clk", "nobody-here", "clk", "nobody-here"):  # a known and an unknown name read the same
        page = login(browser, base, name, "not the password")
        assert "/login" in page.url
        texts.append(page.locator("#flash-error").inner_text())
        page.context.close()
    assert set(texts) == {"用户名或密码错误"}
    page = login(browser, base, "clk")  # the right password, from an address that kept failing: wait
    assert "/login" in page.url and "过于频繁" in page.content()
    page.context.close()
    user = ctx.store.get_user("clk")
    assert user is not None and not ctx.store.is_locked(user)  # nobody can lock someone else out
    ctx.store.throttle_reset("addr:127.0.0.1")  # what time does for this address
    page = login(browser, base, "clk")
    assert "/login" not in page.url and page.locator("#me-name").inner_text() == "clk"
    page.context.close()


def test_readme_shows_the_case_page() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/review-case.png" in readme and (REPO / "docs" / "review-case.png").stat().st_size > 50_000
