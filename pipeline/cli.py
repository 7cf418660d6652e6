"""``cert-intake`` command line.  The only place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline import logsafe
from pipeline.config import REPO_ROOT, Settings, load_settings, prepare_prefect_env
from pipeline.errors import CertIntakeError
from pipeline.models import CaseStatus

log = logging.getLogger("cert_intake")
SAMPLES = REPO_ROOT / "samples" / "cases"
REGISTRY = "product-registry.csv"


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return load_settings(args.home, **overrides)


def _run(settings: Settings, paths: list[Path]) -> list[dict[str, Any]]:
    if settings.use_prefect:
        prepare_prefect_env(settings)
    from pipeline import flows

    if not sys.stderr.isatty():
        return flows.run_batch(settings, paths)[1]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]cases"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        transient=True,
    ) as bar:
        job = bar.add_task("ingest …", total=None)

        def advance(done: int, total: int, result: dict[str, Any]) -> None:
            bar.update(job, completed=done, total=total, description=f"{result['case_id']} → {result['status']}")

        flows.on_progress(advance)
        try:
            return flows.run_batch(settings, paths)[1]
        finally:
            flows.on_progress(None)


def cmd_process(args: argparse.Namespace) -> int:
    settings = _settings(args, use_prefect=False if args.no_prefect else None)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"路径不存在: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.media:
        from pipeline.stages import Context, ingest_path, process_outcomes

        ctx = Context(settings)
        _print_results(
            [r for p in args.paths for r in process_outcomes(ctx, ingest_path(ctx, Path(p), True))], args.json
        )
        return 0
    _print_results(_run(settings, [Path(p) for p in args.paths]), args.json)
    return 0


def _output_folder(outputs: dict[str, Any], home: Path) -> str:
    """The one folder a case's files went to (sign.cer, env.cer, 告知书 … — the folder most of them share,
    not the bundle or the outbox), relative to the data directory."""
    files = [v for k, v in outputs.items() if k not in ("bundle", "mail") and isinstance(v, str)]
    parents = [Path(v).parent for v in files if "/" in v or "\\" in v]
    if not parents:
        return "-"
    folder = max(set(parents), key=parents.count)
    return str(folder.relative_to(home)) if folder.is_relative_to(home) else str(folder)


def _summary_table(results: list[dict[str, Any]], seconds: float, settings: Settings) -> None:
    """One row per case: what it is (office, category and its action), where it went, why it waits, and
    the one folder its outputs are in — fits an 80-column terminal, folds on a narrower one."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from pipeline.actions import describe
    from pipeline.profiles import load_profiles

    profiles = load_profiles(settings.forms_dir)
    title = f"cert-intake demo — {len(results)} case(s) in {seconds:.1f}s; outputs in {settings.outputs_dir}"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("case", overflow="fold", max_width=20)
    table.add_column("category", overflow="fold", max_width=12)
    table.add_column("status", no_wrap=True)
    table.add_column("findings", overflow="fold", min_width=17)  # one code per line
    table.add_column("outputs/", overflow="fold")
    for r in results:
        cat = r["fields"].get("category", {}).get("value")
        profile = profiles.get(r["office"])
        what = describe(cat, profile.action_of(cat)) if cat and profile else (cat or "-")
        codes = sorted({f["code"] for f in r["findings"] if f["severity"] != "info"})
        table.add_row(
            f"{Path(r['source']['path']).name}\n{r['office']}",
            what,
            r["status"],
            "\n".join(codes) or "-",
            _output_folder(r["outputs"], settings.outputs_dir),
        )
    Console().print(table)


def cmd_demo(args: argparse.Namespace) -> int:
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="cert-intake-demo-"))
    if args.home and home.exists() and any(home.iterdir()) and not args.reuse:
        print(f"{home} 不是空目录；演示需要一个新的数据目录（或加 --reuse）", file=sys.stderr)
        return 2
    settings = load_settings(home, use_prefect=False if args.no_prefect else None)
    start = time.perf_counter()
    from pipeline.issue.ca import LocalCA

    if not LocalCA.exists(settings.ca_dir):
        LocalCA.init(settings.ca_dir)
    from pipeline.store import Store
    from pipeline.validate.registry import read_registry

    Store.open(settings.database_url, settings.blob_dir).import_registry(read_registry(SAMPLES.parent / REGISTRY))
    results = _run(settings, [SAMPLES])
    _summary_table(results, time.perf_counter() - start, settings)
    print(f"数据目录 (home): {settings.home}")
    return 0


def cmd_ca_init(args: argparse.Namespace) -> int:
    from pipeline.issue.ca import LocalCA

    settings = _settings(args)
    password = None
    if args.prompt:
        import getpass

        password = getpass.getpass("CA key password: ")
        if not password or password != getpass.getpass("again: "):
            print("passwords empty or different", file=sys.stderr)
            return 2
    ca = LocalCA.init(settings.ca_dir, organisation=args.organisation, password=password)
    print(f"CA created in {ca.directory}")
    print(f"  root:    {ca.root_path}\n  issuing: {ca.issuing_path}\n  chain:   {ca.chain_path}")
    if (ca.directory / "dev-password").exists():
        print("  (development CA: key password kept in ca/dev-password; set CERT_INTAKE_CA_PASSWORD for production)")
    return 0


def cmd_cases_list(args: argparse.Namespace) -> int:
    from pipeline.store import Store

    settings = _settings(args)
    store = Store.open(settings.database_url, settings.blob_dir)
    for c in store.list_cases(args.status):
        print(
            f"{c.id}  {c.status:<10} {c.route or '-':<7} {c.office:<16} {c.category or '-':<4} "
            f"{c.applicant_name or '-'}  [{c.source_kind}] {c.source_path}"
        )
    return 0


def cmd_cases_show(args: argparse.Namespace) -> int:
    from pipeline.stages import Context, case_contract

    ctx = Context(_settings(args))
    data = case_contract(ctx, args.case_id)
    data["audit"] = [
        {"at": a.at.isoformat(), "actor": a.actor, "from": a.from_status, "to": a.to_status, "detail": a.detail}
        for a in ctx.store.audit_rows(args.case_id)
    ]
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


def cmd_crl(args: argparse.Namespace) -> int:
    from pipeline.issue.revoke import publish_crl
    from pipeline.stages import Context

    ctx = Context(_settings(args))
    path, number = publish_crl(ctx.store, ctx.local_ca, Path(args.out) if args.out else ctx.settings.crl_path)
    print(f"CRL #{number}: {path} ({len(ctx.store.revoked())} revoked)")
    return 0


def cmd_revocations(args: argparse.Namespace) -> int:
    from pipeline.issue.revoke import execute_due, publish_crl
    from pipeline.stages import Context

    ctx = Context(_settings(args))
    done = execute_due(ctx.store)
    print(f"revoked {len(done)} certificate(s) whose scheduled revocation was due: {', '.join(done) or '-'}")
    if done:
        path, number = publish_crl(ctx.store, ctx.local_ca, ctx.settings.crl_path)
        print(f"CRL #{number}: {path}")
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    from pipeline.issue.ledger import write_ledger
    from pipeline.stages import Context

    ctx = Context(_settings(args))
    print(write_ledger(ctx.store, Path(args.out) if args.out else ctx.settings.ledger_path, ctx.profiles))
    return 0


def cmd_offices(args: argparse.Namespace) -> int:
    """Every office's categories with their actions, materials and outputs (the README's table)."""
    from pipeline.offices import office_table
    from pipeline.stages import Context

    print(office_table(Context(_settings(args)).profiles))
    return 0


def _print_results(results: list[dict[str, Any]], as_json: bool) -> None:
    for r in results:
        if as_json:
            print(json.dumps(r, ensure_ascii=False), flush=True)
        else:
            print(f"{r['case_id']}  {r['status']:<10} {r.get('route') or '-':<7} {r['source']['path']}", flush=True)


def cmd_watch(args: argparse.Namespace) -> int:
    from pipeline.ingest.watch import InboxWatcher
    from pipeline.stages import Context, take_inbox_entry

    ctx = Context(_settings(args))
    inbox = Path(args.dir) if args.dir else (ctx.settings.inbox_dir or ctx.settings.home / "inbox")
    settle = args.settle if args.settle is not None else ctx.settings.watch_settle

    def handle(entry: Path) -> None:
        _print_results(take_inbox_entry(ctx, entry), args.json)

    watcher = InboxWatcher(inbox, handle, settle=settle, polling=args.polling or ctx.settings.watch_polling)
    print(
        f"watching {inbox} (settle {settle}s{', polling' if watcher.polling else ''}); Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    import signal

    signal.signal(signal.SIGTERM, lambda *_: watcher.stop())
    try:
        watcher.run()
    except KeyboardInterrupt:
        watcher.stop()
    return 0


def cmd_fetch_mail(args: argparse.Namespace) -> int:
    from pipeline.ingest.imap import fetch
    from pipeline.stages import Context, imap_config, process_outcomes

    ctx = Context(_settings(args))
    outcomes = fetch(ctx.store, imap_config(ctx), ctx.settings.default_office)
    _print_results(process_outcomes(ctx, outcomes), args.json)
    return 0


def cmd_registry_import(args: argparse.Namespace) -> int:
    from pipeline.store import Store
    from pipeline.validate.registry import read_registry

    settings = _settings(args)
    store = Store.open(settings.database_url, settings.blob_dir)
    rows = read_registry(Path(args.file))
    store.import_registry(rows)
    print(f"imported {len(rows)} product certificate(s); registry now holds {store.registry_size()}")
    return 0


def cmd_certs_import(args: argparse.Namespace) -> int:
    from pipeline.inventory import import_inventory, read_inventory
    from pipeline.store import Store

    settings = _settings(args)
    store = Store.open(settings.database_url, settings.blob_dir)
    rows = read_inventory(Path(args.path))
    added, known = import_inventory(store, rows, args.office or settings.default_office)
    print(f"imported {added} certificate(s); {known} already in the store")
    return 0


EXIT_PARTLY_FAILED = 8  # `batch`: some steps of the scheduled run failed, the others were done


def _batch_exit(summary: dict[str, Any]) -> int:
    """One line per failed step on stderr (no traceback), then the summary as JSON on stdout; the exit code
    says whether every step went well (0) or the run partly failed (EXIT_PARTLY_FAILED)."""
    from pipeline.batch import failure_lines

    for line in failure_lines(summary):
        print(f"cert-intake batch: {line}", file=sys.stderr)
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if summary.get("ok", True) else EXIT_PARTLY_FAILED


def cmd_batch(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.no_prefect:
        from pipeline.batch import run_plain
        from pipeline.stages import Context

        return _batch_exit(run_plain(Context(settings)))
    prepare_prefect_env(settings)
    from pipeline.flows import batch, in_process

    with in_process():
        return _batch_exit(batch(str(settings.home)))


def _store(args: argparse.Namespace) -> Any:
    from pipeline.store import Store

    settings = _settings(args)
    return Store.open(settings.database_url, settings.blob_dir)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("密码: ")
    if getpass.getpass("再次输入密码: ") != first:
        raise CertIntakeError("两次输入的密码不一致")
    return first


def cmd_users_add(args: argparse.Namespace) -> int:
    from pipeline.review.auth import add_user

    add_user(_store(args), args.name, args.role, _read_password(args))
    print(f"user {args.name} ({args.role}) added")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    store = _store(args)
    for u in store.list_users():
        state = "locked" if store.is_locked(u) else ("active" if u.active else "disabled")
        print(f"{u.name}\t{u.role}\t{state}")
    return 0


def cmd_users_change(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pipeline.review.auth import hash_password

    store = _store(args)
    if args.users_command == "unlock":
        from pipeline.review.auth import unlock

        store.set_user(args.name, "admin-cli", failed_logins=0, locked_until=None)
        unlock(store, args.name)
    elif args.users_command == "disable":
        store.set_user(args.name, "admin-cli", active=False, locked_until=datetime.now(UTC))
        store.close_user_sessions(args.name)
    elif args.users_command == "passwd":
        store.set_user(args.name, "admin-cli", password_hash=hash_password(_read_password(args)))
        store.close_user_sessions(args.name)
    print(f"user {args.name}: {args.users_command} done")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from pipeline.store.auditchain import parse_heads

    recorded: list[tuple[int | None, str]] = []
    for given in args.head or []:
        heads = parse_heads(given)
        if not heads:
            raise CertIntakeError(f"--head: not a head hash ({given[:80]!r}); give HASH or SEQ:HASH")
        recorded += heads
    for name in args.head_file or []:
        try:
            heads = parse_heads(Path(name).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CertIntakeError(f"cannot read the head file {name}: {exc}") from exc
        if not heads:
            raise CertIntakeError(f"no recorded head in {name} (lines 'audit head: seq N hash H')")
        recorded += heads
    settings = _settings(args)
    from pipeline.store import Store

    store = Store.open(settings.database_url, settings.blob_dir, check_key=False)
    checked, problems = store.verify_audit(recorded)
    for p in problems:
        print(f"TAMPERED: {p.message}")
    if problems:
        print(f"audit chain broken: {len(problems)} problem(s) in {checked} row(s)", file=sys.stderr)
        return 1
    keyed = "keyed (HMAC-SM3)" if store.audit_key is not None else "unkeyed (SM3; set an audit key)"
    against = f"; {len(recorded)} recorded head(s) found unchanged" if recorded else ""
    print(f"audit chain intact: {checked} row(s), {keyed}{against}")
    print(store.audit_head_line())
    return 0


def cmd_audit_start_keyed(args: argparse.Namespace) -> int:
    from pipeline.store import Store

    settings = _settings(args)
    store = Store.open(settings.database_url, settings.blob_dir, check_key=False)
    _checked, problems = store.verify_audit(keyed_end=False)
    if problems:
        for p in problems:
            print(f"TAMPERED: {p.message}")
        raise CertIntakeError("the audit chain is broken: not starting a keyed segment on it")
    started = store.start_keyed_segment()
    print("keyed segment started" if started else "the audit chain is already keyed")
    print(store.audit_head_line())
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:

    settings = _settings(args)
    if "PREFECT_API_URL" not in os.environ:
        raise CertIntakeError("deploy needs a Prefect server: set PREFECT_API_URL (e.g. http://host:4200/api)")
    prepare_prefect_env(settings)
    from pipeline.deploy import deploy

    print(json.dumps(deploy(settings, args.pool, schedule=not args.no_schedule), ensure_ascii=False))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pipeline.serve import serve

    return serve(
        _settings(args),
        host=args.host,
        port=args.port,
        review_only=args.review_only,
        watch=not args.no_watch,
        secure_cookie=True if args.secure_cookie else None,
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cert-intake", description="SM2 证书受理：收件、识别、校验、分流、签发")
    ap.add_argument("--home", help="data directory (database, blobs, CA, outputs); env CERT_INTAKE_HOME")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("process", help="ingest PATH(s) and run every stage")
    p.add_argument("paths", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object per case (the contract)")
    p.add_argument("--no-prefect", action="store_true", help="plain loop instead of Prefect flows")
    p.add_argument("--media", action="store_true", help="each PATH is a CD/USB (mounted folder or .iso): one case")
    p.set_defaults(func=cmd_process)

    d = sub.add_parser("demo", help="process the bundled samples/ into a fresh home")
    d.add_argument("--no-prefect", action="store_true")
    d.add_argument("--reuse", action="store_true", help="allow a non-empty --home")
    d.set_defaults(func=cmd_demo)

    ca = sub.add_parser("ca", help="local development SM2 CA").add_subparsers(dest="ca_command", required=True)
    ci = ca.add_parser("init", help="create root + issuing CA in the home (never overwrites)")
    ci.add_argument("--organisation", default="cert-intake 开发测试CA")
    ci.add_argument(
        "--prompt",
        action="store_true",
        help="ask for the key password (else CERT_INTAKE_CA_PASSWORD, else a development password file)",
    )
    ci.set_defaults(func=cmd_ca_init)

    w = sub.add_parser("watch", help="watch the inbox folder and take settled submissions (runs until stopped)")
    w.add_argument("dir", nargs="?")
    w.add_argument("--settle", type=float, default=None, help="seconds a submission must stay unchanged")
    w.add_argument("--polling", action="store_true", help="poll instead of inotify (network shares)")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_watch)
    fm = sub.add_parser("fetch-mail", help="one IMAP poll of the office mailbox")
    fm.add_argument("--json", action="store_true")
    fm.set_defaults(func=cmd_fetch_mail)

    b = sub.add_parser(
        "batch",
        help="the scheduled run once: mail, inbox, pending cases, revocations, CRL, ledger",
        description="The scheduled run once. Each step succeeds or fails on its own; a failed step is one line "
        f"on stderr. Exit status: 0 every step ok, {EXIT_PARTLY_FAILED} some steps failed (the others were done).",
    )
    b.add_argument("--no-prefect", action="store_true", help="the same steps in a plain loop")
    b.set_defaults(func=cmd_batch)

    crl = sub.add_parser("crl", help="publish an SM2-signed CRL of every revoked certificate")
    crl.add_argument("--out")
    crl.set_defaults(func=cmd_crl)
    rv = sub.add_parser(
        "revocations", help="execute due scheduled revocations (renew: the old cert after the grace period)"
    )
    rv.set_defaults(func=cmd_revocations)
    of = sub.add_parser("offices", help="each office's categories: action, materials, outputs (Markdown table)")
    of.set_defaults(func=cmd_offices)
    lg = sub.add_parser("ledger", help="rebuild the 受理登记表 (.xlsx) from the store")
    lg.add_argument("--out")
    lg.set_defaults(func=cmd_ledger)

    reg = sub.add_parser("registry", help="商用密码产品认证证书 registry").add_subparsers(dest="reg_cmd", required=True)
    ri = reg.add_parser("import", help="load a CSV/XLSX of certified products (证书编号, 产品名称, 型号, …)")
    ri.add_argument("file")
    ri.set_defaults(func=cmd_registry_import)

    certs = sub.add_parser("certs", help="the certificate inventory").add_subparsers(dest="certs_cmd", required=True)
    ci = certs.add_parser("import", help="certificates issued before this system: a CSV/XLSX list or a folder of .cer")
    ci.add_argument("path")
    ci.add_argument("--office", help="the office the certificates belong to (default: the default office)")
    ci.set_defaults(func=cmd_certs_import)

    users = sub.add_parser("users", help="reviewers and their roles").add_subparsers(
        dest="users_command", required=True
    )
    ua = users.add_parser("add", help="add a user: --role clerk|registrar|approver|admin")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=["clerk", "registrar", "approver", "admin"])
    ua.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    ua.set_defaults(func=cmd_users_add)
    users.add_parser("list").set_defaults(func=cmd_users_list)
    for name, text in (("unlock", "lift a lockout"), ("disable", "disable and log out"), ("passwd", "set a password")):
        uc = users.add_parser(name, help=text)
        uc.add_argument("name")
        uc.add_argument("--password-stdin", action="store_true")
        uc.set_defaults(func=cmd_users_change)

    audit = sub.add_parser("audit", help="the tamper-evident audit trail").add_subparsers(
        dest="audit_command", required=True
    )
    av = audit.add_parser("verify", help="recompute the SM3 hash chain; exit 1 naming any edited or deleted row")
    av.add_argument(
        "--head",
        action="append",
        metavar="HASH",
        help="a head recorded outside the database (HASH or SEQ:HASH, as printed): catches a cut or rewritten end",
    )
    av.add_argument(
        "--head-file",
        action="append",
        metavar="FILE",
        help="a file of recorded heads ('audit head: seq N hash H' lines, e.g. each batch's output appended)",
    )
    av.set_defaults(func=cmd_audit_verify)
    audit.add_parser(
        "start-keyed", help="once, after first setting an audit key: keyed (HMAC-SM3) rows from here on"
    ).set_defaults(func=cmd_audit_start_keyed)

    dp = sub.add_parser("deploy", help="create the work pool and the deployments on the Prefect server (scale-out)")
    dp.add_argument("--pool", default="cert-intake")
    dp.add_argument("--no-schedule", action="store_true", help="deployments without their cron schedules")
    dp.set_defaults(func=cmd_deploy)

    sv = sub.add_parser("serve", help="one process: review web app, inbox watcher and scheduled batch runs")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8080)
    sv.add_argument("--review-only", action="store_true", help="only the review web app (no watcher, no schedule)")
    sv.add_argument("--no-watch", action="store_true", help="no inbox watcher (another host watches the folder)")
    sv.add_argument(
        "--secure-cookie",
        action="store_true",
        help="Secure session cookie: the app is reached over HTTPS (a TLS proxy in front); config web.secure_cookie",
    )
    sv.set_defaults(func=cmd_serve)

    cases = sub.add_parser("cases", help="inspect cases").add_subparsers(dest="cases_command", required=True)
    cl = cases.add_parser("list")
    cl.add_argument("--status", type=CaseStatus, choices=list(CaseStatus))
    cl.set_defaults(func=cmd_cases_list)
    cs = cases.add_parser("show")
    cs.add_argument("case_id")
    cs.set_defaults(func=cmd_cases_show)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logsafe.install()
    try:
        return int(args.func(args))
    except CertIntakeError as exc:
        print(f"cert-intake: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
