"""Fault switches, and the decision drawn from them for each request.

The faults are the ones a client of Bolna must survive: slow answers, 5xx answers,
requests that hang and then die, bursts of 429, and the lost response (the change is
made, then the connection drops before the answer, so the client cannot tell whether
its create happened).

The same settings object holds the switches of how Bolna answers when nothing fails
(all changeable at runtime with ``PUT /_emulator/faults``, all undone by a reset):

- what a field outside the request schema gets, on create and on PATCH;
- sparse answers, shaped like the setup guide's examples, and fields left out of every
  answer;
- numbers that appear late (and a numbers list that fails meanwhile), as Bolna's own
  tooling records;
- whether the request log keeps request bodies (passwords redacted);
- for ``/trunk``: whether ``health`` reads as the dashboard's labels, and the connection
  details ``GET /trunk/pop`` answers.

Every ``/sip-trunks`` and ``/trunk`` request draws the same five numbers from one seeded
generator, whatever the settings and whatever the outcome, so the same seed and the same
sequence of requests meet the same faults: a failure seen once can be replayed. When no seed is
given one is picked and reported by the admin API, for the same reason.

Two schedules need no luck at all: a burst of N x 429 every T seconds for as long as it
is on (``burst_429_every_seconds``, ``burst_429_size``: a busy account shared with other
users), and a plan that answers the first N requests of each route 5xx
(``error_first_per_route``), for a test that must meet a 5xx on every call and then
converge, the same way every run.
"""

from __future__ import annotations

import dataclasses
import math
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ERROR_STATUSES", "UNKNOWN_FIELD_CHOICES", "FaultDecision", "FaultInjector",
           "FaultSettings"]

UNKNOWN_FIELD_CHOICES = ("refuse", "ignore")
"""What a request field outside the OpenAPI's request schema gets: a 422
(``extra_forbidden``, a pydantic model with ``extra="forbid"``) or nothing (dropped
unseen, pydantic's default)."""

ERROR_STATUSES = (500, 502, 503)
"""The 5xx answers of the error fault, picked at random: a client must treat them alike."""

FaultKind = Literal["burst-429", "timeout", "error"]


@dataclass(frozen=True)
class FaultSettings:
    """Fault switches and limits; all can be changed at runtime (``PUT /_emulator/faults``).

    Attributes:
        latency_ms: added to every API answer (``/sip-trunks`` and ``/trunk``).
        latency_jitter_ms: a further uniform 0..jitter ms.
        error_rate: share of requests answered 500/502/503 before anything is done.
        timeout_rate: share of requests held for ``timeout_seconds``, then closed
            without an answer (drawn before ``error_rate``).
        timeout_seconds: how long a timed-out request is held.
        drop_after_commit_rate: share of successful POST/PATCH/DELETE whose change is
            made and whose connection is then dropped without an answer.
        rate_limit: requests per ``rate_window_seconds`` per account (Bolna: 1000/min).
        rate_window_seconds: the sliding window of the rate limit.
        retry_after: send ``Retry-After`` with 429 answers (Bolna does not promise it).
        burst_retry_after_seconds: the ``Retry-After`` of a 429 burst's answers.
        burst_429_every_seconds: every this many seconds from when it is set (0: off),
            the next ``burst_429_size`` requests are answered 429, the first burst at
            once: a busy account shared with others, for as long as the setting lasts.
        burst_429_size: the requests of each scheduled burst.
        error_first_per_route: the first this many requests of each route (method and
            path template, e.g. ``POST /sip-trunks/trunks``) from when it is set are
            answered 5xx: a deterministic plan, whatever the timing.
        unknown_fields_on_create: ``"refuse"`` (default) or ``"ignore"`` a field outside
            SIPTrunkCreateRequest (``is_active``...) in a create, and outside
            SIPTrunkPhoneNumberRequest in an added number.
        unknown_fields_on_update: ``"ignore"`` (default) or ``"refuse"`` a field outside
            SIPTrunkUpdateRequest (``direct_media``, ``rtp_symmetric``, ``force_rport``,
            ``provider``, ``auth_type``...) in a PATCH.
        sparse_answers: trunk answers hold only the fields of the setup guide's sparsest
            example answer (the TLS one: no ``phone_numbers``, ``ip_identifiers``,
            ``auth_username``, ``allow``, ``disallow``, ``qualify_frequency``,
            ``direct_media``, ``rtp_symmetric``, ``force_rport``,
            ``outbound_leading_plus_enabled``, ``description``), and number answers
            those of its number example (no ``name``).
        omit_trunk_fields: further fields left out of every trunk answer.
        omit_number_fields: further fields left out of every number answer.
        late_numbers_seconds: a number just added (on its own or at creation) is left
            out of its trunk's ``phone_numbers`` and of ``GET .../numbers`` for this
            many seconds.
        late_numbers_reads: ... and for this many answers that would have shown it
            (with both set, until both have passed).
        late_numbers_list_error: while a trunk has a number not shown yet,
            ``GET .../numbers`` answers 500.
        record_bodies: the request log keeps each ``/sip-trunks`` and ``/trunk``
            request's JSON body, every ``auth_password`` replaced by ``"REDACTED"``.
        trunk_health_labels: ``/trunk`` answers ``health`` as the dashboard's labels
            (``"Waiting for carrier"``, ``"Healthy"``, ``"Degraded"``, ``"Disabled"``)
            instead of ``waiting_for_carrier``, ``healthy``, ``degraded``, ``disabled``.
        refused_accounts: accounts (``account_label`` of their token) whose token is
            answered 403 ``Unrecognized access token`` as an unknown one is, though it
            is known: a revoked token, or a moment of trouble in Bolna's own auth or a
            WAF in front of it. Taken out of the list, the token works again.
        trunk_pop_sip_domain, trunk_pop_port, trunk_pop_transports, trunk_pop_ips,
            trunk_pop_rtp_ports: what ``GET /trunk/pop`` answers (defaults: the values
            of Bolna's guides).
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    drop_after_commit_rate: float = 0.0
    rate_limit: int = 1000
    rate_window_seconds: float = 60.0
    retry_after: bool = True
    burst_retry_after_seconds: int = 1
    burst_429_every_seconds: float = 0.0
    burst_429_size: int = 5
    error_first_per_route: int = 0
    unknown_fields_on_create: str = "refuse"
    unknown_fields_on_update: str = "ignore"
    sparse_answers: bool = False
    omit_trunk_fields: tuple[str, ...] = ()
    omit_number_fields: tuple[str, ...] = ()
    late_numbers_seconds: float = 0.0
    late_numbers_reads: int = 0
    late_numbers_list_error: bool = False
    record_bodies: bool = False
    trunk_health_labels: bool = False
    refused_accounts: tuple[str, ...] = ()
    trunk_pop_sip_domain: str = "trunk.bolna.ai"
    trunk_pop_port: int = 5060
    trunk_pop_transports: tuple[str, ...] = ("udp", "tcp")
    trunk_pop_ips: tuple[str, ...] = ("15.252.21.46", "13.206.230.198")
    trunk_pop_rtp_ports: str = "30000-40000"

    def __post_init__(self) -> None:
        for name in ("error_rate", "timeout_rate", "drop_after_commit_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("latency_ms", "latency_jitter_ms", "timeout_seconds",
                     "burst_429_every_seconds"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a number of at least 0")
        if self.rate_limit < 1:
            raise ValueError("rate_limit must be at least 1")
        if not math.isfinite(self.rate_window_seconds) or self.rate_window_seconds <= 0:
            raise ValueError("rate_window_seconds must be more than 0")
        if self.burst_retry_after_seconds < 0:
            raise ValueError("burst_retry_after_seconds must be at least 0")
        if self.burst_429_size < 0 or self.error_first_per_route < 0:
            raise ValueError("burst_429_size and error_first_per_route must be at least 0")
        for name in ("unknown_fields_on_create", "unknown_fields_on_update"):
            if getattr(self, name) not in UNKNOWN_FIELD_CHOICES:
                raise ValueError(f"{name} must be one of {', '.join(UNKNOWN_FIELD_CHOICES)}")
        if not math.isfinite(self.late_numbers_seconds) or self.late_numbers_seconds < 0:
            raise ValueError("late_numbers_seconds must be a number of at least 0")
        if self.late_numbers_reads < 0:
            raise ValueError("late_numbers_reads must be at least 0")
        if not 1 <= self.trunk_pop_port <= 65535:
            raise ValueError("trunk_pop_port must be from 1 to 65535")
        for name, schema in (("omit_trunk_fields", "SIPTrunkResponse"),
                             ("omit_number_fields", "SIPTrunkPhoneNumberResponse")):
            fields = getattr(self, name)
            if fields:
                from .openapi import schema as openapi_schema

                known = set(openapi_schema(schema)["properties"])
                unknown = [field for field in fields if field not in known]
                if unknown:
                    raise ValueError(f"{name}: not fields of {schema}: {unknown}; known: "
                                     f"{', '.join(sorted(known))}")

    def with_changes(self, changes: Mapping[str, object]) -> FaultSettings:
        """A copy with ``changes`` applied, each checked for its type and range.

        Raises:
            ValueError: an unknown setting, a wrong type or a value out of range.
        """
        kinds = {f.name: f.type for f in dataclasses.fields(self)}
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in kinds:
                raise ValueError(f"unknown fault setting {name!r}; known: "
                                 f"{', '.join(sorted(kinds))}")
            kind = kinds[name]
            if kind == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif kind == "str":
                if not isinstance(value, str):
                    raise ValueError(f"{name} must be a string")
            elif kind == "tuple[str, ...]":
                if not isinstance(value, list | tuple) or not all(
                        isinstance(item, str) for item in value):
                    raise ValueError(f"{name} must be a list of strings")
                values[name] = tuple(value)
                continue
            elif kind == "int":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"{name} must be an integer")
            elif not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{name} must be a number")
            values[name] = float(value) if kind == "float" else value
        return dataclasses.replace(self, **values)

    def to_json(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one request.

    Attributes:
        delay_seconds: wait this long first.
        kind: answer with this fault instead of the API (None: the API answers).
        error_status: the 5xx to answer when ``kind`` is ``"error"``.
        drop_after_commit: if the API answers 2xx to a POST/PATCH/DELETE, drop the
            connection instead of sending it.
    """

    delay_seconds: float = 0.0
    kind: FaultKind | None = None
    error_status: int = 500
    drop_after_commit: bool = False


NO_FAULT = FaultDecision()


class FaultInjector:
    """The current settings, the seeded generator, the 429 burst countdown and its
    schedule, and the per-route plan's counts."""

    def __init__(self, settings: FaultSettings, seed: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.burst_remaining = 0
        self.seed = secrets.randbits(32) if seed is None else seed
        self._rng = random.Random(self.seed)
        self._clock = clock
        self._schedule_from = clock()
        self._bursts_armed = -1
        """The last scheduled burst started (by its number since ``_schedule_from``)."""
        self._route_errors: Counter[str] = Counter()

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply ``PUT /_emulator/faults``: settings, plus ``seed`` (re-seeds the
        generator) and ``burst_429`` (answer the next N requests 429). All are checked
        before any is applied.

        Raises:
            ValueError: as :meth:`FaultSettings.with_changes`, or a bad seed or burst.
        """
        rest = dict(changes)
        seed = rest.pop("seed", None)
        burst = rest.pop("burst_429", None)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError("seed must be an integer")
        if burst is not None and (not isinstance(burst, int) or isinstance(burst, bool)
                                  or burst < 0):
            raise ValueError("burst_429 must be an integer of at least 0")
        settings = self.settings.with_changes(rest)
        if settings.burst_429_every_seconds != self.settings.burst_429_every_seconds:
            self._schedule_from, self._bursts_armed = self._clock(), -1
        if "error_first_per_route" in rest:
            self._route_errors.clear()
        self.settings = settings
        if seed is not None:
            self.seed = seed
            self._rng = random.Random(seed)
        if burst is not None:
            self.burst_remaining = burst

    def decide(self, *, mutating: bool, route: str | None = None) -> FaultDecision:
        """Draw the fate of one API request (always five draws); ``route`` names it for
        the per-route plan (``POST /sip-trunks/trunks``)."""
        s = self.settings
        jitter, timeout, error, status, drop = (self._rng.random() for _ in range(5))
        if s.burst_429_every_seconds > 0:
            burst = int((self._clock() - self._schedule_from) // s.burst_429_every_seconds)
            if burst > self._bursts_armed:
                self._bursts_armed = burst
                self.burst_remaining = max(self.burst_remaining, s.burst_429_size)
        kind: FaultKind | None = None
        if self.burst_remaining > 0:
            self.burst_remaining -= 1
            kind = "burst-429"
        elif route is not None and self._route_errors[route] < s.error_first_per_route:
            self._route_errors[route] += 1
            kind = "error"
        elif timeout < s.timeout_rate:
            kind = "timeout"
        elif error < s.error_rate:
            kind = "error"
        return FaultDecision(
            delay_seconds=(s.latency_ms + jitter * s.latency_jitter_ms) / 1000.0,
            kind=kind,
            error_status=ERROR_STATUSES[int(status * len(ERROR_STATUSES))],
            drop_after_commit=mutating and kind is None and drop < s.drop_after_commit_rate,
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.settings.to_json(), "burst_429": self.burst_remaining,
                "seed": self.seed}
