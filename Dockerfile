# One image for every flowhost component; the compose services pick the command.
FROM python:3.11-slim

# wrk drives the load-generator service (Debian's package, like on the test machines).
RUN apt-get update \
    && apt-get install -y --no-install-recommends wrk \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY gateway ./gateway
COPY executors ./executors
COPY flowhost ./flowhost
RUN pip install --no-cache-dir .

RUN useradd --create-home flowhost && mkdir -p /data /shared && chown flowhost /data /shared
USER flowhost
# Relative paths in packages (a SQLite file, a folder) resolve here, as under `flowhost up`.
WORKDIR /data
ENV FLOWHOST_DATA_DIR=/data PYTHONUNBUFFERED=1
ENTRYPOINT ["flowhost"]
CMD ["--help"]
