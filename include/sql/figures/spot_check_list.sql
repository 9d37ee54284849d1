-- The drawn spot-check sample of report_month with what the record reports, for the inspectors
-- who verify it on site (N8). Ordered by the caller (administrative order, then draw).
-- Parameters: programme_year, report_month.
SELECT s.city, s.city_order, s.draw, s.population, s.sample_size, s.sample_key, s.project_id,
       p.county, p.name, p.plan_key, r.status, r.start_date, r.finish_date,
       r.planned_invest_yuan, r.done_invest_yuan, r.elevators, r.review_status, r.reported_date,
       r.impl_officer, r.impl_phone, r.sup_officer, r.sup_phone
FROM spot_checks s
JOIN plan_communities p ON p.programme_year = :programme_year AND p.plan_key = s.plan_key
JOIN monthly_records r ON r.report_month = s.report_month AND r.plan_key = s.plan_key
     AND r.project_id = s.project_id AND r.is_valid
WHERE s.report_month = :report_month
