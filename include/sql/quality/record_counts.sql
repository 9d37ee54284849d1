-- A month's records counted per city and validity: what next month's quality report compares
-- with (rows read, quarantined rows per city), without reading the month's records row by row.
SELECT city, is_valid, COUNT(*) AS n
FROM monthly_records
WHERE report_month = :report_month
GROUP BY city, is_valid
