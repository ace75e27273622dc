"""Bolna's SIP trunk APIs: async client, wire shapes, typed errors, rate limiting.

``BolnaClient`` speaks the ``/sip-trunks`` API (``SipTrunk``); ``TrunkApi`` the newer
``/trunk`` API (``CarrierTrunk``) over the same client and its machinery.

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
from .trunk_api import TRUNK_API_PATHS, CallDirection, TrunkApi, TrunkPaths
from .trunk_wire import (
    HEALTH_STATES,
    BolnaHealth,
    CallRecord,
    ConnectionDetails,
    GatewayRecord,
    HealthState,
    IpAclRecord,
    NumberRecord,
    TrunkRecord,
    live_numbers,
    read_health,
)
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
    "HEALTH_STATES",
    "SHARED_LIMITERS",
    "SIP_TRUNKS_API",
    "TRUNK_API_PATHS",
    "AnswerTooLarge",
    "ApiPaths",
    "BadRequest",
    "BolnaClient",
    "BolnaError",
    "BolnaHealth",
    "CallCounts",
    "CallDirection",
    "CallRecord",
    "Conflict",
    "ConnectionDetails",
    "DeadlineExceeded",
    "GatewayCreate",
    "GatewayRecord",
    "HealthState",
    "IpAclRecord",
    "IpIdentifier",
    "IpIdentifierCreate",
    "LimiterRegistry",
    "NetworkError",
    "NotFound",
    "NumberCreate",
    "NumberRecord",
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
    "TrunkApi",
    "TrunkCreate",
    "TrunkGateway",
    "TrunkPaths",
    "TrunkRecord",
    "TrunkUpdate",
    "Unauthorized",
    "UncertainOutcome",
    "UnexpectedResponse",
    "live_numbers",
    "read_health",
]
