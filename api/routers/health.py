"""``GET /healthz`` (the process is up), ``GET /readyz`` (graph and index loaded, state reachable and writable),
``GET /metrics`` (Prometheus).

They need no key, so probes and scrapers can call them: do not publish the metrics port beyond the deployment.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from api.deps import RuntimeDep
from api.metrics import CONTENT_TYPE_LATEST
from api.models import Health

router = APIRouter(tags=["operations"])


# HEAD answers as GET does, without the body (ServiceMiddleware drops it), for probes that read only the status.
@router.head("/healthz", response_model=Health, include_in_schema=False)
@router.get("/healthz", response_model=Health, summary="Liveness")
def healthz() -> dict[str, Any]:
    """Always ok while the process serves requests."""
    return {"status": "ok"}


@router.head("/readyz", response_model=Health, include_in_schema=False)
@router.get("/readyz", response_model=Health, responses={503: {"model": Health}}, summary="Readiness")
def readyz(runtime: RuntimeDep) -> Any:
    """Ok once the graph, the index and the store are loaded and the shared state answers now (PostgreSQL, Redis;
    SQLite state: the data home can be written); 503 with the reason's category otherwise (the error itself, which
    may name paths or hosts, is in the server log)."""
    down = runtime.readiness()
    if down is not None:
        body = {"status": "unavailable", "detail": down, "index_version": None}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    return {"status": "ok", "index_version": runtime.loaded_version}  # the version served, not one still loading


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
def metrics(runtime: RuntimeDep) -> Response:
    """Request counts and latencies by route, chat turns by mode and route, rate-limit refusals, readiness (as
    ``/readyz`` finds it now)."""
    runtime.readiness()
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
