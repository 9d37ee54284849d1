-- The steward's last decision recorded by one DAG run (the run note, supervision_airflow.run_notes).
SELECT decision, decided_by, decided_at
FROM steward_approvals
WHERE report_month = :m AND run_id = :run
ORDER BY decided_at DESC
