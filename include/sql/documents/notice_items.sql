-- The overdue items of report_month with the officers responsible for each community: from the
-- export record when there is one, else from the plan registry. Used only for the 督办通知 of
-- the community's own city (phone numbers never go into circulated documents).
SELECT o.seq, o.city, o.county, o.name, o.project_id, o.reason, o.detail, o.plan_key,
       COALESCE(r.impl_officer, p.impl_officer) AS impl_officer,
       COALESCE(r.impl_phone, p.impl_phone)     AS impl_phone,
       COALESCE(r.sup_officer, p.sup_officer)   AS sup_officer,
       COALESCE(r.sup_phone, p.sup_phone)       AS sup_phone
FROM overdue_items o
JOIN plan_communities p ON p.programme_year = :programme_year AND p.plan_key = o.plan_key
LEFT JOIN monthly_records r ON r.report_month = o.report_month AND r.plan_key = o.plan_key
     AND r.project_id = o.project_id
WHERE o.report_month = :report_month
ORDER BY o.seq
