# The operator image. This repository's CI cannot build it (its machines have no Docker
# engine); build it where you have one:  docker build -t bolna-sip-operator:dev .
# Base images pinned by tag; pin by digest in your registry mirror for reproducibility.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m venv /opt/operator \
 && /opt/operator/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/operator/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
# No shell tools are needed at run time; the operator runs as an unprivileged user with
# a read-only root filesystem (the chart sets readOnlyRootFilesystem and drops all
# capabilities).
RUN groupadd --system --gid 10001 operator \
 && useradd --system --uid 10001 --gid operator --no-create-home --shell /usr/sbin/nologin operator
COPY --from=build /opt/operator /opt/operator
ENV PATH=/opt/operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOLNA_SIP_HEALTH_HOST=0.0.0.0
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["bolna-sip-operator"]
CMD ["run"]
