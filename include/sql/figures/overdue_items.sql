-- The overdue list of data month report_month: one row per plan community and reason (SPEC §3).
--   MISSING_FROM_EXPORT        no record in the export (its only reason)
--   DATA_INVALID               its record failed a blocking quality rule
--   NOT_STARTED_PAST_DEADLINE  not counted as started, and month_end is on/after the deadline
--   NOT_REPORTED               not updated during the month (unless an earlier reviewed final report)
--   NOT_REVIEWED               审核状态 is not 已审核
--   PLAN_MISMATCH              a declared fact differs from the plan registry (N12)
-- NOT_REPORTED, NOT_REVIEWED and PLAN_MISMATCH apply to invalid records too.
-- Parameters: programme_year, report_month, month_start, month_end, past_start_deadline (0/1)
WITH plan AS (
    SELECT p.plan_key, p.city, p.county, p.name, t.city_order
    FROM plan_communities p
    JOIN targets t ON t.programme_year = p.programme_year AND t.city = p.city
    WHERE p.programme_year = :programme_year
),
recs AS (
    SELECT r.*,
           CASE WHEN r.is_valid AND r.status IN ('已开工', '已完工') AND r.start_date <= :month_end
                THEN 1 ELSE 0 END AS started
    FROM monthly_records r
    WHERE r.report_month = :report_month AND r.plan_key IS NOT NULL
),
items AS (
    SELECT p.city_order, p.city, p.county, p.name, p.plan_key, NULL AS project_id,
           'MISSING_FROM_EXPORT' AS reason, 1 AS reason_order, NULL AS detail
    FROM plan p
    WHERE NOT EXISTS (SELECT 1 FROM recs r WHERE r.plan_key = p.plan_key)
    UNION ALL
    SELECT p.city_order, p.city, p.county, p.name, p.plan_key, r.project_id,
           'DATA_INVALID', 2, q.rule_ids
    FROM plan p
    JOIN recs r ON r.plan_key = p.plan_key
    LEFT JOIN quarantine q ON q.report_month = r.report_month AND q.source_row = r.source_row
    WHERE NOT r.is_valid
    UNION ALL
    SELECT p.city_order, p.city, p.county, p.name, p.plan_key, r.project_id,
           'NOT_STARTED_PAST_DEADLINE', 3, r.status
    FROM plan p
    JOIN recs r ON r.plan_key = p.plan_key
    WHERE :past_start_deadline = 1 AND r.started = 0
    UNION ALL
    SELECT p.city_order, p.city, p.county, p.name, p.plan_key, r.project_id,
           'NOT_REPORTED', 4, r.reported_date
    FROM plan p
    JOIN recs r ON r.plan_key = p.plan_key
    WHERE NOT (r.reported_date IS NOT NULL
               AND r.reported_date >= :month_start AND r.reported_date <= :month_end)
      AND NOT (r.status = '已完工' AND r.review_status = '已审核'
               AND r.reported_date IS NOT NULL AND r.reported_date < :month_start)
    UNION ALL
    SELECT p.city_order, p.city, p.county, p.name, p.plan_key, r.project_id,
           'NOT_REVIEWED', 5, r.review_status
    FROM plan p
    JOIN recs r ON r.plan_key = p.plan_key
    WHERE r.review_status IS NULL OR r.review_status <> '已审核'
    UNION ALL
    SELECT p.city_order, p.city, p.county, p.name, p.plan_key, r.project_id,
           'PLAN_MISMATCH', 6, r.plan_mismatch
    FROM plan p
    JOIN recs r ON r.plan_key = p.plan_key
    WHERE r.plan_mismatch IS NOT NULL
)
-- no ORDER BY: text collation differs between databases; the caller sorts by code point
SELECT city_order, city, county, name, project_id, reason, reason_order, detail, plan_key
FROM items
