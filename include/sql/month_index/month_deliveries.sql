-- Delivery ledger rows of one month by status (the run note, supervision_airflow.run_notes).
SELECT status, COUNT(*) AS n
FROM delivery_ledger
WHERE report_month = :m
GROUP BY status
