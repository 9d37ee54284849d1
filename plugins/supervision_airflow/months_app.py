"""The month folders in the Airflow UI: a FastAPI app the api-server mounts at ``/supervision``
(registered by ``plugins/supervision_ui.py``), read-only, behind Airflow's own authentication.

URL layout (under the api-server's base URL)::

    /supervision/                               index of the months (HTML; ?format=json: JSON)
    /supervision/months/{YYYY-MM}/              one month: decision, deliveries, its files
    /supervision/months/{YYYY-MM}/{path}        a file: html/pdf/json inline, csv/xlsx download
    /supervision/runs/{dag_id}/{run_id}         the month of a DAG run (the run's "月份文件" tab)

Authentication and authorization are the api-server's own dependencies
(``airflow.api_fastapi.core_api.security``): ``get_user`` takes the bearer token or, for a link
opened in a browser tab, the UI's ``_token`` session cookie; ``requires_access_dag("GET")`` lets
in whoever may read the monthly DAG. Without a valid token: 401 (a browser asking for HTML is
redirected to the login page, and comes back). Paths are checked by
:func:`supervision.month_index.resolve` (no ``..``, encoded or not; no absolute paths; nothing
whose real path, symlinks followed, leaves the month folder).
"""
from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from airflow.api_fastapi.core_api.security import requires_access_dag

log = logging.getLogger(__name__)

URL_PREFIX = "/supervision"
DAG_ID = "renovation_supervision_monthly"


def output_dir() -> Path:
    from supervision import paths  # noqa: PLC0415

    return paths.default_output_dir()


def _engine():
    from supervision import warehouse as wh  # noqa: PLC0415

    try:
        return wh.connect()
    except Exception as exc:  # noqa: BLE001 - the index still lists the folders
        log.warning("month index: no warehouse (%s)", exc)
        return None


def _base(request: Request) -> str:
    """This app's own absolute path prefix (behind a base URL with a path, too)."""
    return str(request.url_for("index")).rstrip("/")


def _entry(month: str):
    from supervision import month_index  # noqa: PLC0415

    for e in month_index.index(output_dir(), _engine()):
        if e.month == month:
            return e
    raise HTTPException(404, f"no published month {month}")


app = FastAPI(title="Renovation supervision: month folders", docs_url=None, redoc_url=None,
              openapi_url=None, dependencies=[Depends(requires_access_dag("GET", param_dag_id=DAG_ID))])


@app.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> Response:
    """A browser without a session is sent to Airflow's login page (and back); an API client
    gets the status itself."""
    if exc.status_code == 401 and "text/html" in request.headers.get("accept", ""):
        from airflow.api_fastapi.app import get_auth_manager  # noqa: PLC0415

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), 302)
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


@app.get("/", name="index")
def index(request: Request, format: str = "html"):  # noqa: A002 - the query parameter's name
    from supervision import month_index  # noqa: PLC0415

    entries = month_index.index(output_dir(), _engine())
    if format == "json":
        return {"months": [e.as_dict() for e in entries]}
    return HTMLResponse(month_index.render_index(entries, _base(request)))


@app.get("/months/{month}/")
def month_page(request: Request, month: str, format: str = "html"):  # noqa: A002
    from supervision import month_index  # noqa: PLC0415

    try:
        month_files = month_index.files(output_dir(), month)
    except month_index.NotServed as exc:
        raise HTTPException(exc.status, str(exc)) from None
    entry = _entry(month)
    if format == "json":
        return {**entry.as_dict(), "files": month_files}
    return HTMLResponse(month_index.render_month(entry, month_files, _base(request)))


@app.get("/months/{month}/{path:path}")
def month_file(month: str, path: str):
    from supervision import month_index  # noqa: PLC0415

    try:
        real = month_index.resolve(output_dir(), month, path)
    except month_index.NotServed as exc:
        raise HTTPException(exc.status, str(exc)) from None
    if real.is_dir():
        raise HTTPException(404, f"{month}/{path}: not a file")
    kind, inline = month_index.media_type(real)
    return FileResponse(real, media_type=kind, filename=real.name,
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@app.get("/runs/{dag_id}/{run_id}")
def run_month(request: Request, dag_id: str, run_id: str):
    """The month folder of a DAG run: its conf's ``report_month``, else its data interval's."""
    from airflow.models.dagrun import DagRun  # noqa: PLC0415
    from airflow.utils.session import create_session  # noqa: PLC0415

    from supervision_airflow.run_notes import run_month as month_of  # noqa: PLC0415

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one_or_none()
        month = month_of(run.conf, run.data_interval_start) if run is not None else None
    if month is None:
        raise HTTPException(404, f"no data month for run {dag_id}/{run_id}")
    return RedirectResponse(f"{_base(request)}/months/{month}/", 302)
