-- The month index: every steward decision, oldest first (the last one of a month is current).
SELECT report_month, run_id, decision, decided_by, decided_at, note
FROM steward_approvals
ORDER BY report_month, decided_at
