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

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# One worker with threads: the app may keep per-process state (e.g. OAuth launch state), which
# several worker processes would not share. Extra gunicorn flags can go in GUNICORN_CMD_ARGS.
CMD ["gunicorn", "-b", "0.0.0.0:8000", "--workers", "1", "--threads", "4", "--access-logfile", "-", "smartapp.web:create_app()"]
