"""`GET /metrics`: the Prometheus text, behind the admin login unless the operator opened it.

Prometheus sends the admin's credentials with `basic_auth` in its scrape config
(deploy/prometheus/prometheus.yml); `FLOWHOST_METRICS_PUBLIC=true` serves it to anyone who can
reach the gateway, for a scraper on a private network that cannot hold a password.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.api.deps import require_admin, running

router = APIRouter(tags=["status"])


@router.get(
    "/metrics",
    summary="Prometheus metrics of the gateway and its executors",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
        401: {"description": "Admin credentials missing or wrong (unless FLOWHOST_METRICS_PUBLIC)"},
    },
)
async def metrics(request: Request) -> Response:
    gateway = running(request)  # 503 not_running while it starts or stops
    if not gateway.settings.metrics_public:
        require_admin(request, "metrics")
    return Response(await gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)
