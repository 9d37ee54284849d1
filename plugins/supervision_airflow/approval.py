"""The data steward's approval: Airflow's human-in-the-loop ``ApprovalOperator``, plus a record.

* The steward is notified (:class:`StewardNotifier`, the operator's HITL notifier) with links to
  the month's quality report and to the approval page, and answers in Airflow (Required actions,
  or the HITL REST API). ``SUPERVISION_STEWARD_EMAIL`` names the steward's addresses.
* Approve: the send task runs. Reject, or no answer within ``response_timeout``: the operator
  skips the send task, so nothing is sent. Reject is the timeout default, applied by this
  operator (the HITL request itself declares no default, so Airflow's page does not make
  Reject its filled primary button; the request's link preselects Approve).
* Every decision is recorded in the warehouse (``steward_approvals``) and logged, so a rejected
  or timed-out month leaves a trace.
* A run that sends nothing (a backfill, or ``send: false``) does not ask: nothing would reach a
  city. It records ``not_required`` and lets the (no-op) send task run.
"""
from __future__ import annotations

import os
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.bases.notifier import BaseNotifier

from . import run_settings

DEFAULT_STEWARD_EMAIL = "data-steward@example.gov.cn"


def steward_addresses() -> list[str]:
    value = os.environ.get("SUPERVISION_STEWARD_EMAIL", "")
    return [a.strip() for a in value.split(",") if a.strip()]


def steward_users() -> list[dict[str, str]] | None:
    """``SUPERVISION_STEWARD_USERS``: Airflow user ids allowed to answer (comma-separated);
    anyone with access to the DAG may answer when unset."""
    ids = [u.strip() for u in os.environ.get("SUPERVISION_STEWARD_USERS", "").split(",") if u.strip()]
    return [{"id": u, "name": u} for u in ids] or None


def preselect(url: str, option: str) -> str:
    """The Required actions link with ``option`` preselected (the page's filled button). The UI
    reads ``_options`` as JSON; the provider's own ``options=`` writes a Python list repr
    (``['Approve']``), which the page ignores, so the parameter is added here."""
    import json  # noqa: PLC0415
    from urllib.parse import quote  # noqa: PLC0415

    sep = "&" if "?" in url else "?"
    return f"{url}{sep}_options={quote(json.dumps([option]))}"


class StewardNotifier(BaseNotifier):
    """Mails the approval request (the operator's rendered subject and body) to the steward."""

    def notify(self, context: Any) -> None:
        from supervision_airflow.sending import notify  # noqa: PLC0415

        task = context["task"]
        s = run_settings(context)
        addresses = steward_addresses()
        if not addresses:
            if s.delivery == "smtp":
                self.log.warning("SUPERVISION_STEWARD_EMAIL is not set: no mail to the steward; the "
                                 "request waits in Airflow's Required actions page")
                return
            addresses = [DEFAULT_STEWARD_EMAIL]
        run_id = context["dag_run"].run_id
        name = "approval_request_" + "".join(c if c.isalnum() else "_" for c in run_id)
        try:
            from supervision.approvals import request_html  # noqa: PLC0415

            body = task.body or ""
            where = notify(s, task.subject, body, addresses, name, html=request_html(body, task.subject))
        except Exception as exc:  # noqa: BLE001 - the request stays answerable in Airflow
            self.log.error("could not notify the steward (%s); the request waits in Airflow's "
                           "Required actions page", exc)
            return
        self.log.info("steward notified: %s", where)


class StewardApprovalOperator(ApprovalOperator):
    """``ApprovalOperator`` that writes the request from the month's results and records every
    decision (approved, rejected, timed_out, not_required) in the warehouse."""

    def execute(self, context: Any) -> Any:
        from supervision import approvals  # noqa: PLC0415
        from supervision import warehouse as wh  # noqa: PLC0415

        s = run_settings(context)
        run_id = context["dag_run"].run_id
        if not s.send:
            approvals.record(wh.connect(s.warehouse_url), approvals.not_required(s, run_id))
            self.log.info("%s: this run sends nothing (backfill or send=false), so no approval "
                             "is asked for; recorded as not_required", s.month)
            return None
        ti = context["ti"]
        quality = ti.xcom_pull(task_ids="quality")
        calendar = ti.xcom_pull(task_ids="check_calendar") or {}
        from . import ui_base_url  # noqa: PLC0415

        base = ui_base_url()
        url = preselect(self.generate_link_to_ui_from_context(context=context, base_url=base),
                        "Approve")
        self.body = approvals.request_text(s, quality, calendar.get("warning"), url, base)
        blocking = (quality or {}).get("findings_blocking")
        self.log.info("%s: approval asked (%s findings: %s blocking); request links %s",
                      s.month, (quality or {}).get("findings"), blocking,
                      s.month_url("quality_report.html", base))
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from supervision import approvals  # noqa: PLC0415
        from supervision import warehouse as wh  # noqa: PLC0415

        s = run_settings(context)
        run_id = context["dag_run"].run_id
        timed_out = bool(event.get("timedout")) or event.get("error_type") == "timeout"
        if event.get("error_type") == "timeout":
            # nobody answered within response_timeout: Reject, the timeout default
            from datetime import datetime, timezone  # noqa: PLC0415

            event = {"chosen_options": ["Reject"], "params_input": {}, "responded_by_user": None,
                     "responded_at": datetime.now(timezone.utc), "timedout": True}
        decision = approvals.from_response(
            s, run_id, event.get("chosen_options") or [], event.get("responded_by_user"),
            event.get("responded_at"), timed_out)
        approvals.record(wh.connect(s.warehouse_url), decision)
        if decision.sends:
            self.log.info("%s approved by %s at %s: the documents are sent", s.month,
                          decision.decided_by, decision.decided_at)
        else:
            self.log.warning("%s: %s%s — nothing will be sent; recorded in steward_approvals",
                             s.month, decision.decision,
                             f" by {decision.decided_by}" if decision.decided_by else "")
        return super().execute_complete(context, event)
