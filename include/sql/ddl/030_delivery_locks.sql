-- Who is sending a month now (SQLite warehouses; PostgreSQL uses an advisory lock instead): one
-- row per month while a send holds it. A row whose holder stopped renewing it (renewed_at older
-- than the lease) or whose process is gone (same host, pid not running) is stale and taken over.
-- See supervision/delivery_lock.py.
CREATE TABLE IF NOT EXISTS delivery_locks (
    report_month TEXT NOT NULL,
    holder       TEXT NOT NULL,      -- host, pid, Airflow run and try: who sends
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    token        TEXT NOT NULL,      -- this holder's own id (threads of one process differ)
    acquired_at  TEXT NOT NULL,
    renewed_at   TEXT NOT NULL,
    PRIMARY KEY (report_month)
)
