-- Per-city progress of data month report_month (SPEC §3) as exact integer counts and sums, one
-- row per target city (administrative order) and the 全省 row of sums (city_order = last + 1).
-- A plan community counts only through its one valid matched record ("counted record"); a
-- missing or DATA_INVALID community contributes nothing: not started, not completed, not timely,
-- no money. Rates, the score, ranks and the lag rule are derived from these integers with exact
-- fractions (supervision.figures), so they are identical on every database.
-- Parameters: programme_year, report_month, month_start, month_end (ISO dates).
WITH community AS (
    -- each plan community with its counted record, if any (joined directly, not through a
    -- materialized subquery, so the (report_month, plan_key) index is used: linear in rows)
    SELECT p.city,
           p.households,
           -- 累计开工数: status 已开工/已完工 and 开工日期 on or before the last day of the month
           CASE WHEN c.status IN ('已开工', '已完工') AND c.start_date <= :month_end
                THEN 1 ELSE 0 END AS started,
           -- 累计完工数: status 已完工 and 完工日期 within the month or earlier
           CASE WHEN c.status = '已完工' AND c.finish_date <= :month_end
                THEN 1 ELSE 0 END AS finished,
           -- timely: reviewed and updated during the month, or an earlier reviewed final report
           CASE WHEN c.review_status = '已审核'
                 AND ((c.reported_date >= :month_start AND c.reported_date <= :month_end)
                      OR (c.status = '已完工' AND c.reported_date < :month_start))
                THEN 1 ELSE 0 END AS timely,
           COALESCE(c.planned_invest_yuan, 0) AS planned_invest_yuan,
           COALESCE(c.done_invest_yuan, 0) AS done_invest_yuan
    FROM plan_communities p
    LEFT JOIN monthly_records c
           ON c.report_month = :report_month AND c.plan_key = p.plan_key AND c.is_valid
    -- "+ 0": the year's plan scanned in the order it is stored, not through the plan_key index
    -- (rows in plan_key order are random pages: superlinear once the plan outgrows the cache)
    WHERE p.programme_year + 0 = :programme_year
),
-- summed per city before the targets are joined (not an automatic index over every community)
community_sums AS (
    SELECT m.city,
           COUNT(*)                                         AS plan_count,
           SUM(m.households)                                AS plan_households,
           SUM(m.started)                                   AS started_count,
           SUM(m.started * COALESCE(m.households, 0))       AS started_households,
           SUM(m.finished)                                  AS finished_count,
           SUM(m.planned_invest_yuan)                       AS planned_invest_yuan,
           SUM(m.done_invest_yuan)                          AS done_invest_yuan,
           SUM(m.timely)                                    AS timely_count
    FROM community m
    GROUP BY m.city
),
per_city AS (
    SELECT t.city,
           t.city_order,
           t.target_count,
           COALESCE(m.plan_count, 0)          AS plan_count,
           COALESCE(m.plan_households, 0)     AS plan_households,
           COALESCE(m.started_count, 0)       AS started_count,
           COALESCE(m.started_households, 0)  AS started_households,
           COALESCE(m.finished_count, 0)      AS finished_count,
           COALESCE(m.planned_invest_yuan, 0) AS planned_invest_yuan,
           COALESCE(m.done_invest_yuan, 0)    AS done_invest_yuan,
           COALESCE(m.timely_count, 0)        AS timely_count
    FROM targets t
    LEFT JOIN community_sums m ON m.city = t.city
    WHERE t.programme_year = :programme_year
)
SELECT city, city_order, target_count, plan_count, plan_households, started_count,
       started_households, finished_count, planned_invest_yuan, done_invest_yuan, timely_count
FROM per_city
UNION ALL
-- 全省: the sums of the city rows (its rates are recomputed from these sums, never averaged)
SELECT '全省', COALESCE(MAX(city_order), 0) + 1, COALESCE(SUM(target_count), 0),
       COALESCE(SUM(plan_count), 0), COALESCE(SUM(plan_households), 0),
       COALESCE(SUM(started_count), 0), COALESCE(SUM(started_households), 0),
       COALESCE(SUM(finished_count), 0), COALESCE(SUM(planned_invest_yuan), 0),
       COALESCE(SUM(done_invest_yuan), 0), COALESCE(SUM(timely_count), 0)
FROM per_city
ORDER BY city_order
