"""A small, careful client for Railway's public GraphQL API.

Why not a generic GraphQL library: what matters here is behaviour around the
request, not building it. The client

* bounds every call by an overall deadline (``call_deadline``), not only per
  socket read: a response trickled one byte a second cannot hold ``pulumi up``;
* retries queries on network errors, 429 (honouring ``Retry-After`` but never
  waiting less than ``min_backoff``), 5xx and Railway's transient "Problem
  processing request", with bounded exponential backoff;
* never re-sends a mutation that may have reached Railway: a timeout, reset,
  5xx or transient error after the request was sent raises
  :class:`RailwayOutcomeUnknown`, and the caller *looks the object up* instead
  (see providers.py). Only a request that provably never left (connection
  refused, DNS, connect timeout) or that Railway refused with 429 is re-sent;
* classifies errors from what the response says structurally (HTTP status,
  ``errors`` present) and maps Railway's two auth messages to
  :class:`RailwayAuthError`. It never decides that an object is *gone* from an
  error text: providers decide that from a successful listing;
* counts every request it sends (``requests_sent`` and the per-process total
  :func:`run_request_count`, printed by the providers: the Free plan allows 100
  requests an hour);
* passes every message through :data:`SCRUBBER`, which removes every secret
  the program holds (token, passwords, private keys, passwords inside URLs).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.exceptions import ConnectTimeout
from urllib3.exceptions import NewConnectionError

DEFAULT_ENDPOINT = "https://backboard.railway.com/graphql/v2"
TOKEN_KINDS = ("account", "workspace", "project")

LOG = logging.getLogger("coachdb_infra.railway")

# Config keys as the user sets them (`pulumi config set coachdb:<key>`).
KEY_TOKEN = "coachdb:railwayToken"  # noqa: S105 - a config key name
KEY_TOKEN_KIND = "coachdb:railwayTokenKind"  # noqa: S105 - a config key name
KEY_PROJECT_ID = "coachdb:railwayProjectId"
KEY_WORKSPACE_ID = "coachdb:railwayWorkspaceId"
KEY_ENVIRONMENT = "coachdb:railwayEnvironment"
KEY_DEPLOY_TIMEOUT = "coachdb:railwayDeployTimeout"
CONFIG_KEYS = (
    KEY_TOKEN,
    KEY_TOKEN_KIND,
    KEY_PROJECT_ID,
    KEY_WORKSPACE_ID,
    KEY_ENVIRONMENT,
    KEY_DEPLOY_TIMEOUT,
    "coachdb:railwayProjectName",
    "coachdb:railwayServiceName",
    "coachdb:railwayPublicProxy",
    "coachdb:railwayRegion",
    "coachdb:railwayApiEndpoint",
    "coachdb:railwayBackupSchedules",
    "coachdb:protectVolume",
)
"""Every key an error message may name (tests check messages against this list)."""

# Operations a project token can never perform: it is bound to one environment
# of one existing project. Railway answers them with "Not Authorized".
NEEDS_ACCOUNT_TOKEN = frozenset(
    {
        "projectCreate",
        "projectDelete",
        "projectUpdate",
        "environmentCreate",
        "environmentDelete",
        "projects",
        "me",
    }
)

# Railway's auth answers (it sends no error code): "Not Authorized" for a token
# that may not do this, "Project Token not found" for a revoked project token.
_AUTH_MESSAGES = ("not authorized", "project token not found", "unauthorized")
# Railway's generic transient failure inside a 200 answer.
_TRANSIENT_MESSAGES = ("problem processing request",)
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class RailwayError(RuntimeError):
    """Base class; the message is scrubbed (it never holds a secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(SCRUBBER.scrub(message))


class RailwayAuthError(RailwayError):
    """The token was refused, or is the wrong kind for the operation."""


class RailwayNotFound(RailwayError):
    """A configured id is unknown or invisible to the token (a message only: state is
    never dropped because of it, only because a listing no longer shows the object)."""


class RailwayRateLimited(RailwayError):
    """Railway's hourly request limit was reached and the wait is too long to sit out."""


class RailwayUnavailable(RailwayError):
    """Network failure, 5xx or deadline on a query after every retry."""


class RailwayOutcomeUnknown(RailwayError):
    """A mutation may or may not have been applied (lost answer, timeout, 5xx after sending).

    Providers catch it and look the object up; it reaches the user only when
    the lookup cannot decide either.
    """


RailwayAmbiguous = RailwayOutcomeUnknown  # the name earlier versions used


# --- one scrubber for every secret -------------------------------------------------

_PEM_PRIVATE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?=@)", re.I)
_MIN_SECRET = 6


class Scrubber:
    """Removes every registered secret, every PEM private key and every URL password.

    One per process (:data:`SCRUBBER`): the provider host registers what each
    call holds (token, variable values that are secrets, role passwords) before
    it talks to anyone, and every error, warning and log line passes through it.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, *values: object) -> None:
        for value in values:
            if isinstance(value, Mapping):
                self.register(*value.values())
            elif isinstance(value, list | tuple | set):
                self.register(*value)
            elif isinstance(value, str) and len(value) >= _MIN_SECRET:
                with self._lock:
                    self._secrets.add(value)
                    for match in _URL_PASSWORD.finditer(value):
                        self._secrets.add(match.group("pw"))
                    # JSON-escaped forms (a server echoing our request body)
                    self._secrets.add(json.dumps(value)[1:-1])

    def scrub(self, text: str) -> str:
        text = _PEM_PRIVATE.sub("[redacted private key]", text)
        text = _URL_PASSWORD.sub(r"\g<head>[redacted]", text)
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret and secret in text:
                text = text.replace(secret, "[redacted]")
        return text


SCRUBBER = Scrubber()


class _ScrubbingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = SCRUBBER.scrub(record.getMessage())
        record.args = None
        return True


LOG.addFilter(_ScrubbingFilter())


# --- request accounting ------------------------------------------------------------

_RUN_REQUESTS = [0]
_COUNT_LOCK = threading.Lock()


def run_request_count() -> int:
    """Requests sent to Railway by this process (the provider host lives one run)."""
    return _RUN_REQUESTS[0]


def _count_request() -> None:
    with _COUNT_LOCK:
        _RUN_REQUESTS[0] += 1


# --- helpers ---------------------------------------------------------------------


def header_for(kind: str) -> str:
    """The HTTP header Railway expects for a token kind."""
    if kind in ("account", "workspace"):
        return "Authorization"
    if kind == "project":
        return "Project-Access-Token"
    raise ValueError(f"token kind must be one of {', '.join(TOKEN_KINDS)}, not {kind!r}")


def describe_kind(kind: str) -> str:
    return {
        "account": "an account token (sent as 'Authorization: Bearer')",
        "workspace": "a workspace token (sent as 'Authorization: Bearer')",
        "project": "a project token (sent as 'Project-Access-Token')",
    }.get(kind, f"a {kind!r} token")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the request provably did not reach the server (connect-phase failure)."""
    if isinstance(exc, ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", reason)
    return isinstance(inner, NewConnectionError | ConnectionRefusedError)


class _Deadline(Exception):
    """The call's overall deadline passed while reading the answer."""


@dataclass
class RailwayClient:
    """POSTs GraphQL documents to Railway. Build one inside each provider method.

    The token lives in a field excluded from ``repr`` and is registered with
    :data:`SCRUBBER`, which every message the client produces passes through.
    """

    token: str = field(repr=False)
    token_kind: str = "account"  # noqa: S105 - a kind name, not a secret
    endpoint: str = DEFAULT_ENDPOINT
    timeout: float = 30.0
    """Per attempt: connect and each socket read."""
    call_deadline: float = 90.0
    """Overall bound of one :meth:`execute`, retries and waits included."""
    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    min_backoff: float = 1.0
    """Never wait less than this between attempts, even when Retry-After says 0."""
    max_retry_wait: float = 120.0
    low_quota: int = 20
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    session: requests.Session | None = field(default=None, repr=False)
    requests_sent: int = 0

    def __post_init__(self) -> None:
        header_for(self.token_kind)  # validates the kind
        if not self.token:
            raise RailwayAuthError(
                "no Railway token configured: set it with "
                f"`pulumi config set --secret {KEY_TOKEN}` (see docs/deploy-railway.md)"
            )
        SCRUBBER.register(self.token)

    # -- public API -------------------------------------------------------------

    def execute(
        self, document: str, variables: Mapping[str, Any] | None = None, *, op: str
    ) -> dict[str, Any]:
        """Run ``document`` and return its ``data``; ``op`` names the root field for messages."""
        is_mutation = document.lstrip().startswith("mutation")
        payload = {"query": document, "variables": dict(variables or {})}
        deadline = time.monotonic() + self.call_deadline
        attempt = 0
        while True:
            attempt += 1
            why, wait = self._attempt(op, payload, is_mutation, deadline, attempt)
            if isinstance(why, dict):
                return why
            if attempt >= self.max_attempts:
                raise RailwayUnavailable(
                    f"Railway did not answer {op} usefully after {attempt} attempts ({why}); "
                    "try again later (https://status.railway.com)."
                )
            wait = max(self.min_backoff, wait if wait is not None else self._backoff(attempt))
            if time.monotonic() + wait > deadline:
                raise RailwayUnavailable(
                    f"Railway did not answer {op} within {self.call_deadline:g}s "
                    f"({attempt} attempts, last: {why}); try again later."
                )
            LOG.warning("railway %s: %s, retrying in %.1fs", op, why, wait)
            self.sleep(wait)

    def scrub(self, text: str) -> str:
        return SCRUBBER.scrub(text)

    # -- one attempt ------------------------------------------------------------

    def _attempt(
        self,
        op: str,
        payload: dict[str, Any],
        is_mutation: bool,
        deadline: float,
        attempt: int,
    ) -> tuple[dict[str, Any] | str, float | None]:
        """Data on success, or (reason, wait) for a retry; raises when retrying is wrong."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._late(op, is_mutation, attempt)
        per_read = min(self.timeout, remaining)
        self.requests_sent += 1
        _count_request()
        try:
            response = self._session().post(
                self.endpoint,
                json=payload,
                headers=self._headers(),
                timeout=(per_read, per_read),
                stream=True,
            )
            raw = self._read_body(response, deadline)
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                return f"cannot reach {self.endpoint} ({type(exc).__name__})", None
            if is_mutation:
                raise self._unknown(op, f"the connection failed ({type(exc).__name__})") from None
            return f"connection lost ({type(exc).__name__})", None
        except (requests.Timeout, _Deadline):
            if is_mutation:
                raise self._unknown(op, "no complete answer in time") from None
            if time.monotonic() >= deadline:
                raise self._late(op, is_mutation, attempt) from None
            return "timeout", None

        status = response.status_code
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > self.max_retry_wait:
                raise RailwayRateLimited(
                    f"Railway's API rate limit was reached during {op}; it asks to retry "
                    f"in {wait:.0f}s. Limits are per hour by plan (100/1000/10000 "
                    "requests); wait and run `pulumi up` again."
                )
            if attempt >= self.max_attempts:
                raise RailwayRateLimited(
                    f"Railway's API rate limit was still reached after {attempt} attempts "
                    f"at {op}; wait a while and run `pulumi up` again."
                )
            return "HTTP 429", wait
        if status >= 500:
            if is_mutation:
                raise self._unknown(op, f"HTTP {status}")
            return f"HTTP {status}", None
        if status in (401, 403):
            raise RailwayAuthError(self._auth_message(op, f"HTTP {status}"))
        try:
            body = json.loads(raw)
        except ValueError:
            raise RailwayError(
                f"Railway answered {op} with HTTP {status} and a non-JSON body"
            ) from None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            messages = [str(err.get("message") if isinstance(err, dict) else err) for err in errors]
            joined = "; ".join(messages) or "unknown error"
            lowered = joined.lower()
            if any(marker in lowered for marker in _AUTH_MESSAGES):
                raise RailwayAuthError(self._auth_message(op, joined))
            if any(marker in lowered for marker in _TRANSIENT_MESSAGES):
                if is_mutation:
                    raise self._unknown(op, joined)
                return joined, None
            raise RailwayError(f"Railway rejected {op}: {joined}")
        if status >= 400:
            raise RailwayError(f"Railway answered {op} with HTTP {status}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise RailwayError(f"Railway's answer to {op} has no data")
        LOG.debug("railway %s: ok (attempt %d)", op, attempt)
        self._note_quota(response.headers, op)
        return data, None

    @staticmethod
    def _read_body(response: requests.Response, deadline: float) -> bytes:
        """Read the whole body, giving up at ``deadline`` however slowly it trickles."""
        chunks = []
        try:
            while True:
                if time.monotonic() >= deadline:
                    raise _Deadline()
                chunk = response.raw.read1(65536, decode_content=True)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        except Exception as exc:  # urllib3 read errors -> requests' classes
            if isinstance(exc, _Deadline):
                raise
            from urllib3.exceptions import ProtocolError, ReadTimeoutError

            if isinstance(exc, ReadTimeoutError):
                raise requests.Timeout(str(exc)) from None
            if isinstance(exc, ProtocolError):
                raise requests.ConnectionError(str(exc)) from None
            raise
        finally:
            response.close()

    def _unknown(self, op: str, why: str) -> RailwayOutcomeUnknown:
        return RailwayOutcomeUnknown(
            f"Railway may or may not have applied {op} ({why}); it was not re-sent"
        )

    def _late(self, op: str, is_mutation: bool, attempt: int) -> RailwayError:
        if is_mutation:
            return self._unknown(op, f"no answer within {self.call_deadline:g}s")
        return RailwayUnavailable(
            f"Railway did not answer {op} within {self.call_deadline:g}s "
            f"after {attempt} attempts; try again later."
        )

    # -- internals --------------------------------------------------------------

    def _session(self) -> requests.Session:
        if self.session is None:
            self.session = requests.Session()
            # requests would otherwise read ~/.netrc and could override our header
            self.session.trust_env = False
        return self.session

    def _headers(self) -> dict[str, str]:
        name = header_for(self.token_kind)
        value = f"Bearer {self.token}" if name == "Authorization" else self.token
        return {
            name: value,
            "Content-Type": "application/json",
            "User-Agent": "coachdb-infra-pulumi",
        }

    def _note_quota(self, headers: Mapping[str, str], op: str) -> None:
        """Warn while there is still time when the hourly request budget runs low."""
        try:
            remaining = int(headers.get("X-RateLimit-Remaining", ""))
        except ValueError:
            return
        if remaining <= self.low_quota:
            LOG.warning(
                "railway %s: only %d API requests left in this hour's rate-limit window",
                op,
                remaining,
            )

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    def _auth_message(self, op: str, detail: str) -> str:
        sent = describe_kind(self.token_kind)
        project_token = self.token_kind == "project"  # noqa: S105 - a kind name
        if op in NEEDS_ACCOUNT_TOKEN and project_token:
            hint = (
                f"{op} needs an account or workspace token (Authorization: Bearer); a project "
                "token only reaches one environment of an existing project. Create one under "
                f"Account Settings -> Tokens and set {KEY_TOKEN_KIND} to 'account' or "
                "'workspace'."
            )
        elif project_token:
            hint = (
                f"check that the project token ({KEY_TOKEN}) is not revoked and belongs to "
                f"{KEY_PROJECT_ID} and {KEY_ENVIRONMENT}, or use an account/workspace token "
                f"({KEY_TOKEN_KIND} 'account' or 'workspace')."
            )
        else:
            hint = (
                f"check that {KEY_TOKEN} is valid and not revoked, and that its workspace owns "
                "the project. A project token must be sent as Project-Access-Token: set "
                f"{KEY_TOKEN_KIND} to 'project' if that is what you created."
            )
        return f"Railway refused {sent} for {op} ({detail}): {hint}"


def edges(connection: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The nodes of a GraphQL connection (``{edges: [{node}]}``)."""
    return [edge["node"] for edge in (connection or {}).get("edges", [])]


def register_secrets(values: Iterable[object]) -> None:
    """Shorthand for :meth:`Scrubber.register` on :data:`SCRUBBER`."""
    SCRUBBER.register(*values)
