# The SMART-on-FHIR web app (Flask, served by gunicorn). See docker-compose.yml for how it is wired
# to a FHIR server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# .dockerignore keeps tests, the Java HAPI module and local build output out of the context.
COPY . .
RUN pip install . \
    && rm -rf /src

# Never run the web app as root.
RUN useradd --create-home --uid 10001 smartapp
USER smartapp
WORKDIR /home/smartapp
# The launcher page a developer opens (served at /launch.html).
COPY --chown=smartapp launch.html ./launch.html
# The clinical rules document CDS Hooks cards link to (served at /docs/clinical-rules.md).
COPY --chown=smartapp docs/ ./docs/

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# `smartapp serve` validates the configuration and the database's schema first (one clear line
# naming a bad setting), then runs gunicorn. Sessions live in the app's database
# (SMARTAPP_DATABASE_URL; docs/store.md), so workers and replicas share them. No access log:
# request URLs carry patient ids, and no PHI is logged at INFO.
CMD ["smartapp", "serve", "--host", "0.0.0.0", "--port", "8000"]
