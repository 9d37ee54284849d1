-- The N8 spot-check sample of a month: per city, the counted records with the smallest
-- sample_key = sha256("YYYY-MM|项目编号") (hex), draw 1, 2, … in that order.
CREATE TABLE IF NOT EXISTS spot_checks (
    report_month TEXT    NOT NULL,
    city         TEXT    NOT NULL,
    city_order   INTEGER NOT NULL,
    draw         INTEGER NOT NULL,   -- 1 = the smallest key of the city
    population   INTEGER NOT NULL,   -- the city's counted records
    sample_size  INTEGER NOT NULL,   -- max(min_per_city, ceil(share × population)), at most population
    sample_key   TEXT    NOT NULL,
    project_id   TEXT    NOT NULL,
    plan_key     TEXT    NOT NULL,
    PRIMARY KEY (report_month, city, draw)
)
