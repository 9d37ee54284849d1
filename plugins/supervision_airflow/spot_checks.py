"""The Airflow side of N8: the province's sample secret, and the findings DAG's landing watch,
approval and sending (``dags/renovation_spot_check_findings.py``). Nothing heavy at module top.

* The sample secret: the Airflow Variable ``supervision_spot_check_secret`` (or any secrets
  backend behind Variables), exported to the domain package as ``SUPERVISION_SPOT_CHECK_SECRET``
  for the figures task; an already-set environment variable wins. Never in the repository.
* The watch: which months' ``spot_checks/<YYYY-MM>.xlsx`` are new or changed since processed.
* The approval: :class:`FindingsApprovalOperator` is the monthly DAG's steward approval (same
  human-in-the-loop operator, notifier, timeout and record in ``steward_approvals``) with the
  findings note as its request; a month without a falsified record has nothing to circulate and
  asks nothing (recorded ``not_required``).
"""
from __future__ import annotations

import os
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from . import run_settings
from .approval import StewardApprovalOperator

SECRET_VARIABLE = "supervision_spot_check_secret"


def export_sample_secret() -> bool:
    """Put the Variable's secret where the domain package reads it; True when there is one."""
    from supervision.spot_check import SECRET_ENV  # noqa: PLC0415

    if os.environ.get(SECRET_ENV):
        return True
    from airflow.sdk import Variable  # noqa: PLC0415

    try:
        secret = Variable.get(SECRET_VARIABLE, default=None)
    except Exception:  # noqa: BLE001 - no Variable backend reachable: the key is SHA-256 alone
        secret = None
    if secret:
        os.environ[SECRET_ENV] = str(secret)
        return True
    return False


def findings_settings(context: Any):
    """The findings run's settings; its conf must name the data month (no data interval)."""
    from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415

    if not (context["dag_run"].conf or {}).get("report_month"):
        raise AirflowFailException("a findings run needs report_month (YYYY-MM) in its conf: "
                                   "the data month of the sample the findings are for")
    return run_settings(context)


def pending_conf(context: Any) -> list[dict[str, Any]]:
    """One run conf per month whose findings file is new or changed (the watch's poke); the
    watch run's conf may name ``inputs_dir`` / ``output_dir``, else the deployment's defaults."""
    from pathlib import Path  # noqa: PLC0415

    from supervision import paths  # noqa: PLC0415
    from supervision.findings.stage import pending_months  # noqa: PLC0415

    conf = context["dag_run"].conf or {}
    inputs = Path(conf.get("inputs_dir") or paths.default_inputs_dir()).expanduser().resolve()
    output = Path(conf.get("output_dir") or paths.default_output_dir()).expanduser().resolve()
    return [{"report_month": m, "inputs_dir": str(inputs), "output_dir": str(output)}
            for m in pending_months(inputs, paths.default_warehouse_url())]


def run_id_of(conf: dict[str, Any]) -> str:
    """One findings run per (month, file content): a file that stays refused is not re-run."""
    from supervision.findings.reader import findings_files  # noqa: PLC0415
    from supervision.outputs import sha256_file  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    path = findings_files(Path(conf["inputs_dir"]))[conf["report_month"]]
    return f"findings__{conf['report_month']}__{sha256_file(path)[:12]}"


class FindingsApprovalOperator(StewardApprovalOperator):
    """The steward's approval of the falsification bulletin (the monthly DAG's operator; its
    decisions recorded the same way). The request is the month's findings note."""

    def execute(self, context: Any) -> Any:
        from supervision import approvals  # noqa: PLC0415
        from supervision import warehouse as wh  # noqa: PLC0415
        from supervision.findings import stage  # noqa: PLC0415

        s = run_settings(context)
        if not s.send:
            return super().execute(context)       # records not_required, asks nothing
        if not stage.has_bulletin(s):
            d = approvals.not_required(s, context["dag_run"].run_id)
            approvals.record(wh.connect(s.warehouse_url), approvals.Decision(
                d.report_month, d.run_id, d.decision, None, d.decided_at,
                s.month_url("spot_checks/findings_note.md"),
                "no falsified record: no bulletin, nothing to approve or send"))
            self.log.info("%s: no falsified record, no bulletin; no approval asked", s.month)
            return None
        try:
            url = self.generate_link_to_ui_from_context(context=context)
        except ValueError:  # no [api] base_url configured
            url = None
        self.body = stage.note(s) + (f"\n审批页面：{url}\n" if url else "")
        return ApprovalOperator.execute(self, context)


def send(s) -> dict[str, Any]:
    """Deliver the approved bulletin (``findings.stage.send``), failures mapped as the monthly
    send task maps them (retry what may succeed later, fail what needs a person)."""
    from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415

    from supervision.config import ConfigError  # noqa: PLC0415
    from supervision.delivery import DeliveryIncomplete, NotDelivered  # noqa: PLC0415
    from supervision.errors import SupervisionError  # noqa: PLC0415
    from supervision.findings import stage  # noqa: PLC0415

    from .sending import smtp_transport  # noqa: PLC0415

    transport, sender = (None, None)
    if s.send and s.delivery == "smtp" and stage.has_bulletin(s):
        transport, sender = smtp_transport(s)
    try:
        return stage.send(s, transport, sender)
    except (NotDelivered, DeliveryIncomplete) as exc:
        if exc.retryable:
            raise
        raise AirflowFailException(str(exc)) from exc
    except (SupervisionError, ConfigError, ValueError) as exc:
        raise AirflowFailException(str(exc)) from exc
