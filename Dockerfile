# The playground in one image: the app, a Java runtime and the Kafka jars, running the same managed
# cluster as `make run` does.

# Stage 1: Maven fetches the Kafka broker and its dependencies from Maven Central.
FROM maven:3.9-eclipse-temurin-17 AS kafka-jars
COPY kafka/pom.xml /build/kafka/pom.xml
RUN mvn -q -B -f /build/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=/opt/kafka-jars

# Stage 2: Python app + JRE (util-linux, which provides setpriv, is part of every Debian image).
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_DEBUG=0 \
    KAFKA_JARS_DIR=/opt/kafka-jars \
    PLAYGROUND_VAR_DIR=/app/var
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --from=kafka-jars /opt/kafka-jars /opt/kafka-jars
COPY . .
RUN python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && exec python manage.py serve --host 0.0.0.0 --port 8000"]
