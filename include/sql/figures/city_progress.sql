-- Per-city progress of data month report_month (SPEC §3), as exact integer counts and sums.
-- A plan community counts only through its one valid matched record ("counted record"); a
-- missing or DATA_INVALID community contributes nothing. Rates and the score are derived from
-- these integers (supervision.figures), so they are exact and identical on every database.
-- Parameters: programme_year, report_month, month_start, month_end (ISO dates).
WITH counted AS (
    SELECT r.plan_key, r.status, r.start_date, r.finish_date, r.planned_invest_yuan,
           r.done_invest_yuan, r.review_status, r.reported_date
    FROM monthly_records r
    WHERE r.report_month = :report_month AND r.is_valid AND r.plan_key IS NOT NULL
),
community AS (
    SELECT p.city,
           p.households,
           CASE WHEN c.status IN ('已开工', '已完工') AND c.start_date <= :month_end
                THEN 1 ELSE 0 END AS started,
           CASE WHEN c.status = '已完工' AND c.finish_date <= :month_end
                THEN 1 ELSE 0 END AS finished,
           CASE WHEN c.review_status = '已审核'
                 AND ((c.reported_date >= :month_start AND c.reported_date <= :month_end)
                      OR (c.status = '已完工' AND c.reported_date < :month_start))
                THEN 1 ELSE 0 END AS timely,
           COALESCE(c.planned_invest_yuan, 0) AS planned_invest_yuan,
           COALESCE(c.done_invest_yuan, 0) AS done_invest_yuan
    FROM plan_communities p
    LEFT JOIN counted c ON c.plan_key = p.plan_key
    WHERE p.programme_year = :programme_year
)
SELECT t.city,
       t.city_order,
       t.target_count,
       COUNT(m.city)                                        AS plan_count,
       COALESCE(SUM(m.households), 0)                       AS plan_households,
       COALESCE(SUM(m.started), 0)                          AS started_count,
       COALESCE(SUM(m.started * COALESCE(m.households, 0)), 0) AS started_households,
       COALESCE(SUM(m.finished), 0)                         AS finished_count,
       COALESCE(SUM(m.planned_invest_yuan), 0)              AS planned_invest_yuan,
       COALESCE(SUM(m.done_invest_yuan), 0)                 AS done_invest_yuan,
       COALESCE(SUM(m.timely), 0)                           AS timely_count
FROM targets t
LEFT JOIN community m ON m.city = t.city
WHERE t.programme_year = :programme_year
GROUP BY t.city, t.city_order, t.target_count
ORDER BY t.city_order
