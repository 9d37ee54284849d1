-- The population of the N8 spot-check sample: the month's counted records (valid, matched to a
-- plan community of the programme year), one per community, with the 项目编号 the sample key is
-- computed from (supervision.spot_check draws the sample; docs/figures.md says how to redraw it).
-- Parameters: programme_year, report_month.
SELECT t.city, t.city_order, r.project_id, p.plan_key
FROM monthly_records r
JOIN plan_communities p ON p.programme_year = :programme_year AND p.plan_key = r.plan_key
JOIN targets t ON t.programme_year = p.programme_year AND t.city = p.city
WHERE r.report_month = :report_month AND r.is_valid AND r.project_id IS NOT NULL
-- in export order: SQLite then reads the records through (report_month, source_row), the order
-- they are stored in, not plan_key order (random pages: superlinear once the month outgrows the cache)
ORDER BY r.source_row
