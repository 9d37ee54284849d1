-- Early warning of a month: each city's 开工率 projected to the start deadline at its recent
-- pace (docs/figures.md), one row per city plus 全省. Fractions are stored as the nearest double;
-- the exact values follow from the integer columns.
CREATE TABLE IF NOT EXISTS early_warnings (
    report_month          TEXT    NOT NULL,
    city                  TEXT    NOT NULL,
    city_order            INTEGER NOT NULL,
    target_count          INTEGER NOT NULL,   -- 任务数
    started_count         INTEGER NOT NULL,   -- 累计开工数 at the end of the month
    start_rate            DOUBLE PRECISION,   -- started_count / target_count (开工率)
    window_months         INTEGER NOT NULL,   -- months in the pace window (0: no pace yet)
    window_after          TEXT    NOT NULL,   -- the window is (window_after, month end]
    started_in_window     INTEGER NOT NULL,   -- communities whose 开工日期 lies in the window
    monthly_pace          DOUBLE PRECISION,   -- started_in_window / window_months
    deadline              TEXT    NOT NULL,   -- the start deadline (N3)
    months_left           INTEGER NOT NULL,   -- whole months from the data month to the deadline's
    needed_by_deadline    INTEGER NOT NULL,   -- ceil(target rate × 任务数)
    projected_started     DOUBLE PRECISION,   -- started_count + monthly_pace × months_left
    projected_start_rate  DOUBLE PRECISION,   -- projected_started / 任务数
    required_monthly_pace DOUBLE PRECISION,   -- (needed − started) / months_left, at least 0
    will_miss             BOOLEAN NOT NULL,   -- projected_started < target rate × 任务数
    PRIMARY KEY (report_month, city)
)
