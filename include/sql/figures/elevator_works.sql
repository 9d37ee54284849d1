-- N11: communities with elevator installation (加装电梯) under way: a record matched to a plan
-- community whose 加装电梯(部) is above 0 and whose status in the snapshot is 已开工 (started, not
-- completed). Records failing a blocking quality rule are listed too, flagged: a building site
-- stays under quality-and-safety supervision whatever its data errors.
-- Parameters: programme_year, report_month.
SELECT t.city_order, p.city, p.county, p.name, p.plan_key, r.project_id, r.is_valid,
       r.elevators, r.status, r.start_date, r.planned_invest_yuan, r.done_invest_yuan,
       r.impl_officer, r.impl_phone, r.sup_officer, r.sup_phone
FROM monthly_records r
JOIN plan_communities p ON p.programme_year = :programme_year AND p.plan_key = r.plan_key
JOIN targets t ON t.programme_year = p.programme_year AND t.city = p.city
WHERE r.report_month = :report_month AND r.elevators > 0 AND r.status = '已开工'
-- in export order: SQLite then reads the records through (report_month, source_row), the order
-- they are stored in, not plan_key order (random pages: superlinear once the month outgrows the cache)
ORDER BY r.source_row
