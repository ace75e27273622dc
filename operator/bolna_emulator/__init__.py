"""An emulator of Bolna's SIP trunk APIs (``/sip-trunks`` and the newer ``/trunk``), for
tests, benchmarks and the local demo.

It is a test double of a documented API, not a second product: it answers what Bolna
documents (status codes, bodies, validation messages, list replacement on PATCH, the
cascade on delete, the per-account rate limit) and never accepts what Bolna documents
as an error: request bodies are checked against Bolna's own OpenAPI, and a PATCH field
that Bolna's update schema lacks is ignored, as Bolna's FastAPI service ignores it
(``app.py`` lists where the OpenAPI is silent and what the emulator assumes). Faults
the real service shows now and then (latency, 5xx answers, timeouts, 429 bursts, a
response lost after the change was made) can be switched on, from the command line or
at runtime, with a seeded random generator so a failing run can be replayed; so can
answers shaped like Bolna's sparse examples and numbers that appear late.

Modules, smallest first:

- ``openapi``: Bolna's published OpenAPI for ``/sip-trunks``, the contract.
- ``validation``: request bodies checked against its request schemas, refused as
  FastAPI refuses them (422 with a ``detail`` list).
- ``store``: accounts, trunks and numbers; pure state and validation, no HTTP.
- ``faults``: fault settings (and answer-shape switches) and the per-request decision
  drawn from them.
- ``answers``: sparse answers, left-out fields, numbers that appear late.
- ``ratelimit``: the per-account sliding window.
- ``statefile``: the ``--state`` file (a snapshot plus one appended line per change).
- ``trunk_validation``, ``trunk_store``, ``trunk_routes``: Bolna's newer ``/trunk``
  API (its request models, its state and rules, its routes and admin routes), served
  beside ``/sip-trunks`` with the same faults, tokens and rate limit.
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

SETTINGS_ENV = "BOLNA_EMULATOR_SETTINGS"
"""Environment variable with a JSON object of settings (as ``PUT /_emulator/faults``
takes, e.g. ``{"sparse_answers": true, "late_numbers_seconds": 2}``) applied at start
over the command line's; a reset comes back to them. How
:class:`~bolna_emulator.process.EmulatorProcess` passes the settings that have no
command-line flag."""

LISTENING_PREFIX = "bolna emulator listening on "
"""Start of the one line the emulator prints to stdout once it accepts connections;
the URL follows. A parent process reads it to learn the port."""


def account_label(token: str) -> str:
    """How logs, the admin API and the state file name a token's account: the first 8
    hex digits of its SHA-256, enough to tell accounts apart, useless to call the API."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


__all__ = ["LISTENING_PREFIX", "SETTINGS_ENV", "TOKENS_ENV", "account_label"]
