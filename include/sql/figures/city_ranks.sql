-- Competition ranks (1, 2, 2, 4) of the cities of report_month: 排名 on the rounded composite
-- score, and one rank per indicator on its rate (an empty rate ranks as 0).
SELECT city,
       RANK() OVER (ORDER BY score_cents DESC)                       AS score_rank,
       RANK() OVER (ORDER BY COALESCE(start_rate, 0) DESC)           AS start_rate_rank,
       RANK() OVER (ORDER BY COALESCE(investment_rate, 0) DESC)      AS investment_rate_rank,
       RANK() OVER (ORDER BY COALESCE(timely_rate, 0) DESC)          AS timely_rate_rank
FROM city_figures
WHERE report_month = :report_month AND city <> '全省'
