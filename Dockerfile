# Jiefen API / migration / scheduler image. Build: docker build -t jiefen .
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY workflows ./workflows
COPY config ./config
RUN pip install . && useradd --system --home /app jiefen
USER jiefen
ENV JIEFEN_CONFIG_DIR=/app/config
EXPOSE 8000
CMD ["jiefen", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-demo"]
