"""Bolna's SIP trunk API: async client, wire shapes, typed errors, rate limiting.

A thin adapter at the edge of the operator: no planning happens here, only calls that
are safe to repeat (or clearly marked when they are not).
"""

from .client import (
    DEFAULT_BASE_URL,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_ANSWER_BYTES,
    SIP_TRUNKS_API,
    ApiPaths,
    BolnaClient,
    CallCounts,
)
from .errors import (
    AnswerTooLarge,
    BadRequest,
    BolnaError,
    Conflict,
    DeadlineExceeded,
    NetworkError,
    NotFound,
    PermanentError,
    RateLimited,
    Rejected,
    ServerError,
    TemporaryError,
    Unauthorized,
    UncertainOutcome,
    UnexpectedResponse,
)
from .ratelimit import SHARED_LIMITERS, LimiterRegistry, RateLimiter
from .redact import Redactor
from .retry import RetryPolicy
from .wire import (
    GatewayCreate,
    IpIdentifier,
    IpIdentifierCreate,
    NumberCreate,
    PhoneNumber,
    Trunk,
    TrunkCreate,
    TrunkGateway,
    TrunkUpdate,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_ANSWER_BYTES",
    "SHARED_LIMITERS",
    "SIP_TRUNKS_API",
    "AnswerTooLarge",
    "ApiPaths",
    "BadRequest",
    "BolnaClient",
    "BolnaError",
    "CallCounts",
    "Conflict",
    "DeadlineExceeded",
    "GatewayCreate",
    "IpIdentifier",
    "IpIdentifierCreate",
    "LimiterRegistry",
    "NetworkError",
    "NotFound",
    "NumberCreate",
    "PermanentError",
    "PhoneNumber",
    "RateLimited",
    "RateLimiter",
    "Redactor",
    "Rejected",
    "RetryPolicy",
    "ServerError",
    "TemporaryError",
    "Trunk",
    "TrunkCreate",
    "TrunkGateway",
    "TrunkUpdate",
    "Unauthorized",
    "UncertainOutcome",
    "UnexpectedResponse",
]
