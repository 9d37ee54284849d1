-- The published figures of a month, one row per city plus the 全省 row (city = '全省').
-- Rates are fractions (NULL when the denominator is 0); score_cents is 综合得分 × 100, exact.
CREATE TABLE IF NOT EXISTS city_figures (
    report_month          TEXT    NOT NULL,
    city                  TEXT    NOT NULL,
    city_order            INTEGER NOT NULL,   -- 全省 sorts last
    target_count          INTEGER NOT NULL,
    plan_count            INTEGER NOT NULL,
    plan_households       BIGINT  NOT NULL,
    started_count         INTEGER NOT NULL,
    started_households    BIGINT  NOT NULL,
    finished_count        INTEGER NOT NULL,
    planned_invest_yuan   BIGINT  NOT NULL,
    done_invest_yuan      BIGINT  NOT NULL,
    timely_count          INTEGER NOT NULL,
    start_rate            DOUBLE PRECISION,
    households_start_rate DOUBLE PRECISION,
    finish_rate           DOUBLE PRECISION,
    investment_rate       DOUBLE PRECISION,
    timely_rate           DOUBLE PRECISION,
    score_cents           INTEGER NOT NULL,
    score_rank            INTEGER,            -- 排名 (NULL on 全省)
    start_rate_rank       INTEGER,
    investment_rate_rank  INTEGER,
    timely_rate_rank      INTEGER,
    start_rate_change     DOUBLE PRECISION,   -- percentage points against the previous month
    investment_rate_change DOUBLE PRECISION,
    timely_rate_change    DOUBLE PRECISION,
    rank_change           INTEGER,            -- previous rank − rank (positive = moved up)
    lagging               BOOLEAN NOT NULL,
    PRIMARY KEY (report_month, city)
)
