# One image for every flowhost component; the compose services pick the command.
#
# The base is a build argument so that machines without a registry can bring their own:
# `make compose-test` imports a Debian bookworm made with debootstrap (python3, python3-venv and
# wrk already in it) and builds with BASE_IMAGE=flowhost-base:bookworm. With WHEELHOUSE set to a
# folder of the build context holding flowhost's wheel and its dependencies (`pip wheel . -w
# wheelhouse`), nothing is fetched: pip installs with --no-index. Written for the classic builder
# as well as BuildKit (Debian's docker.io and docker-compose 1.29 use the classic one).
ARG BASE_IMAGE=python:3.11-slim

# -- build: a virtual environment with flowhost and its dependencies, nothing else -----------
FROM ${BASE_IMAGE} AS build
ARG WHEELHOUSE=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY wheelhouse ./wheelhouse
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY gateway ./gateway
COPY executors ./executors
COPY flowhost ./flowhost
RUN python3 -m venv /opt/flowhost \
    && if [ -n "$WHEELHOUSE" ]; then \
        /opt/flowhost/bin/pip install --no-index --find-links "/src/$WHEELHOUSE" flowhost; \
    else \
        /opt/flowhost/bin/pip install .; \
    fi \
    && find /opt/flowhost -name __pycache__ -prune -exec rm -rf {} + \
    && /opt/flowhost/bin/python -m compileall -q /opt/flowhost/lib

# -- runtime: the base, wrk for the load generator, the environment, an unprivileged user -----
FROM ${BASE_IMAGE}
# wrk drives the load-generator service (Debian's package, like on the test machines); a base
# that has it already (the debootstrap one) needs no package index.
RUN command -v wrk >/dev/null \
    || (apt-get update \
        && apt-get install -y --no-install-recommends wrk \
        && rm -rf /var/lib/apt/lists/*)
COPY --from=build /opt/flowhost /opt/flowhost
# The package the deploy service deploys, and the examples, at the paths the docs use.
WORKDIR /app
COPY flowhost/bench/package.yaml ./flowhost/bench/package.yaml
COPY flowhost/examples ./flowhost/examples

RUN useradd --create-home --uid 10001 flowhost && mkdir -p /data /shared \
    && chown flowhost /data /shared
USER flowhost
# Relative paths in packages (a SQLite file, a folder) resolve here, as under `flowhost up`.
WORKDIR /data
ENV PATH=/opt/flowhost/bin:$PATH FLOWHOST_DATA_DIR=/data PYTHONUNBUFFERED=1
ENTRYPOINT ["flowhost"]
CMD ["--help"]
