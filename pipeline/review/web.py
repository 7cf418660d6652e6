"""The review web app (FastAPI, server-rendered Jinja2 pages, a little JavaScript for the keyboard).

Every route checks the session and the role on the server; every POST carries the session's CSRF token;
the session cookie is HttpOnly and SameSite=Strict (and Secure with ``secure_cookie``, for TLS behind a
proxy); a session ends after ``idle`` without a request and, whatever happens, ``max_age`` after login.
Approving or merging hands the case to a background worker that runs the same ``process_case`` the batch
flow runs (issuance, or a fresh read).

Personal data: a role without ``see_personal`` (the clerk) sees ID numbers and phones masked — in fields,
finding messages and the queue — gets page images with those fields blacked out and no ID-card pages, and
cannot download originals or outputs.  Every page image, original and output served is an audit row.
Banners (``?msg=`` / ``?ok=``) are shown only with the app's signature, so a link cannot put words there.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import io
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from pipeline import logsafe
from pipeline.actions import describe
from pipeline.errors import CertIntakeError
from pipeline.fieldnames import zh
from pipeline.models import CaseStatus, DocKind, Severity
from pipeline.pki import der
from pipeline.review import actions, auth
from pipeline.review.actions import ActionRefused, Actor
from pipeline.review.mask import is_personal, mask
from pipeline.review.roles import ROLE_NAMES, Role, allowed
from pipeline.stages import Context, process_case
from pipeline.store.schema import User

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
COOKIE = "ci_session"
LOGIN_CSRF = "ci_login_csrf"
QUEUE_STATES = (CaseStatus.REVIEW, CaseStatus.AWAITING, CaseStatus.FAILED)
STATUS_ZH: dict[str, str] = {
    CaseStatus.RECEIVED: "已接收",
    CaseStatus.EXTRACTED: "已识别",
    CaseStatus.VALIDATED: "已校验",
    CaseStatus.REVIEW: "待审核",
    CaseStatus.AWAITING: "待补正",
    CaseStatus.APPROVED: "已批准",
    CaseStatus.ISSUING: "签发中",
    CaseStatus.ISSUED: "已签发",
    CaseStatus.DELIVERED: "已交付",
    CaseStatus.REJECTED: "不予受理",
    CaseStatus.DUPLICATE: "重复提交",
    CaseStatus.MERGED: "已合并",
    CaseStatus.REVOKED: "已注销",
    CaseStatus.FAILED: "处理失败",
}
SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
LOGIN_THREADS = 2  # password checks at once


# documents whose page images a role without see_personal may look at (with personal fields blacked out)
CLERK_PAGE_KINDS = (DocKind.APPLICATION_FORM, DocKind.BUSINESS_LICENSE, DocKind.PRODUCT_CERT)


@dataclass(frozen=True)
class WebConfig:
    idle: timedelta = timedelta(hours=8)  # a session without a request for this long ends
    max_age: timedelta = timedelta(hours=12)  # and every session ends this long after its login
    secure_cookie: bool = False  # set when served over HTTPS (behind a reverse proxy)

    @classmethod
    def from_settings(cls, web: dict[str, Any], secure_cookie: bool | None = None) -> WebConfig:
        """From ``web:`` in config.yaml (``secure_cookie``, ``session_max_age_s``, ``session_idle_s``)."""
        default = cls()
        idle = float(web.get("session_idle_s") or default.idle.total_seconds())
        max_age = float(web.get("session_max_age_s") or default.max_age.total_seconds())
        secure = bool(web.get("secure_cookie", False)) if secure_cookie is None else secure_cookie
        return cls(idle=timedelta(seconds=idle), max_age=timedelta(seconds=max_age), secure_cookie=secure)


@dataclass(frozen=True)
class Who:
    user: User
    csrf: str
    token: str

    @property
    def actor(self) -> Actor:
        return Actor(self.user.name, self.user.role)


class _Redirect(Exception):
    def __init__(self, to: str) -> None:
        self.to = to


def create_app(ctx: Context, config: WebConfig | None = None, runner: Callable[[str], Any] | None = None) -> FastAPI:
    """The app over one context.  ``runner(case_id)`` carries on with a case after approval or a merge
    (default: ``process_case`` on a single background thread)."""
    cfg = config or WebConfig()
    app = FastAPI(title="cert-intake 审核工作台", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(
        CaseStatus=CaseStatus, STATUS_ZH=STATUS_ZH, SEVERITY_ZH=SEVERITY_ZH, ROLE_NAMES=ROLE_NAMES, zh=zh
    )
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-runner")

    def _run(case_id: str) -> None:
        try:
            process_case(ctx, case_id)
        except Exception:  # process_case records failures on the case; this is a last guard
            log.exception("background processing of %s failed", case_id)

    carry_on = runner or (lambda case_id: pool.submit(_run, case_id))
    app.state.pool = pool
    # password checks (argon2: CPU and 64 MiB each) on threads of their own: a flood of logins queues here
    # and never takes the threads that serve the pages
    login_pool = ThreadPoolExecutor(max_workers=LOGIN_THREADS, thread_name_prefix="review-login")
    app.state.login_pool = login_pool
    banner_key = secrets.token_bytes(32)  # signs ?msg= / ?ok= banners of this process

    def _sign(kind: str, text: str) -> str:
        return hmac.new(banner_key, f"{kind}\x00{text}".encode(), hashlib.sha256).hexdigest()[:32]

    def banner_query(kind: str, text: str) -> str:
        return urlencode({kind: text, "sig": _sign(kind, text)})

    def banner(request: Request, kind: str) -> str:
        text = request.query_params.get(kind, "")
        sig = request.query_params.get("sig", "")
        return text if text and hmac.compare_digest(sig, _sign(kind, text)) else ""

    def client_address(request: Request) -> str:
        # uvicorn puts the X-Forwarded-For address here when the peer is a trusted proxy (forwarded_allow_ips)
        return request.client.host if request.client else "unknown"

    @app.exception_handler(_Redirect)
    async def _redirect(_request: Request, exc: _Redirect) -> Response:
        return RedirectResponse(exc.to, status_code=303)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    # ------------------------------------------------------------------ session helpers
    def who(request: Request) -> Who:
        token = request.cookies.get(COOKIE)
        found = ctx.store.web_session(token, cfg.idle, cfg.max_age) if token else None
        if found is None:
            raise _Redirect("/login?next=" + quote(request.url.path))
        ws, user = found
        return Who(user, ws.csrf, token or "")

    async def checked(request: Request, permission: str = "view") -> tuple[Who, dict[str, str]]:
        """The session, the role's permission and the CSRF token of a POST; the form as a dict."""
        w = who(request)
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not hmac.compare_digest(form.get("csrf", ""), w.csrf):
            ctx.store.audit("csrf_refused", w.user.name, f"{request.method} {request.url.path}")
            raise HTTPException(403, "CSRF 校验失败，请刷新页面后重试")
        if not allowed(w.user.role, permission):
            ctx.store.audit("forbidden", w.user.name, f"{permission} {request.url.path}")
            raise HTTPException(403, f"当前角色（{ROLE_NAMES.get(Role(w.user.role), w.user.role)}）无权执行此操作")
        return w, form

    def page(request: Request, name: str, w: Who | None, status_code: int = 200, **data: Any) -> HTMLResponse:
        data.update(request=request, me=w.user if w else None, csrf=w.csrf if w else "")
        return templates.TemplateResponse(request, name, data, status_code=status_code)

    def case_or_404(case_id: str) -> Any:
        try:
            return ctx.store.get_case(case_id)
        except CertIntakeError as exc:
            raise HTTPException(404, "案件不存在") from exc

    # ------------------------------------------------------------------ login
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        safe_next = next if _local_path(next) else "/"
        msg = banner(request, "msg")
        resp = page(request, "login.html", None, next=safe_next, msg=msg, login_csrf=token)
        resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", secure=cfg.secure_cookie, max_age=1800)
        return resp

    @app.post("/login")
    async def login_post(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not hmac.compare_digest(form.get("csrf", ""), request.cookies.get(LOGIN_CSRF, "") or "-"):
            raise HTTPException(403, "CSRF 校验失败，请刷新页面后重试")
        name, password, address = (
            form.get("username", "")[:64],
            form.get("password", "")[:1024],
            client_address(request),
        )
        # others' failures slow a name down a little (here, without holding a thread); argon2 runs on a
        # worker thread so that the event loop keeps serving everyone else meanwhile
        delay = await anyio.to_thread.run_sync(auth.account_delay, ctx.store, name)
        if delay:
            await anyio.sleep(delay)
        check = functools.partial(auth.login, ctx.store, name, password, address)
        result = await asyncio.get_running_loop().run_in_executor(login_pool, check)
        if result.token is None:
            return RedirectResponse("/login?" + banner_query("msg", result.message), status_code=303)
        nxt = form.get("next", "/")
        resp = RedirectResponse(nxt if _local_path(nxt) else "/", status_code=303)
        resp.set_cookie(
            COOKIE,
            result.token,
            httponly=True,
            samesite="strict",
            secure=cfg.secure_cookie,
            max_age=int(cfg.max_age.total_seconds()),  # the server ends it earlier when idle
        )
        resp.delete_cookie(LOGIN_CSRF, httponly=True, samesite="strict", secure=cfg.secure_cookie)
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        w, _form = await checked(request)
        ctx.store.close_web_session(w.token)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=cfg.secure_cookie)
        return resp

    # ------------------------------------------------------------------ queue
    @app.get("/", response_class=HTMLResponse)
    def queue(request: Request, status: str = "", q: str = "", office: str = "") -> HTMLResponse:
        w = who(request)
        states = (CaseStatus(status),) if status in STATUS_ZH else QUEUE_STATES
        rows = queue_rows(ctx, states, q.strip(), office.strip(), allowed(w.user.role, "see_personal"))
        return page(
            request,
            "queue.html",
            w,
            rows=rows,
            status=status,
            q=q,
            office=office,
            offices=sorted(ctx.profiles),
            states=STATUS_ZH,
        )

    @app.get("/next")
    def next_case(request: Request, after: str = "") -> Response:
        who(request)
        ids = [r["id"] for r in queue_rows(ctx, (CaseStatus.REVIEW,), "", "", False)]
        if not ids:
            return RedirectResponse("/", status_code=303)
        nxt = ids[(ids.index(after) + 1) % len(ids)] if after in ids else ids[0]
        return RedirectResponse(f"/cases/{nxt}", status_code=303)

    # ------------------------------------------------------------------ case page
    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    def case_page(request: Request, case_id: str) -> HTMLResponse:
        w = who(request)
        case_or_404(case_id)
        shown = "shown" if allowed(w.user.role, "see_personal") else "masked"
        ctx.store.audit("view", w.user.name, f"case page (personal data {shown})", case_id)
        data = case_view(ctx, case_id, w.actor)
        return page(request, "case.html", w, msg=banner(request, "msg"), ok=banner(request, "ok"), **data)

    def personal_only(w: Who, what: str, case_id: str) -> None:
        if not allowed(w.user.role, "see_personal"):
            ctx.store.audit("forbidden", w.user.name, f"see_personal {what}", case_id)
            raise HTTPException(403, "当前角色无权查看含个人信息的材料")

    @app.get("/cases/{case_id}/pages/{page_id}.jpg")
    def page_image(request: Request, case_id: str, page_id: int) -> Response:
        w = who(request)
        case = case_or_404(case_id)
        for p in ctx.store.case_pages(case_id):
            if p.id == page_id:
                data = ctx.store.blobs.get(p.sha256)
                if not allowed(w.user.role, "see_personal"):
                    kind = next((d.get("kind") for d in case.documents if d.get("name") == p.document), "")
                    if kind not in CLERK_PAGE_KINDS:
                        personal_only(w, f"page {p.document} p{p.page}", case_id)
                    data = redact_page(data, personal_boxes(ctx, case_id, p.document, p.page, p.scale))
                    ctx.store.audit("view_page", w.user.name, f"page {p.document} p{p.page} (redacted)", case_id)
                else:
                    ctx.store.audit("view_page", w.user.name, f"page {p.document} p{p.page}", case_id)
                return Response(data, media_type="image/jpeg")
        raise HTTPException(404, "页面不存在")

    @app.get("/cases/{case_id}/files/{file_id}")
    def original(request: Request, case_id: str, file_id: int) -> Response:
        w = who(request)
        for f in ctx.store.case_files(case_id, role=None):
            if f.id == file_id:
                personal_only(w, f"original {f.name}", case_id)
                ctx.store.audit("view_file", w.user.name, f"original {f.name}", case_id)
                return _download(ctx.store.blobs.get(f.sha256), f.name)
        raise HTTPException(404, "文件不存在")

    @app.get("/cases/{case_id}/outputs/{name}")
    def output(request: Request, case_id: str, name: str) -> Response:
        w = who(request)
        personal_only(w, f"output {name[:64]}", case_id)
        path = ctx.store.outputs(case_id).get(name)
        if path is None or not Path(path).is_file():
            raise HTTPException(404, "文件不存在")
        ctx.store.audit("view_file", w.user.name, f"output {name}", case_id)
        return _download(Path(path).read_bytes(), Path(path).name)

    # ------------------------------------------------------------------ actions
    Act = Callable[[Actor, str, dict[str, str]], str]  # does it (or raises ActionRefused), returns the message

    async def act(request: Request, case_id: str, permission: str, do: Act, carry: bool = False) -> Response:
        """Session, role and CSRF checks, then the action; a refusal is shown on the case page."""
        w, form = await checked(request, permission)
        case_or_404(case_id)
        try:  # validation, notices, merges: on a worker thread, not on the event loop
            message = await anyio.to_thread.run_sync(do, w.actor, case_id, form)
        except ActionRefused as exc:
            return RedirectResponse(f"/cases/{case_id}?" + banner_query("msg", str(exc)), status_code=303)
        if carry:
            carry_on(case_id)
        return RedirectResponse(f"/cases/{case_id}?" + banner_query("ok", message), status_code=303)

    def _field(key: str) -> Act:
        def do(a: Actor, cid: str, form: dict[str, str]) -> str:
            if form.get("confirm"):
                actions.confirm_field(ctx, a, cid, key)
                return f"已确认“{zh(key)}”"
            actions.correct_field(ctx, a, cid, key, form.get("value", ""))
            return f"已更正“{zh(key)}”并重新校验"

        return do

    def _verify(a: Actor, cid: str, form: dict[str, str]) -> str:
        actions.verify(ctx, a, cid, form.get("note", ""))
        return "验核通过，等待审批管理员复核"

    def _approve(a: Actor, cid: str, form: dict[str, str]) -> str:
        actions.approve(ctx, a, cid, form.get("note", ""))
        return "已复核批准，正在签发"

    def _reject(a: Actor, cid: str, form: dict[str, str]) -> str:
        actions.reject(ctx, a, cid, form.get("reasons", ""))
        return "已作出不予受理决定，通知书已生成"

    def _request(a: Actor, cid: str, form: dict[str, str]) -> str:
        try:
            days = min(max(int(form.get("days") or 5), 1), 30)
        except ValueError as exc:
            raise ActionRefused("补正期限须为 1–30 个工作日") from exc
        actions.request_materials(ctx, a, cid, form.get("items", ""), days)
        return "已通知补正，补正材料通知书已生成"

    def _merge(a: Actor, cid: str, form: dict[str, str]) -> str:
        actions.merge(ctx, a, cid, form.get("other", ""))
        return "已合并，正在重新识别"

    def _duplicate(a: Actor, cid: str, form: dict[str, str]) -> str:
        actions.mark_duplicate(ctx, a, cid, form.get("original", ""))
        return "已标记为重复提交"

    @app.post("/cases/{case_id}/fields/{key}")
    async def correct(request: Request, case_id: str, key: str) -> Response:
        return await act(request, case_id, "correct", _field(key))

    def route(permission: str, do: Act, carry: bool = False) -> Callable[[Request, str], Any]:
        async def endpoint(request: Request, case_id: str) -> Response:
            return await act(request, case_id, permission, do, carry)

        return endpoint

    decisions: dict[str, tuple[str, Act, bool]] = {
        "verify": ("verify", _verify, False),
        "approve": ("approve", _approve, True),  # then issuance, on the background worker
        "reject": ("reject", _reject, False),
        "request": ("request", _request, False),
        "merge": ("merge", _merge, True),  # then a fresh read of the merged case
        "duplicate": ("duplicate", _duplicate, False),
    }
    for path, (permission, do, carry) in decisions.items():
        app.add_api_route(f"/cases/{{case_id}}/{path}", route(permission, do, carry), methods=["POST"])

    return app


def _local_path(target: str) -> bool:
    """A path on this app (never ``//host`` or ``/\\host``, which browsers read as another site)."""
    return target.startswith("/") and not target.startswith(("//", "/\\")) and not any(ord(c) < 32 for c in target)


def _download(data: bytes, name: str) -> Response:
    """A file to save, never to render in the page (an original may hold anything)."""
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


# --------------------------------------------------------------------------- view models


def personal_boxes(ctx: Context, case_id: str, document: str, page: int, scale: float) -> list[tuple[int, ...]]:
    """Pixel boxes of the personal fields (ID numbers, phones) on one page image."""
    boxes: list[tuple[int, ...]] = []
    for key, f in ctx.store.fields(case_id).items():
        ev = f.evidence
        if is_personal(key) and ev and ev.bbox and ev.document == document and ev.page == page:
            boxes.append(tuple(round(v * scale) for v in ev.bbox))
    return boxes


def redact_page(jpeg: bytes, boxes: list[tuple[int, ...]], pad: int = 6) -> bytes:
    """The page with each box filled black (a little wider than the box)."""
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(jpeg)) as img:
        out = img.convert("RGB")
    draw = ImageDraw.Draw(out)
    for x0, y0, x1, y1 in (b[:4] for b in boxes):
        draw.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), fill=(0, 0, 0))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def shown_message(message: str, see_personal: bool) -> str:
    """A finding message as a role may read it (older findings may still hold a full number)."""
    return message if see_personal else logsafe.mask(message)


def queue_rows(
    ctx: Context, states: tuple[CaseStatus, ...], q: str, office: str, see_personal: bool = False
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for status in states:
        for case in ctx.store.list_cases(status):
            if office and case.office != office:
                continue
            text = " ".join(x for x in (case.id, case.applicant_name, case.org_code, case.subject_company) if x)
            if q and q.lower() not in text.lower():
                continue
            age, due, overdue = actions.age_and_deadline(ctx, case.id)
            findings = [f for f in ctx.store.findings(case.id, unresolved_only=True) if f.severity != Severity.INFO]
            fields = ctx.store.fields(case.id)
            handler = fields.get("handler_phone")
            rows.append(
                {
                    "id": case.id,
                    "office": case.office,
                    "category": _category_display(ctx, case.office, case.category),
                    "applicant": case.applicant_name or case.subject_company or "",
                    "handler_phone": mask(handler.value) if handler else "",
                    "status": case.status,
                    "waiting": actions.waiting_for(ctx, case.id),
                    "age": age,
                    "due": due or "",
                    "overdue": overdue,
                    "errors": sum(1 for f in findings if f.severity == Severity.ERROR),
                    "warnings": sum(1 for f in findings if f.severity == Severity.WARNING),
                    "summary": shown_message(
                        findings[0].message_zh if findings else (case.failure or "")[:120], see_personal
                    ),
                }
            )
    rows.sort(key=lambda r: (not r["overdue"], r["due"] or "9999", -r["age"], r["id"]))
    return rows


def _category_display(ctx: Context, office: str | None, category: str | None) -> str:
    profile = ctx.profiles.get(office or "")
    return describe(category, profile.action_of(category) if profile else None)


def case_view(ctx: Context, case_id: str, actor: Actor) -> dict[str, Any]:
    case = ctx.store.get_case(case_id)
    profile = ctx.profiles.get(case.office) or ctx.profiles[ctx.settings.default_office]
    see_personal = allowed(actor.role, "see_personal")
    sources = ctx.store.field_sources(case_id)
    findings = ctx.store.findings(case_id, unresolved_only=True)
    flagged = {f.field for f in findings if f.field and f.severity != Severity.INFO}
    fields: list[dict[str, Any]] = []
    for key, f in ctx.store.fields(case_id).items():
        ev = f.evidence
        personal = is_personal(key)
        fields.append(
            {
                "key": key,
                "name": zh(key),
                "value": f.value if see_personal or not personal else mask(f.value),
                "masked": personal and not see_personal,
                "readonly": key.startswith(("csr.", "cert.")),  # read from the DER file, not typed
                "confidence": f.confidence,
                "low": f.confidence < profile.confidence_threshold,
                "flagged": key in flagged,
                "source": sources.get(key, "extract"),
                "doc": ev.document if ev else "",
                "page": ev.page if ev else 0,
                "bbox": list(ev.bbox) if ev and ev.bbox else None,
            }
        )
    fields.sort(key=lambda x: (not (x["flagged"] or x["low"]), "." in x["key"], x["key"]))
    pages = []
    kinds = {d["name"]: d.get("kind", "") for d in case.documents}
    visible = [p for p in ctx.store.case_pages(case_id) if see_personal or kinds.get(p.document) in CLERK_PAGE_KINDS]
    order = [DocKind.APPLICATION_FORM, DocKind.BUSINESS_LICENSE, DocKind.ID_CARD, DocKind.PRODUCT_CERT]
    ranked = sorted(
        visible,
        key=lambda p: (order.index(kinds[p.document]) if kinds.get(p.document) in order else len(order), p.id),
    )
    for p in ranked:
        boxes = [
            {
                "key": f["key"],
                "left": 100 * f["bbox"][0] * p.scale / p.width,
                "top": 100 * f["bbox"][1] * p.scale / p.height,
                "width": 100 * (f["bbox"][2] - f["bbox"][0]) * p.scale / p.width,
                "height": 100 * (f["bbox"][3] - f["bbox"][1]) * p.scale / p.height,
                "low": f["low"] or f["flagged"],
            }
            for f in fields
            if f["bbox"] and f["doc"] == p.document and f["page"] == p.page
        ]
        pages.append({"id": p.id, "document": p.document, "page": p.page, "boxes": boxes})
    files = ctx.store.case_files(case_id, role=None)
    csr_names = {d.get("name") for d in case.documents if d.get("kind") == DocKind.CSR}
    csrs = []
    for cf in files:
        if cf.role == "document" and cf.name in csr_names:
            parsed = der.parse_csr(ctx.store.blobs.get(cf.sha256))
            csrs.append(
                {
                    "name": cf.name,
                    "subject": parsed.subject,
                    "key": parsed.key.algorithm if parsed.key else "",
                    "fingerprint": parsed.fingerprint or "",
                    "error": parsed.error or "",
                }
            )
    age, due, overdue = actions.age_and_deadline(ctx, case_id)
    return {
        "case": case,
        "profile": profile,
        "category": describe(case.category, profile.action_of(case.category)),
        "waiting": actions.waiting_for(ctx, case_id),
        "fields": fields,
        "findings": [
            {
                "code": f.code,
                "severity": f.severity,
                "field": f.field,
                "message_zh": shown_message(f.message_zh, see_personal),
                "evidence": f.evidence,
            }
            for f in findings
        ],
        "pages": pages,
        "see_personal": see_personal,
        "files": files,
        "documents": {d["name"]: d for d in case.documents},
        "outputs": sorted(ctx.store.outputs(case_id)),
        "csrs": csrs,
        "history": ctx.store.review_actions(case_id),
        "audit": ctx.store.audit_rows(case_id),
        "blockers": [shown_message(b, see_personal) for b in actions.approval_blockers(ctx, actor, case_id)],
        "two_person": actions.two_person_rule(ctx, case_id),
        "can": {p: allowed(actor.role, p) for p in ("correct", "verify", "approve", "reject", "request", "merge")},
        "age": age,
        "due": due,
        "overdue": overdue,
    }
