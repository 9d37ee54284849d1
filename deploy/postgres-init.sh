#!/usr/bin/env bash
# Creates the two databases of the deployment, each owned by its own login role:
#   ${AIRFLOW_DB_NAME:-airflow}       Airflow's metadata    (role ${AIRFLOW_DB_USER:-airflow})
#   ${WAREHOUSE_DB_NAME:-supervision} the supervision warehouse (role ${WAREHOUSE_DB_USER:-supervision})
# so Airflow's role cannot touch the warehouse and the tasks' role cannot touch Airflow's tables.
#
# docker-compose mounts it into the postgres image's /docker-entrypoint-initdb.d/, which runs it
# once, when the data volume is created. It is idempotent (an existing role gets its password
# reset, an existing database is kept), so it can also be run by hand against a server:
#   POSTGRES_USER=postgres PGHOST=… PGPORT=… AIRFLOW_DB_PASSWORD=… WAREHOUSE_DB_PASSWORD=… \
#     bash deploy/postgres-init.sh
set -euo pipefail
: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD (.env)}"
: "${WAREHOUSE_DB_PASSWORD:?set WAREHOUSE_DB_PASSWORD (.env)}"

create_role_and_database() {
    local role=$1 password=$2 database=$3
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        -v role="$role" -v password="$password" -v database="$database" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'database', :'role', 'UTF8')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'database') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'database') \gexec
SQL
    echo "postgres-init: database ${database} owned by role ${role}"
}

create_role_and_database "${AIRFLOW_DB_USER:-airflow}" "$AIRFLOW_DB_PASSWORD" "${AIRFLOW_DB_NAME:-airflow}"
create_role_and_database "${WAREHOUSE_DB_USER:-supervision}" "$WAREHOUSE_DB_PASSWORD" "${WAREHOUSE_DB_NAME:-supervision}"
