"""The month folders through the api-server (the plugin's FastAPI app mounted by Airflow's own
app factory): anonymous requests refused, traversal refused, files served with the UI's session
cookie, and every link of the steward's approval request resolving to a file of the month."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

MONTH = "2020-06"


@pytest.fixture(scope="module")
def published(rendered_june, tmp_path_factory):
    """The rendered month under an output folder of its own, plus a secret beside it and a
    symlink from inside the month to it."""
    return rendered_june.output_dir


@pytest.fixture(scope="module")
def client(airflow_db, published):
    from fastapi.testclient import TestClient

    os.environ["SUPERVISION_OUTPUT_DIR"] = str(published)
    os.environ["SUPERVISION_WAREHOUSE_URL"] = f"sqlite:///{published / 'render.db'}"  # rendered_june's
    (published.parent / "secret.txt").write_text("not for the browser", "utf-8")
    link = published / MONTH / "escape.txt"
    if not link.is_symlink():
        link.symlink_to(published.parent / "secret.txt")
    from airflow.api_fastapi.app import create_app, purge_cached_app

    purge_cached_app()
    app = create_app()
    with TestClient(app, base_url="http://testserver") as c:
        yield c
    link.unlink()
    os.environ.pop("SUPERVISION_OUTPUT_DIR", None)
    os.environ.pop("SUPERVISION_WAREHOUSE_URL", None)


@pytest.fixture(scope="module")
def token(client):
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="steward", role="admin"))


def test_anonymous_requests_are_refused(client):
    for path in ("/supervision/", f"/supervision/months/{MONTH}/",
                 f"/supervision/months/{MONTH}/quality_report.html",
                 f"/supervision/months/{MONTH}/ranking.csv"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 401, (path, r.status_code)
        assert "质量" not in r.text
    # a browser is sent to the login page, and back afterwards
    r = client.get(f"/supervision/months/{MONTH}/quality_report.html",
                   headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 302 and "login" in r.headers["location"]
    assert "quality_report.html" in r.headers["location"]
    # a forged token is no better
    client.cookies.set("_token", "forged.token.value")
    try:
        r = client.get(f"/supervision/months/{MONTH}/quality_report.html")
        assert r.status_code in (401, 403)
    finally:
        client.cookies.clear()


def test_the_session_cookie_opens_the_index_the_month_and_its_files(client, token, published):
    client.cookies.set("_token", token)
    try:
        r = client.get("/supervision/")
        assert r.status_code == 200 and f'data-month="{MONTH}"' in r.text
        months = client.get("/supervision/?format=json").json()["months"]
        june = next(m for m in months if m["month"] == MONTH)
        assert june["snapshot"] and june["rows"]["rows_read"] > 0
        assert set(june["findings"]) <= {"blocking", "warning"}
        r = client.get(f"/supervision/months/{MONTH}/")
        assert r.status_code == 200 and "quality_report.html" in r.text and "manifest.json" in r.text
        report = client.get(f"/supervision/months/{MONTH}/quality_report.html")
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert report.content == (published / MONTH / "quality_report.html").read_bytes()
        pdf = client.get(f"/supervision/months/{MONTH}/monthly_bulletin.pdf")
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content[:4] == b"%PDF"
        assert pdf.headers["content-disposition"].startswith("inline")
        csv = client.get(f"/supervision/months/{MONTH}/ranking.csv")
        assert csv.headers["content-disposition"].startswith("attachment")
        xlsx = client.get(f"/supervision/months/{MONTH}/ranking.xlsx")
        assert xlsx.headers["content-disposition"].startswith("attachment") and xlsx.content[:2] == b"PK"
        manifest = client.get(f"/supervision/months/{MONTH}/manifest.json").json()
        assert manifest["inputs"]["report_month"] == MONTH
        # a bearer token works as well (API clients)
    finally:
        client.cookies.clear()
    r = client.get("/supervision/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


@pytest.mark.parametrize("path", [
    f"/supervision/months/{MONTH}/../secret.txt",
    f"/supervision/months/{MONTH}/%2e%2e/secret.txt",
    f"/supervision/months/{MONTH}/%2E%2E%2Fsecret.txt",
    f"/supervision/months/{MONTH}/..%2fsecret.txt",
    f"/supervision/months/{MONTH}/%252e%252e/secret.txt",
    f"/supervision/months/{MONTH}/..%5csecret.txt",
    f"/supervision/months/{MONTH}//etc/passwd",
    f"/supervision/months/{MONTH}/%2fetc%2fpasswd",
    f"/supervision/months/{MONTH}/escape.txt",
    "/supervision/months/..%2f..%2fetc/passwd",
    "/supervision/months/.staging/x",
    f"/supervision/months/{MONTH}/notices/../../secret.txt",
])
def test_traversal_is_refused(client, token, path):
    """Sent raw (httpx would normalise ``..``): refused, and never the secret."""
    import httpx

    client.cookies.set("_token", token)
    try:
        request = client.build_request("GET", "http://testserver/")
        request.url = httpx.URL("http://testserver/").copy_with(raw_path=path.encode())
        r = client.send(request)
    finally:
        client.cookies.clear()
    assert r.status_code in (400, 403, 404), (path, r.status_code)
    assert "not for the browser" not in r.text
    assert "root:" not in r.text


def test_the_links_of_the_approval_request_resolve(client, token, rendered_june):
    from supervision import approvals

    base = "http://testserver"
    text = approvals.request_text(rendered_june, {"rows_read": 1, "rows_accepted": 1,
                                                  "rows_quarantined": 0, "findings": 3,
                                                  "findings_blocking": 1, "findings_warning": 2},
                                  None, f"{base}/dags/x/runs/y/tasks/steward_approval/required_actions",
                                  base)
    links = re.findall(r"\]\((http[^)]+)\)", text)
    served = [u for u in links if "/supervision/" in u]
    assert len(served) == 4, text        # quality report, bulletin, month folder, index
    assert "阻断 1 项" in text and "警告 2 项" in text
    client.cookies.set("_token", token)
    try:
        for url in served:
            r = client.get(url.removeprefix(base))
            assert r.status_code == 200, (url, r.status_code)
    finally:
        client.cookies.clear()
    html = approvals.request_html(text)
    assert f'href="{base}/supervision/months/{MONTH}/quality_report.html"' in html


def test_the_plugin_is_registered_with_the_api_server_the_menu_and_the_run_views(client, token):
    r = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    [plugin] = [p for p in r.json()["plugins"] if p["name"] == "supervision_ui"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/supervision"]
    views = {v["destination"]: v for v in plugin["external_views"]}
    assert views["nav"]["href"] == "/supervision/"
    assert views["dag_run"]["href"] == "/supervision/runs/{DAG_ID}/{RUN_ID}"
    assert any("run_notes" in name for name in plugin["listeners"])


def test_a_run_tab_of_an_unknown_run_is_not_found(client, token):
    r = client.get("/supervision/runs/renovation_supervision_monthly/no_such_run",
                   headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)
    assert r.status_code == 404
    assert client.get("/supervision/runs/renovation_supervision_monthly/no_such_run",
                      follow_redirects=False).status_code == 401
