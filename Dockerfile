# The Airflow image of the renovation-supervision deployment (docker-compose.yaml builds it).
#
# Base: the official Airflow image, "slim" flavour — Airflow without the dozens of providers of
# the full image — because requirements.lock is the complete, resolved environment of the project
# (Airflow's constraints file cannot be downloaded on our build machines; the lock is ours).
# Installing the lock on top of the full image would leave its other providers next to versions
# they were not built against. The Airflow version here must equal the one pinned in the lock
# (tests/deploy/test_compose.py checks it).
ARG AIRFLOW_IMAGE=apache/airflow:slim-3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

USER root
# The documents' fonts (the same packages as FONT_PACKAGES of `make fonts`, HarfBuzz's subsetter
# among them: without it embedding the CJK fonts takes ~20 s per PDF), and the Pango/fontconfig
# libraries WeasyPrint renders with.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      fonts-noto-cjk fonts-arphic-gkai00mp libharfbuzz-subset0 \
      fontconfig libpango-1.0-0 libpangoft2-1.0-0 \
 && fc-cache -f \
 && fc-list :lang=zh | grep -q . \
 && apt-get autoremove -yqq --purge \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

USER airflow
# The code is mounted, not baked in (dags/, plugins/, include/, config/ — docker-compose.yaml), so
# a release is a `git pull` + restart; the domain package imports from the mounted plugins folder.
ENV PYTHONPATH=/opt/airflow/plugins \
    SUPERVISION_INCLUDE_DIR=/opt/airflow/include \
    GX_ANALYTICS_ENABLED=False

COPY --chown=airflow:0 requirements.lock /opt/airflow/requirements.lock
# exactly the lock (it pins apache-airflow itself, so pip cannot move Airflow's version)
RUN pip install --no-cache-dir -r /opt/airflow/requirements.lock \
 && python -c "import airflow.providers.fab, airflow.providers.standard, psycopg, weasyprint, great_expectations"
