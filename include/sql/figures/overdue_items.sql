-- The overdue list of data month report_month: one row per plan community and reason (SPEC §3).
--   MISSING_FROM_EXPORT        no record in the export (its only reason)
--   DATA_INVALID               its record failed a blocking quality rule
--   NOT_STARTED_PAST_DEADLINE  a valid record not counted as started, and month_end is on/after
--                              the deadline (an invalid record's dates are not believed: it is
--                              listed as DATA_INVALID, never as not started)
--   NOT_REPORTED               not updated during the month (unless an earlier reviewed final report)
--   NOT_REVIEWED               审核状态 is not 已审核
--   PLAN_MISMATCH              a declared fact differs from the plan registry (N12)
-- NOT_REPORTED, NOT_REVIEWED and PLAN_MISMATCH apply to invalid records too.
-- Parameters: programme_year, report_month, month_start, month_end, past_start_deadline (0/1)
WITH matched AS (
    -- every record of the month matched to a plan community of the year, with the plan's
    -- spelling (joined through the indexes; computed once, read by the branches below)
    SELECT t.city_order, p.city, p.county, p.name, p.plan_key, r.project_id, r.source_row,
           r.is_valid, r.status, r.review_status, r.reported_date, r.plan_mismatch,
           CASE WHEN r.is_valid AND r.status IN ('已开工', '已完工') AND r.start_date <= :month_end
                THEN 1 ELSE 0 END AS started
    FROM monthly_records r
    JOIN plan_communities p ON p.programme_year = :programme_year AND p.plan_key = r.plan_key
    JOIN targets t ON t.programme_year = p.programme_year AND t.city = p.city
    WHERE r.report_month = :report_month
      -- always true (row numbers start at 1); it makes SQLite read the month's records through
      -- the key (report_month, source_row), in the order they are stored, not in plan_key order
      AND r.source_row > 0
),
items AS (
    SELECT t.city_order, p.city, p.county, p.name, p.plan_key, NULL AS project_id,
           'MISSING_FROM_EXPORT' AS reason, 1 AS reason_order, NULL AS detail
    FROM plan_communities p
    JOIN targets t ON t.programme_year = p.programme_year AND t.city = p.city
    WHERE p.programme_year + 0 = :programme_year  -- the plan in stored order (city_progress.sql)
      AND NOT EXISTS (SELECT 1 FROM monthly_records r
                      WHERE r.report_month = :report_month AND r.plan_key = p.plan_key)
    UNION ALL
    SELECT m.city_order, m.city, m.county, m.name, m.plan_key, m.project_id,
           'DATA_INVALID', 2, q.rule_ids
    FROM matched m
    LEFT JOIN quarantine q ON q.report_month = :report_month AND q.source_row = m.source_row
    WHERE NOT m.is_valid
    UNION ALL
    SELECT m.city_order, m.city, m.county, m.name, m.plan_key, m.project_id,
           'NOT_STARTED_PAST_DEADLINE', 3, m.status
    FROM matched m
    WHERE :past_start_deadline = 1 AND m.is_valid AND m.started = 0
    UNION ALL
    SELECT m.city_order, m.city, m.county, m.name, m.plan_key, m.project_id,
           'NOT_REPORTED', 4, m.reported_date
    FROM matched m
    WHERE NOT (m.reported_date IS NOT NULL
               AND m.reported_date >= :month_start AND m.reported_date <= :month_end)
      AND NOT (m.status = '已完工' AND m.review_status = '已审核'
               AND m.reported_date IS NOT NULL AND m.reported_date < :month_start)
    UNION ALL
    SELECT m.city_order, m.city, m.county, m.name, m.plan_key, m.project_id,
           'NOT_REVIEWED', 5, m.review_status
    FROM matched m
    WHERE m.review_status IS NULL OR m.review_status <> '已审核'
    UNION ALL
    SELECT m.city_order, m.city, m.county, m.name, m.plan_key, m.project_id,
           'PLAN_MISMATCH', 6, m.plan_mismatch
    FROM matched m
    WHERE m.plan_mismatch IS NOT NULL
)
-- no ORDER BY: text collation differs between databases; the caller sorts by code point
SELECT city_order, city, county, name, project_id, reason, reason_order, detail, plan_key
FROM items
