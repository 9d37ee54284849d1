"""Supervision of the renovation of old residential communities (城镇老旧小区改造).

The domain package of the pipeline: reading the landing area, data quality, the warehouse,
monthly figures, documents and delivery. It imports no Airflow, so every step can be run and
tested as plain Python; the DAG in ``dags/`` only calls into it.
"""
