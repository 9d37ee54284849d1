-- The month index: quality findings per month and severity (blocking | warning).
SELECT report_month, severity, COUNT(*) AS n
FROM quality_findings
GROUP BY report_month, severity
ORDER BY report_month, severity
