# Production-style image: gunicorn serving config.wsgi.  The same image runs
# the migrate one-shot, the Celery workers, beat and Flower (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings

WORKDIR /app

# psycopg[binary] ships its own libpq: no system packages needed.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# collectstatic needs settings, and production settings need a strong key: a throwaway one, made
# here and never stored in the image (the containers get theirs from DJANGO_SECRET_KEY).
RUN useradd --create-home --uid 10001 app \
    && DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
       DATABASE_URL=postgres://build@localhost:5432/build \
       REDIS_URL=redis://localhost:6379/0 \
       python manage.py collectstatic --noinput

USER app
EXPOSE 8000
# config.gunicorn: with PROMETHEUS_MULTIPROC_DIR set (docker-compose.yml), /metrics adds up all workers;
# its JsonErrorWorker answers gunicorn's own errors (414, 431, ...) as JSON.
CMD ["gunicorn", "config.wsgi:application", "--config", "python:config.gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120",
     "--worker-class", "config.gunicorn.JsonErrorWorker"]
