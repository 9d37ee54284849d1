-- The recent pace behind the early warning: per target city, the counted records (valid and
-- matched to a plan community) whose status is 已开工/已完工 and whose 开工日期 lies in the window
-- (window_after, month_end]. The window lies inside the month's own snapshot (its 开工日期
-- column), so the pace needs no other month's data and a rerun or backfill gives the same pace.
-- Parameters: programme_year, report_month, window_after, month_end (ISO dates).
SELECT t.city,
       t.city_order,
       COALESCE(w.started_in_window, 0) AS started_in_window
FROM targets t
LEFT JOIN (
    SELECT p.city, COUNT(*) AS started_in_window
    FROM plan_communities p
    JOIN monthly_records r
      ON r.report_month = :report_month AND r.plan_key = p.plan_key AND r.is_valid
    WHERE p.programme_year = :programme_year
      AND r.source_row > 0   -- always true; records read in stored order (overdue_items.sql)
      AND r.status IN ('已开工', '已完工')
      AND r.start_date > :window_after AND r.start_date <= :month_end
    GROUP BY p.city
) w ON w.city = t.city
WHERE t.programme_year = :programme_year
ORDER BY t.city_order
