# The production image: the same code as `make run`, served by gunicorn; workers run celery.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# torch first and alone, pinned; point PIP_EXTRA_INDEX_URL at a CPU wheel index for a smaller image.
ARG PIP_EXTRA_INDEX_URL=
RUN pip install torch==2.13.0
COPY requirements.lock .
RUN pip install -r requirements.lock
COPY . .
RUN DEBUG=True python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "gnome_site.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
