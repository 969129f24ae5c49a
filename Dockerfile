# One image for every convforge service: the API (gunicorn), workers and the one-shot migration.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY pyproject.toml README.md* ./
COPY shared ./shared
COPY services ./services
COPY worker ./worker
COPY migrations ./migrations
COPY examples ./examples
COPY data ./data
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 10001 convforge \
    && mkdir -p /var/lib/convforge/artifacts \
    && chown -R convforge /var/lib/convforge

USER convforge
ENV CONVFORGE_VAR_DIR=/var/lib/convforge \
    ARTIFACT_DIR=/var/lib/convforge/artifacts \
    CONVFORGE_API_BIND=0.0.0.0:8000
EXPOSE 8000
CMD ["convforge", "api"]
