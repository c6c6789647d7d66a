"""Operator endpoints: `/healthz` (JSON, 200 or 503 with the reason) and `/metrics`
(Prometheus text), plus a middleware timing every request into the metrics registry."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from aggregator import storage
from aggregator.metrics import Metrics
from aggregator.storage import Database

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_ops_routes(
    app: web.Application,
    *,
    db: Database,
    metrics: Metrics,
    tick_interval_s: float,
    expect_scheduler: bool = True,
) -> None:
    """Add /healthz and /metrics to ``app`` (before it starts) and time every request."""

    async def healthz(request: web.Request) -> web.Response:
        now = datetime.now(UTC)
        checks: dict[str, object] = {}
        reasons: list[str] = []
        try:
            await db.ping()
            checks["database"] = "ok"
        except Exception as exc:
            metrics.database_errors.inc()
            checks["database"] = "unreachable"
            reasons.append(f"database unreachable: {type(exc).__name__}")
        if checks["database"] == "ok":
            last = await storage.last_tick(db)
            checks["last_tick"] = last.isoformat() if last else None
            limit = timedelta(seconds=max(3 * tick_interval_s, 90))
            if expect_scheduler and (last is None or now - last > limit):
                reasons.append(
                    "no scheduler tick since "
                    + (last.isoformat() if last else "start-up")
                    + f" (expected every {tick_interval_s:g} s)"
                )
        body = {"status": "ok" if not reasons else "unhealthy", "checks": checks}
        if reasons:
            body["reason"] = "; ".join(reasons)
        return web.json_response(
            body, status=200 if not reasons else 503, headers={"Cache-Control": "no-store"}
        )

    async def metrics_view(request: web.Request) -> web.Response:
        return web.Response(
            body=metrics.render(),
            headers={
                "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
                "Cache-Control": "no-store",
            },
        )

    @web.middleware
    async def timing(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = request.match_info.route.resource
            name = route.canonical if route is not None else "unmatched"
            metrics.web_seconds.labels(name, request.method, str(status)).observe(
                time.perf_counter() - started
            )

    app.middlewares.insert(0, timing)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
