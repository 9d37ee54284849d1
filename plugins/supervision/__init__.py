"""Supervision of the renovation of old residential communities (城镇老旧小区改造).

The domain package of the pipeline: reading the landing area, data quality, the warehouse,
monthly figures, documents and delivery. It imports no Airflow, so every step can be run and
tested as plain Python; the DAG in ``dags/`` only calls into it.
"""

import logging as _logging

#: libraries whose INFO lines drown the pipeline's own counts in a task log (GX lists its public
#: API on import; fontTools reports every table it subsets; WeasyPrint each rendering step):
#: quieted here, at the package's import, so every way of running it (make run, airflow
#: standalone, the compose deployment, tests) logs the pipeline at INFO without them.
#: config/airflow.cfg's [logging] namespace_levels says the same for Airflow's own set-up.
NOISY_LOGGERS = {"great_expectations": _logging.WARNING, "fontTools": _logging.WARNING,
                 "weasyprint.progress": _logging.WARNING, "matplotlib": _logging.WARNING,
                 "PIL": _logging.WARNING}
for _name, _level in NOISY_LOGGERS.items():
    _logging.getLogger(_name).setLevel(_level)
