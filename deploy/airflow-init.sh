#!/usr/bin/env bash
# One-off initialisation of an Airflow deployment, run before its services start (the
# `airflow-init` service of docker-compose.yaml; the native topology test runs it too):
#   1. `airflow db migrate` brings the metadata database (and the FAB auth tables) up to date;
#   2. the admin user exists, with the password currently in the environment (.env), so
#      changing AIRFLOW_ADMIN_PASSWORD and re-running the init rotates it;
#   3. in the container (as root): the folders the services write to belong to the Airflow user.
# Idempotent: safe to run on every `docker compose up`.
set -euo pipefail
: "${AIRFLOW_ADMIN_USERNAME:?set AIRFLOW_ADMIN_USERNAME (.env)}"
: "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD (.env)}"

echo "airflow-init: $(airflow version 2>/dev/null | tail -n 1)"
airflow db migrate
airflow users create --role Admin \
    --username "$AIRFLOW_ADMIN_USERNAME" --password "$AIRFLOW_ADMIN_PASSWORD" \
    --firstname "${AIRFLOW_ADMIN_FIRSTNAME:-Airflow}" --lastname "${AIRFLOW_ADMIN_LASTNAME:-Admin}" \
    --email "${AIRFLOW_ADMIN_EMAIL:-admin@example.gov.cn}"
airflow users reset-password --username "$AIRFLOW_ADMIN_USERNAME" --password "$AIRFLOW_ADMIN_PASSWORD"

if [[ $(id -u) == 0 && -n ${AIRFLOW_UID:-} ]]; then
    # in the container the init runs as root (like the official compose file's) to hand the
    # mounted folders the services write to over to the Airflow user
    for d in "${AIRFLOW_HOME:-/opt/airflow}/logs" ${SUPERVISION_OUTPUT_DIR:+"$SUPERVISION_OUTPUT_DIR"}; do
        mkdir -p "$d"
        chown "${AIRFLOW_UID}:0" "$d"
    done
    chown -R "${AIRFLOW_UID}:0" "${AIRFLOW_HOME:-/opt/airflow}/logs"
fi
echo "airflow-init: done"
