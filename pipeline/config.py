"""Settings, passed down explicitly (no stage reads globals).

Resolution order: explicit argument → environment (``CERT_INTAKE_*``) → ``<home>/config.yaml`` → default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError
from pipeline.pki import sm2

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = Path.home() / ".cert-intake"
DEFAULT_SCHEDULES = {"batch": "*/10 * * * *", "revocations": "0 1 * * *"}


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    forms_dir: Path
    ocr_engine: str = "rapidocr"
    ocr_options: dict[str, str] = field(default_factory=dict)
    default_office: str = "xiamen-eport"
    issuer: str = "local"  # local | external
    use_prefect: bool = True
    external_dir: Path | None = None
    smtp: dict[str, Any] = field(default_factory=dict)
    imap: dict[str, Any] = field(default_factory=dict)
    inbox_dir: Path | None = None
    watch_settle: float = 5.0
    watch_polling: bool = False
    clerk: str = "受理员"
    # cron strings (or seconds between runs) of the scheduled flows that `serve` runs
    schedules: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SCHEDULES))
    ocr_concurrency: int = 0  # OCR calls at once in one process; 0 = half the CPUs (at least 1)
    prefect_port: int = 4200  # the Prefect server `serve` starts when no PREFECT_API_URL is set
    # the review web app: secure_cookie (TLS behind a proxy), session_max_age_s, session_idle_s,
    # forwarded_allow_ips (proxies whose X-Forwarded-For names the client)
    web: dict[str, Any] = field(default_factory=dict)
    audit_hmac_key_env: str = "CERT_INTAKE_AUDIT_KEY"  # the environment variable that holds the audit key
    # per step of the scheduled run (sweep, mail, inbox, …): the seconds to wait before each retry;
    # overrides the defaults of pipeline.batch (one retry per listed delay; [] = never retried)
    retries: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # the library that signs and verifies SM2 (pipeline.pki.sm2.BACKENDS): gmssl, or tongsuo (the [tongsuo]
    # extra, native code); one per process, selected by load_settings
    sm2_backend: str = "gmssl"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def ca_dir(self) -> Path:
        return self.home / "ca"

    @property
    def outputs_dir(self) -> Path:
        return self.home / "outputs"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger" / "受理登记表.xlsx"

    @property
    def crl_path(self) -> Path:
        return self.home / "crl" / "issuing.crl"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def load_settings(home: Path | str | None = None, **overrides: Any) -> Settings:
    home_path = Path(home or os.environ.get("CERT_INTAKE_HOME") or DEFAULT_HOME).expanduser().resolve()
    home_path.mkdir(parents=True, exist_ok=True)
    file_cfg: dict[str, Any] = {}
    cfg_file = home_path / "config.yaml"
    if cfg_file.exists():
        try:
            file_cfg = yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"cannot read {cfg_file}: {exc}") from exc

    def pick(key: str, default: Any) -> Any:
        if key in overrides and overrides[key] is not None:
            return overrides[key]
        env = os.environ.get(f"CERT_INTAKE_{key.upper()}")
        if env:
            return env
        return file_cfg.get(key, default)

    db_url = pick("database_url", f"sqlite:///{home_path / 'cert-intake.db'}")
    forms_dir = Path(pick("forms_dir", REPO_ROOT / "forms"))
    if not forms_dir.is_dir():
        raise ConfigError(f"forms directory not found: {forms_dir} (set CERT_INTAKE_FORMS_DIR)")
    settings = Settings(
        home=home_path,
        database_url=str(db_url),
        forms_dir=forms_dir,
        ocr_engine=str(pick("ocr_engine", "rapidocr")),
        ocr_options={str(k): str(v) for k, v in (file_cfg.get("ocr_options") or {}).items()},
        default_office=str(pick("default_office", "xiamen-eport")),
        issuer=str(pick("issuer", "local")),
        use_prefect=str(pick("use_prefect", "1")).lower() not in ("0", "false", "no"),
        external_dir=Path(str(pick("external_dir", home_path / "external"))),
        smtp=dict(file_cfg.get("smtp") or {}),
        imap=dict(file_cfg.get("imap") or {}),
        inbox_dir=Path(str(pick("inbox_dir", home_path / "inbox"))),
        watch_settle=float(pick("watch_settle", 5.0)),
        watch_polling=str(pick("watch_polling", "0")).lower() in ("1", "true", "yes"),
        clerk=str(pick("clerk", "受理员")),
        schedules={**DEFAULT_SCHEDULES, **{str(k): str(v) for k, v in (file_cfg.get("schedules") or {}).items()}},
        ocr_concurrency=int(pick("ocr_concurrency", 0)),
        prefect_port=int(pick("prefect_port", 4200)),
        web=dict(file_cfg.get("web") or {}),
        audit_hmac_key_env=str(pick("audit_hmac_key_env", "CERT_INTAKE_AUDIT_KEY")),
        retries=_retries(file_cfg.get("retries"), cfg_file),
        sm2_backend=str(pick("sm2_backend", "gmssl")),
    )
    try:
        sm2.use_backend(settings.sm2_backend)
    except sm2.SM2Error as exc:
        raise ConfigError(f"sm2_backend: {exc}") from None
    return settings


def _retries(raw: Any, source: Path) -> dict[str, tuple[float, ...]]:
    """``retries: {mail: [5, 30], ledger: []}`` → delays in seconds per step (checked here, names by batch)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: `retries` must map a step name to a list of seconds")
    out: dict[str, tuple[float, ...]] = {}
    for step, delays in raw.items():
        items = delays if isinstance(delays, list) else None
        if items is None or not all(isinstance(d, int | float) and not isinstance(d, bool) and d >= 0 for d in items):
            raise ConfigError(f"{source}: retries.{step} must be a list of seconds ≥ 0, e.g. [5, 30]")
        out[str(step)] = tuple(float(d) for d in items)
    return out


def prepare_prefect_env(settings: Settings) -> None:
    """Give each home its own ephemeral Prefect database unless the user configured a Prefect server.

    Must run before Prefect is imported (Prefect reads its settings at import time).
    """
    if "PREFECT_API_URL" not in os.environ:
        os.environ.setdefault("PREFECT_HOME", str(settings.home / "prefect"))
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
