"""``cert-intake deploy``: the flows as deployments on a Prefect server, for workers on several hosts.

Creates the process work pool (if missing) and four deployments whose entrypoints are module paths of
the installed ``pipeline`` package (every worker host installs the same version; nothing is pulled):

* ``process_case/process-case`` — one case, started by ``dispatch`` for each pending case;
* ``dispatch/dispatch`` — the scheduled run (cron ``schedules.batch``): intake, fan out, CRL, ledger;
* ``revocations/revocations`` — daily (cron ``schedules.revocations``);
* ``intake/intake`` — ingest only, on demand (e.g. a mounted CD/USB: parameter ``media``).

Workers: ``prefect worker start --pool cert-intake --type process`` with ``PREFECT_API_URL`` and the same
``CERT_INTAKE_HOME`` (its blobs/ and outputs/ on shared storage, its database_url on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pipeline.config import Settings
from pipeline.serve import schedule_args

log = logging.getLogger("cert_intake")


async def _ensure_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    async with get_client() as client:
        try:
            await client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            log.info("work pool %s created", name)
        except ObjectAlreadyExists:
            pass


def deploy(settings: Settings, pool: str = "cert-intake", schedule: bool = True) -> dict[str, str]:
    from prefect.deployments.runner import EntrypointType

    from pipeline.flows import dispatch, intake, process_case, revocations

    asyncio.run(_ensure_pool(pool))
    home = str(settings.home)
    common: dict[str, Any] = {
        "work_pool_name": pool,
        "build": False,
        "push": False,
        "entrypoint_type": EntrypointType.MODULE_PATH,
        "print_next_steps": False,
    }
    ids = {
        "process-case": process_case.deploy(name="process-case", parameters={"home": home}, **common),
        "intake": intake.deploy(name="intake", parameters={"home": home}, **common),
        "dispatch": dispatch.deploy(
            name="dispatch",
            parameters={"home": home},
            **(schedule_args(settings.schedules["batch"]) if schedule else {}),
            **common,
        ),
        "revocations": revocations.deploy(
            name="revocations",
            parameters={"home": home},
            **(schedule_args(settings.schedules["revocations"]) if schedule else {}),
            **common,
        ),
    }
    return {k: str(v) for k, v in ids.items()}
