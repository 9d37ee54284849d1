-- N10: communities whose record names no basic-category (基础类) item, or which receive central
-- or provincial money (中央补助资金 + 中央预算内资金 + 省级补助资金 > 0) while their basic items
-- are strictly less than the share basic_share_num / basic_share_den of all their planned items.
-- The export has no money per category, so the share of items is the measure; the list is for
-- checking, not a finding. Items are counted in the three category columns as the parts
-- separated by 、 , or ; (full-width commas and semicolons are half-width after NFKC).
-- Every record matched to a plan community is checked, valid or not (the content is declared
-- regardless of the record's dates and money).
-- Parameters: programme_year, report_month, basic_share_num, basic_share_den.
WITH recs AS (
    SELECT r.source_row, t.city_order, p.city, p.county, p.name, p.plan_key, r.project_id, r.is_valid,
           r.basic_items, r.improve_items, r.upgrade_items, r.planned_invest_yuan,
           COALESCE(r.central_subsidy_yuan, 0) + COALESCE(r.central_budget_yuan, 0)
               + COALESCE(r.provincial_subsidy_yuan, 0) AS central_provincial_yuan,
           CASE WHEN r.basic_items IS NULL OR TRIM(r.basic_items) = '' THEN 0
                ELSE 1 + LENGTH(r.basic_items) - LENGTH(REPLACE(REPLACE(REPLACE(
                         r.basic_items, '、', ''), ',', ''), ';', '')) END AS basic_count,
           CASE WHEN r.improve_items IS NULL OR TRIM(r.improve_items) = '' THEN 0
                ELSE 1 + LENGTH(r.improve_items) - LENGTH(REPLACE(REPLACE(REPLACE(
                         r.improve_items, '、', ''), ',', ''), ';', '')) END AS improve_count,
           CASE WHEN r.upgrade_items IS NULL OR TRIM(r.upgrade_items) = '' THEN 0
                ELSE 1 + LENGTH(r.upgrade_items) - LENGTH(REPLACE(REPLACE(REPLACE(
                         r.upgrade_items, '、', ''), ',', ''), ';', '')) END AS upgrade_count
    FROM monthly_records r
    JOIN plan_communities p ON p.programme_year = :programme_year AND p.plan_key = r.plan_key
    JOIN targets t ON t.programme_year = p.programme_year AND t.city = p.city
    WHERE r.report_month = :report_month
)
SELECT city_order, city, county, name, plan_key, project_id, is_valid,
       CASE WHEN basic_count = 0 THEN 'BASIC_CONTENT_MISSING'
            ELSE 'SUBSIDY_NOT_MAINLY_BASIC' END AS reason,
       basic_count, improve_count, upgrade_count, central_provincial_yuan, planned_invest_yuan,
       basic_items, improve_items, upgrade_items
FROM recs
WHERE basic_count = 0
   OR (central_provincial_yuan > 0
       AND basic_count * :basic_share_den
           < :basic_share_num * (basic_count + improve_count + upgrade_count))
-- in export order: SQLite then reads the records through (report_month, source_row), the order
-- they are stored in, not plan_key order (random pages: superlinear once the month outgrows the cache)
ORDER BY source_row
