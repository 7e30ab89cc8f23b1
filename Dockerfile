# The platform's image: Airflow's official image with the pinned requirements and this project.
# docker-compose.yaml runs every Airflow component (api-server, scheduler, dag-processor, triggerer,
# Celery workers) and the sandbox from it.
FROM apache/airflow:3.3.2-python3.11

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
    AUDIENCE_HOME=/opt/audience \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/audience/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/audience/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

# the shared volumes' mount points, owned by the airflow user (a new named volume takes their owner)
USER root
RUN mkdir -p /data/world /data/local /data/sandbox /opt/airflow/logs /opt/audience \
 && chown -R airflow:0 /data /opt/airflow/logs /opt/audience
USER airflow

# the lock first: this layer is rebuilt only when requirements.txt changes. It pins apache-airflow
# itself (3.3.2, the image's own), so the image's Airflow is kept.
COPY --chown=airflow:0 requirements.txt /opt/audience/requirements.txt
RUN pip install --no-cache-dir -r /opt/audience/requirements.txt

COPY --chown=airflow:0 . /opt/audience
WORKDIR /opt/audience
# the project as a package (the `audience` command, the sandbox, the expectations), then the dbt
# manifest the build_segments DAG renders from (dbt parse touches no database)
RUN pip install --no-cache-dir --no-deps -e . \
 && audience dbt-parse
