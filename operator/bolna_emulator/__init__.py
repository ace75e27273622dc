"""An emulator of Bolna's ``/sip-trunks`` API, for tests, benchmarks and the local demo.

It is a test double of a documented API, not a second product: it answers what Bolna
documents (status codes, bodies, validation messages, list replacement on PATCH, the
cascade on delete, the per-account rate limit) and never accepts what Bolna documents
as an error. Faults the real service shows now and then (latency, 5xx answers,
timeouts, 429 bursts, a response lost after the change was made) can be switched on,
from the command line or at runtime, with a seeded random generator so a failing run
can be replayed.

Modules, smallest first:

- ``store``: accounts, trunks and numbers; pure state and validation, no HTTP.
- ``faults``: fault settings and the per-request decision drawn from them.
- ``ratelimit``: the per-account sliding window.
- ``statefile``: the ``--state`` file (a snapshot plus one appended line per change).
- ``app``: the aiohttp server (routes, auth, limits, faults, admin API, state file).
- ``process``: :class:`~bolna_emulator.process.EmulatorProcess`, the emulator as a
  child process for tests and benchmarks.

Run it with ``bolna-sip-operator emulator --help``. This package imports nothing
heavy at import time, so the operator's CLI stays quick to start.
"""

import hashlib

TOKENS_ENV = "BOLNA_EMULATOR_TOKENS"
"""Environment variable with comma-separated API tokens, so they need not appear in
``ps`` output; joined with any ``--token`` options."""

LISTENING_PREFIX = "bolna emulator listening on "
"""Start of the one line the emulator prints to stdout once it accepts connections;
the URL follows. A parent process reads it to learn the port."""


def account_label(token: str) -> str:
    """How logs, the admin API and the state file name a token's account: the first 8
    hex digits of its SHA-256, enough to tell accounts apart, useless to call the API."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


__all__ = ["LISTENING_PREFIX", "TOKENS_ENV", "account_label"]
