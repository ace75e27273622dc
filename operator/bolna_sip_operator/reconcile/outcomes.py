"""One classifier of failures, shared by reconcile and finalize.

Every failure of a Bolna or Secret step ends here and leaves as one of two outcomes:

- permanent (``Stalled``): Bolna refused the spec (4xx), the token (401/403), a name or
  ID is someone else's, a Secret is missing. Retrying changes nothing; the operator
  waits for the spec or a referenced Secret (or the default token) to change. A refused
  token alone is also retried slowly, and at once when the token works again
  (``refusals``): a refusal can be a passing fault of Bolna's, or of a WAF before it.
- temporary (``retry``): 429, 5xx, timeouts, a lost answer. Retried with backoff, and
  the error is the message of ``Reconciling`` meanwhile.

``reason`` is the CamelCase word users see in the REASON column and in Events, so each
class of trouble has its own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..bolna import (
    Conflict,
    NotFound,
    PermanentError,
    RateLimited,
    TemporaryError,
    Unauthorized,
    UncertainOutcome,
)
from ..kube import SecretUnavailable


class Stalled(Exception):  # noqa: N818 (a state, not a bug)
    """Permanent trouble found by the operator itself (not an answer from Bolna)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class RetryLater(Exception):  # noqa: N818
    """Temporary trouble found by the operator itself: retry after ``delay`` seconds."""

    def __init__(self, reason: str, message: str, delay: float) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.delay = delay


@dataclass(frozen=True)
class Outcome:
    """A failure, classified."""

    permanent: bool
    reason: str
    message: str
    delay: float = 0.0
    """Seconds before a retry (temporary outcomes only)."""


CLASSIFIED = (Stalled, RetryLater, PermanentError, TemporaryError, SecretUnavailable)
"""The exceptions ``classify`` knows; anything else is a bug and propagates."""


def classify(error: BaseException, *, doing: str,
             token_retry: str = "retried when it changes") -> Outcome:
    """The outcome of ``error``, raised while ``doing`` (e.g. "updating trunk X").

    ``token_retry`` ends the message of a refused token: when it is tried again.
    """
    if isinstance(error, Stalled):
        return Outcome(True, error.reason, error.message)
    if isinstance(error, RetryLater):
        return Outcome(False, error.reason, error.message, error.delay)
    if isinstance(error, SecretUnavailable):
        return Outcome(True, "SecretNotFound", f"{error}: create it, or fix the reference; "
                       "the trunk is reconciled as soon as the Secret changes")
    if isinstance(error, Unauthorized):
        return Outcome(True, "Unauthorized", f"Bolna refused the API token while {doing} "
                       f"({error.message}): fix the token Secret (or the operator's default "
                       f"token); {token_retry}")
    if isinstance(error, Conflict):
        return Outcome(True, "Conflict", f"Bolna refused {doing}: {error.message}")
    if isinstance(error, NotFound):
        return Outcome(True, "NotFound", f"Bolna has no such object while {doing}: "
                       f"{error.message}")
    if isinstance(error, PermanentError):
        return Outcome(True, "Rejected", f"Bolna rejected {doing}: {error.message}")
    if isinstance(error, RateLimited):
        return Outcome(False, "RateLimited", f"Bolna is rate limiting this account while "
                       f"{doing}: {error}", backoff(error.retry_after))
    if isinstance(error, UncertainOutcome):
        return Outcome(False, "AnswerLost", f"the answer to {doing} was lost ({error}); "
                       "Bolna is looked at again before anything is repeated", 1.0)
    if isinstance(error, TemporaryError):
        return Outcome(False, "BolnaUnavailable", f"Bolna could not be reached or failed "
                       f"while {doing}: {error}", backoff(None))
    raise error


NUMBER_TAKEN_RETRY = 30.0
"""Seconds between attempts to add a number Bolna holds on another trunk."""


def number_taken(number: str, error: Conflict) -> RetryLater:
    """A number Bolna holds on another trunk: temporary, not a refusal of the spec.

    Moving a number between two trunks in one apply reaches the new trunk first as often
    as not; the old one releases it moments later. Stalling would leave the number on
    neither trunk until a person touched the spec.
    """
    return RetryLater("NumberTaken", f"Bolna holds number {number} on another trunk "
                      f"({error.message}); adding it again every {NUMBER_TAKEN_RETRY:.0f} s: "
                      "it joins this trunk once the other trunk lets it go",
                      NUMBER_TAKEN_RETRY)


def backoff(retry_after: float | None) -> float:
    """Seconds before a retry: Bolna's Retry-After when given, else a jittered few."""
    if retry_after is not None:
        return max(1.0, retry_after)
    return 2.0 + random.uniform(0, 3.0)
