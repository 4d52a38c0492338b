# The one image of every newsflow service (docker-compose.yml picks the service with `command`):
#   python -m services.fetcher | services.cleaner | services.extractor | services.indexer | services.cli ...
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
# The project and every dependency (pyproject.toml); the source stays in /app, the working directory, so
# settings' ROOT (and the faust data folder under /app/.data) is /app.
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app --no-create-home newsflow \
    && mkdir -p /app/.data \
    && chown -R newsflow /app/.data

USER newsflow
# Metrics ports of fetcher, cleaner, extractor, indexer (each service binds its own; set
# NEWSFLOW_<SERVICE>_METRICS_HOST=0.0.0.0 in a container).
EXPOSE 9101 9102 9103 9104
CMD ["python", "-m", "services.cli", "--help"]
