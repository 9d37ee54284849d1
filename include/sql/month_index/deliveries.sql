-- The month index: delivery ledger rows per month and status (sending | sent | failed | unknown).
SELECT report_month, status, COUNT(*) AS n
FROM delivery_ledger
GROUP BY report_month, status
ORDER BY report_month, status
