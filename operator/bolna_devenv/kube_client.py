"""The official Kubernetes client, logged in to a local ``ControlPlane`` as its admin.

For tests and benchmarks (the ``kubernetes`` package is a development dependency; the
operator itself talks to the API over httpx, see ``bolna_sip_operator.kube_api``).
"""

from __future__ import annotations

from kubernetes import client

from .control_plane import ControlPlane


def admin_api_client(plane: ControlPlane, pool_size: int | None = None) -> client.ApiClient:
    """An ApiClient with the control plane's CA and admin token (close it after use)."""
    configuration = client.Configuration()
    configuration.host = plane.server
    configuration.ssl_ca_cert = str(plane.ca_file)
    configuration.api_key = {"authorization": plane.token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    if pool_size is not None:
        configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)
