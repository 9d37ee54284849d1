-- The recent pace behind the early warning: per target city, the counted records (valid and
-- matched to a plan community) whose status is 已开工/已完工 and whose 开工日期 lies in the window
-- (window_after, month_end]. The window lies inside the month's own snapshot (its 开工日期
-- column), so the pace needs no other month's data and a rerun or backfill gives the same pace.
-- Parameters: programme_year, report_month, window_after, month_end (ISO dates).
SELECT t.city,
       t.city_order,
       COALESCE(SUM(CASE WHEN r.status IN ('已开工', '已完工')
                          AND r.start_date > :window_after AND r.start_date <= :month_end
                         THEN 1 ELSE 0 END), 0) AS started_in_window
FROM targets t
LEFT JOIN plan_communities p
       ON p.programme_year = t.programme_year AND p.city = t.city
LEFT JOIN monthly_records r
       ON r.report_month = :report_month AND r.plan_key = p.plan_key AND r.is_valid
WHERE t.programme_year = :programme_year
GROUP BY t.city, t.city_order
ORDER BY t.city_order
