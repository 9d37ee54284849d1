-- The month index (plugin supervision_months): which snapshot each month was computed from.
SELECT report_month, kind, snapshot_file, snapshot_date, rows_read, rows_accepted, rows_quarantined
FROM month_loads
ORDER BY report_month
