import pytest
from sqlalchemy import text

from supervision import warehouse


@pytest.mark.postgres
def test_the_warehouse_schema_applies_on_postgresql(postgres_server):
    url = postgres_server.create_database("schema_check")
    engine = warehouse.connect(url)
    with engine.connect() as conn:
        tables = {r[0] for r in conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"))}
    assert {"monthly_records", "city_figures", "delivery_ledger"} <= tables
    engine.dispose()
