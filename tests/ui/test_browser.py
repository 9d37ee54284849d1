"""The steward's month in a real browser: Playwright driving Debian's chromium (never
Playwright's own download) against the native deployment topology (tests/deploy/native_stack.py:
PostgreSQL, api-server with the FAB auth manager, scheduler, dag-processor, triggerer).

Signs in on Airflow's login page, opens the month's approval request (the link the request
itself carries), clicks its quality-report link and sees the report, approves, and then sees
the month in the plugin's index as approved and sent; the run carries its data month and the
decision as its note. Slow (a few minutes); marked ``integration``.
"""
from __future__ import annotations

import re
import shutil

import pytest

from tests.deploy.native_stack import ADMIN, NativeStack, StackError, poll, steward_request_ready

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.airflow]

DAG_ID = "renovation_supervision_monthly"
RUN_ID = "browser__2020-06"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def stack(postgres_server, sample_landing, tmp_path_factory):
    s = NativeStack(postgres_server, tmp_path_factory.mktemp("browser"), sample_landing)
    try:
        s.start(timeout=240)
        api = s.api()
        poll("the DAG to be parsed", lambda: (api.get(f"/dags/{DAG_ID}").status_code == 200, None),
              180, s)
        r = api.post(f"/dags/{DAG_ID}/dagRuns", json={
            "dag_run_id": RUN_ID, "logical_date": "2020-07-02T01:00:00Z",
            "data_interval_start": "2020-05-31T16:00:00Z", "data_interval_end": "2020-06-30T16:00:00Z",
            "conf": {"report_month": "2020-06", "inputs_dir": str(sample_landing),
                     "output_dir": str(s.output)}})
        assert r.status_code == 200, r.text
        assert api.patch(f"/dags/{DAG_ID}", json={"is_paused": False}).status_code == 200
    except BaseException as exc:
        diagnostics = s.diagnostics()
        s.stop()
        raise StackError(f"{exc}\n\n{diagnostics}") from exc
    try:
        yield s
    finally:
        s.stop()


def test_the_steward_reads_the_report_from_the_request_approves_and_sees_the_month_sent(stack, browser):
    api = stack.api()
    hitl_url = f"/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/steward_approval/-1/hitlDetails"
    # the request may be answered once the scheduler has seen the task pause (issue 18)
    waiting = steward_request_ready(stack, api, DAG_ID, RUN_ID)

    try:
        hitl = poll("the approval request", waiting, 420, stack, interval=3)
        run = api.get(f"/dags/{DAG_ID}/dagRuns/{RUN_ID}").json()
        assert (run.get("note") or "").startswith("数据月 2020-06 · 快照 "), run.get("note")
        body = hitl["body"]
        links = dict(re.findall(r"\[([^\]]+)\]\((https?://[^)]+)\)", body))
        assert links["quality_report.html"].startswith(f"{stack.base_url}/supervision/months/2020-06/")
        assert "阻断" in body and "警告" in body
        approval_page = links["批准或驳回"]

        context = browser.new_context(timezone_id="Asia/Shanghai", locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(60_000)
        # signed out, the month's report is not shown: the browser lands on the login page
        page.goto(links["quality_report.html"])
        assert "/login" in page.url and "数据质量报告" not in page.content()
        page.fill("input[name=username]", ADMIN[0])
        page.fill("input[name=password]", ADMIN[1])
        page.locator("input[type=submit], button[type=submit]").first.click()
        page.wait_for_load_state("networkidle")
        assert any(c["name"] == "_token" for c in context.cookies()), "no session cookie after login"

        # the approval request, as the mail and the Required actions page link it
        page.goto(approval_page)
        report_link = page.locator("a", has_text="quality_report.html").first
        report_link.wait_for()
        assert report_link.get_attribute("href") == links["quality_report.html"]
        try:
            with context.expect_page(timeout=10_000) as opened:
                report_link.click()
            report = opened.value
        except Exception:  # noqa: BLE001 - the UI opened it in the same tab
            report = page
        report.wait_for_load_state()
        assert "数据质量报告" in report.locator("h1").first.inner_text()
        if report is not page:
            report.close()
        else:
            page.goto(approval_page)

        # Approve is the primary (filled) action; Reject is not
        approve = page.get_by_test_id("hitl-option-Approve")
        approve.wait_for()
        reject = page.get_by_test_id("hitl-option-Reject")
        assert reject.is_visible()
        background = "e => getComputedStyle(e).backgroundColor"
        assert approve.evaluate(background) != reject.evaluate(background), \
            "Approve should be the filled (primary) button, Reject not"
        approve.click()

        def finished():
            r = api.get(f"/dags/{DAG_ID}/dagRuns/{RUN_ID}").json()
            return r.get("state") in ("success", "failed"), r

        run = poll("the run to finish", finished, 240, stack)
        assert run["state"] == "success", stack.diagnostics()
        assert api.get(hitl_url).json()["chosen_options"] == ["Approve"]

        page.goto(f"{stack.base_url}/supervision/")
        row = page.locator('tr[data-month="2020-06"]')
        assert "已批准" in row.locator(".decision").inner_text()
        assert re.search(r"已发送 \d+", row.locator(".deliveries").inner_text())

        def noted():
            r = api.get(f"/dags/{DAG_ID}/dagRuns/{RUN_ID}").json()
            return "已批准" in (r.get("note") or ""), r.get("note")

        note = poll("the decision on the run note", noted, 30, stack)
        assert "admin" in note and "已发送" in note
        ti = api.get(f"/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/steward_approval").json()
        assert (ti.get("note") or "").startswith("数据月 2020-06 · 已批准（admin，"), ti.get("note")

        # the run's "月份文件" tab (external view with {DAG_ID}/{RUN_ID}) leads to its month
        page.goto(f"{stack.base_url}/supervision/runs/{DAG_ID}/{RUN_ID}")
        assert page.url.endswith("/supervision/months/2020-06/")
        assert page.locator("#files a", has_text="monthly_bulletin.pdf").count() == 1
        context.close()
    except BaseException as exc:
        if isinstance(exc, StackError):
            raise
        raise AssertionError(f"{exc}\n\n{stack.diagnostics()}") from exc
