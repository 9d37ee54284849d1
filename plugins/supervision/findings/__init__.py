"""N8, second half: the inspectors' findings of a month's spot-check sample, compared with what
the month's counted records reported, and falsification circulated (通报).

- :mod:`.reader` reads ``spot_checks/<YYYY-MM>.xlsx`` of the landing area (the month's
  ``spot_checks.xlsx`` returned with the 核实 columns filled in) with the alias-driven readers,
  and refuses, naming file, row and column, what cannot be a finding of that month's sample;
- :mod:`.compare` gives every sampled record its 结论 (the codes below);
- :mod:`.bulletin` renders the falsification bulletin (GB/T 9704 family of the other documents);
- :mod:`.stage` runs it for one month: files under ``<output>/<M>/spot_checks/``, the warehouse
  (``spot_check_findings``, ``spot_check_findings_loads``) and the bulletin's delivery through the
  same ledger as every other publication (document ``falsification_bulletin``).

The month's published figures are never changed by findings: they stay what was reported; the
bulletin says so, and the cities correct the data in the system, so it shows in later months.
"""
from __future__ import annotations

CONSISTENT = "CONSISTENT"
STATUS_FALSIFIED = "STATUS_FALSIFIED"
INVESTMENT_OVERSTATED = "INVESTMENT_OVERSTATED"
NOT_CHECKED = "NOT_CHECKED"
CONCLUSIONS = (CONSISTENT, STATUS_FALSIFIED, INVESTMENT_OVERSTATED, NOT_CHECKED)
#: the conclusions circulated as 弄虚作假
FALSIFIED = (STATUS_FALSIFIED, INVESTMENT_OVERSTATED)
CONCLUSION_LABELS = {CONSISTENT: "与报送一致", STATUS_FALSIFIED: "改造状态不实",
                     INVESTMENT_OVERSTATED: "完成投资虚报", NOT_CHECKED: "未核查"}
#: the ledger's document name of the falsification bulletin
DOCUMENT = "falsification_bulletin"
