"""The development environment: a local stack and the real parts tests and benchmarks run.

A real etcd and kube-apiserver (:mod:`.control_plane`), Kamailio and SIP peers on
loopback (:mod:`.kamailio`, :mod:`.sip_peer`), the operator as a separate process
(:mod:`.operator_process`), the local demo stack behind ``hack/up.sh``
(:mod:`.stack`), finders of the Go-built tools (helm, promtool) and benchmark helpers.

Used by tests/, bench/ and hack/ only, never by the operator: it is its own top-level
package so that it stays out of the operator's wheel and image. It lives in
``operator/`` beside ``bolna_sip_operator`` and ``bolna_emulator`` rather than at the
repository root because the development install (``pip install -e .``) puts that
directory on ``sys.path``: tests, ``python bench/*.py`` and ``python -m
bolna_devenv.stack`` import it with no path set-up, and mypy and ruff see it through
the same ``operator`` root. ``pyproject.toml`` includes only the two shipped packages
in the wheel, the Dockerfile copies only those, and ``tests/unit/test_wheel.py`` checks
that a built wheel holds no ``bolna_devenv``. It may use development dependencies (the
synchronous ``kubernetes`` client); the operator must never import it.
"""
