"""``cert-intake serve``: the review web app on one machine (uvicorn), stopped cleanly by SIGTERM."""

from __future__ import annotations

import logging

from pipeline.config import Settings

log = logging.getLogger("cert_intake")


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080, review_only: bool = False) -> int:
    import uvicorn

    from pipeline.review.web import create_app
    from pipeline.stages import Context

    ctx = Context(settings)
    ctx.store.migrate()
    app = create_app(ctx)
    log.info("review app on http://%s:%d (review_only=%s)", host, port, review_only)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()  # handles SIGTERM
    app.state.pool.shutdown(wait=True)
    return 0
