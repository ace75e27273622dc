# The operator image; the Bolna emulator runs from it too
# (`bolna-sip-operator emulator --host 0.0.0.0 --port 8055 --token ...`).
#
#   docker build -t bolna-sip-operator:dev .
#
# pulls python:3.11-slim-bookworm and installs the Python dependencies from PyPI. With no
# registry and no PyPI at hand (how hack/build-images.sh builds it), pass a local base
# with Python 3.11 and the venv module (Debian bookworm's python3 and python3-venv) and
# wheels of every dependency in .wheels/ of the build context:
#
#   .venv/bin/pip wheel -w .wheels . 'setuptools>=77'
#   docker build --pull=false --build-arg BASE_IMAGE=<local base> --build-arg OFFLINE=1 \
#       -t bolna-sip-operator:dev .
#
# Pin the base by digest in your registry mirror for reproducible builds.

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# OFFLINE=1: install only from the wheels in .wheels/ (pip --no-index); the build itself
# then needs no network. Empty: from the package index.
ARG OFFLINE=""
WORKDIR /src
# ".wheel[s]" matches nothing when .wheels/ is absent, which COPY allows as long as
# another source matches; its wheels land in /src.
COPY pyproject.toml .wheel[s] ./
# The package's long description (pyproject's readme) is a line here, not the README:
# a change to the docs must not make a new image.
RUN printf 'Bolna SIP trunk operator: see the repository README.\n' > README.md
# The two packages that ship; operator/bolna_devenv (tests' scaffolding) stays out.
COPY operator/bolna_sip_operator ./operator/bolna_sip_operator
COPY operator/bolna_emulator ./operator/bolna_emulator
# pip and setuptools are removed again: nothing needs them at run time.
RUN set -eu; \
    if [ -n "$OFFLINE" ]; then set -- --no-index --find-links /src; else set --; fi; \
    python3 -m venv /opt/operator; \
    /opt/operator/bin/pip install --no-cache-dir --disable-pip-version-check "$@" . ; \
    /opt/operator/bin/pip uninstall --yes --quiet pip setuptools 2>/dev/null || true; \
    /opt/operator/bin/bolna-sip-operator --help >/dev/null

FROM ${BASE_IMAGE}
# The operator runs as an unprivileged user (10001; Debian already has a group named
# "operator") with a read-only root filesystem: the chart sets readOnlyRootFilesystem
# and drops all capabilities. The bytecode is compiled at install time, nothing is
# written at run time.
RUN set -eu; \
    useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin bolna
COPY --from=build /opt/operator /opt/operator
ENV PATH=/opt/operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOLNA_SIP_HEALTH_HOST=0.0.0.0
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["bolna-sip-operator"]
CMD ["run"]
