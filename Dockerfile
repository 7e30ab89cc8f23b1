# The platform's image: Airflow 3 with the pinned requirements and this project.
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 AIRFLOW_HOME=/opt/airflow
WORKDIR /opt/audience
COPY requirements.txt pyproject.toml README.md ./
RUN pip install --no-cache-dir "uv==0.13.9" \
 && uv pip install --system --no-cache -r requirements.txt
COPY . .
RUN uv pip install --system --no-cache --no-deps -e . \
 && useradd --create-home --uid 50000 airflow && chown -R airflow /opt/audience
USER airflow
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/audience/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/audience/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AUDIENCE_HOME=/opt/audience
