-- The figure queries join a month's records to the plan by plan_key.
CREATE INDEX IF NOT EXISTS monthly_records_month_plan_key ON monthly_records (report_month, plan_key)
