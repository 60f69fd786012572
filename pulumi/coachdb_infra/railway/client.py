"""A small, careful client for Railway's public GraphQL API.

Why not a generic GraphQL library: what matters here is behaviour around the
request, not building it. The client

* always sends a timeout (a hung API must not hang ``pulumi up``);
* retries 429 (honouring ``Retry-After``) and 5xx with bounded exponential
  backoff, and retries a *timed-out query* but never a timed-out mutation
  (it may have been applied: the user is told to ``pulumi refresh``);
* turns GraphQL ``errors`` into exceptions whose text says what to do
  (which token kind an operation needs, that a project id is unknown);
* never lets the token reach a log line, ``repr`` or exception text.

Railway's limits are per hour (100 / 1000 / 10000 requests by plan); when the
server asks us to wait longer than ``max_retry_wait`` the client stops with a
message instead of sleeping for an hour inside ``pulumi up``.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

DEFAULT_ENDPOINT = "https://backboard.railway.com/graphql/v2"
TOKEN_KINDS = ("account", "workspace", "project")

LOG = logging.getLogger("coachdb_infra.railway")

# Operations a project token can never perform: it is bound to one environment
# of one existing project. Railway answers them with "Not Authorized".
NEEDS_ACCOUNT_TOKEN = frozenset(
    {
        "projectCreate",
        "projectDelete",
        "projectUpdate",
        "environmentCreate",
        "environmentDelete",
    }
)

_AUTH_MARKERS = ("not authorized", "unauthorized", "not authenticated", "invalid token")
_NOT_FOUND_MARKERS = ("not found", "does not exist", "no project", "no service")


class RailwayError(RuntimeError):
    """Base class; the message is safe to show (it never holds the token)."""


class RailwayAuthError(RailwayError):
    """The token was refused, or is the wrong kind for the operation."""


class RailwayNotFound(RailwayError):
    """The id named in the request does not exist (or the token cannot see it)."""


class RailwayRateLimited(RailwayError):
    """Railway's hourly request limit was reached and the wait is too long to sit out."""


class RailwayUnavailable(RailwayError):
    """Network failure or 5xx after every retry."""


class RailwayAmbiguous(RailwayError):
    """A mutation timed out: Railway may or may not have applied it."""


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


@dataclass
class RailwayClient:
    """POSTs GraphQL documents to Railway. Build one inside each provider method.

    The token lives in a field excluded from ``repr``; every message the client
    produces passes through :meth:`scrub` as a second line of defence.
    """

    token: str = field(repr=False)
    token_kind: str = "account"  # noqa: S105 - a kind name, not a secret
    endpoint: str = DEFAULT_ENDPOINT
    timeout: float = 30.0
    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    max_retry_wait: float = 120.0
    low_quota: int = 20
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    session: requests.Session | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        header_for(self.token_kind)  # validates the kind
        if not self.token:
            raise RailwayAuthError(
                "no Railway token configured: set it with "
                "`pulumi config set --secret railway:token <token>` (see docs/deploy-railway.md)"
            )

    # -- public API -------------------------------------------------------------

    def execute(
        self, document: str, variables: Mapping[str, Any] | None = None, *, op: str
    ) -> dict[str, Any]:
        """Run ``document`` and return its ``data``; ``op`` names the root field for messages."""
        is_mutation = document.lstrip().startswith("mutation")
        payload = {"query": document, "variables": dict(variables or {})}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._session().post(
                    self.endpoint, json=payload, headers=self._headers(), timeout=self.timeout
                )
            except requests.Timeout as exc:
                if is_mutation:
                    raise RailwayAmbiguous(
                        f"Railway did not answer {op} within {self.timeout:g}s; it may or may "
                        "not have been applied. Run `pulumi refresh`, then `pulumi up` again."
                    ) from None
                if attempt >= self.max_attempts:
                    raise RailwayUnavailable(
                        f"Railway did not answer {op} within {self.timeout:g}s "
                        f"after {attempt} attempts"
                    ) from None
                self._wait(self._backoff(attempt), op, f"timeout ({type(exc).__name__})")
                continue
            except requests.ConnectionError as exc:
                if attempt >= self.max_attempts:
                    raise RailwayUnavailable(
                        self.scrub(
                            f"cannot reach Railway at {self.endpoint} for {op}: "
                            f"{type(exc).__name__} after {attempt} attempts"
                        )
                    ) from None
                self._wait(self._backoff(attempt), op, type(exc).__name__)
                continue

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
                self._wait(wait if wait is not None else self._backoff(attempt), op, "HTTP 429")
                continue
            if status >= 500:
                if attempt >= self.max_attempts:
                    raise RailwayUnavailable(
                        f"Railway answered HTTP {status} to {op} {attempt} times; "
                        "try again later (https://status.railway.com)."
                    )
                self._wait(self._backoff(attempt), op, f"HTTP {status}")
                continue
            if status in (401, 403):
                raise RailwayAuthError(self._auth_message(op, f"HTTP {status}"))

            try:
                body = response.json()
            except ValueError:
                raise RailwayError(
                    f"Railway answered {op} with HTTP {status} and a non-JSON body"
                ) from None
            errors = body.get("errors") if isinstance(body, dict) else None
            if errors:
                raise self._graphql_error(op, errors, variables or {})
            if status >= 400:
                raise RailwayError(f"Railway answered {op} with HTTP {status}")
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict):
                raise RailwayError(f"Railway's answer to {op} has no data")
            LOG.debug("railway %s: ok (attempt %d)", op, attempt)
            self._note_quota(response.headers, op)
            return data

    def scrub(self, text: str) -> str:
        """Remove the token from ``text`` (it should never be there; this makes sure)."""
        if self.token and self.token in text:
            text = text.replace(self.token, "[redacted]")
        return text

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

    def _wait(self, seconds: float, op: str, why: str) -> None:
        LOG.warning("railway %s: %s, retrying in %.1fs", op, why, seconds)
        self.sleep(seconds)

    def _auth_message(self, op: str, detail: str) -> str:
        sent = describe_kind(self.token_kind)
        project_token = self.token_kind == "project"  # noqa: S105 - a kind name
        if op in NEEDS_ACCOUNT_TOKEN and project_token:
            hint = (
                f"{op} needs an account or workspace token (Authorization: Bearer); a project "
                "token only reaches one environment of an existing project. Create one under "
                "Account Settings -> Tokens and set railway:tokenKind to 'account' or 'workspace'."
            )
        elif project_token:
            hint = (
                "check that the project token belongs to this project and environment, or use "
                "an account/workspace token (railway:tokenKind 'account' or 'workspace')."
            )
        else:
            hint = (
                "check that the token is valid and not revoked, and that its workspace owns the "
                "project. A project token must be sent as Project-Access-Token: set "
                "railway:tokenKind to 'project' if that is what you created."
            )
        return f"Railway refused {sent} for {op} ({detail}): {hint}"

    def _graphql_error(
        self, op: str, errors: list[Any], variables: Mapping[str, Any]
    ) -> RailwayError:
        messages = []
        for err in errors:
            msg = err.get("message") if isinstance(err, dict) else str(err)
            messages.append(self.scrub(str(msg)))
        joined = "; ".join(messages) or "unknown error"
        lowered = joined.lower()
        if any(marker in lowered for marker in _AUTH_MARKERS):
            return RailwayAuthError(self._auth_message(op, joined))
        if any(marker in lowered for marker in _NOT_FOUND_MARKERS):
            ids = ", ".join(
                f"{key}={value!r}"
                for key, value in _flatten_ids(variables).items()
                if isinstance(value, str)
            )
            return RailwayNotFound(
                self.scrub(
                    f"Railway does not know the id in {op} ({ids or 'no ids'}): {joined}. "
                    "Check railway:projectId / the ids in state, or run `pulumi refresh`."
                )
            )
        return RailwayError(f"Railway rejected {op}: {joined}")


def _flatten_ids(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Id-like variables (``id``, ``projectId``, ...) including those inside ``input``."""
    found: dict[str, Any] = {}
    for key, value in variables.items():
        if isinstance(value, Mapping):
            found.update(_flatten_ids(value))
        elif key == "id" or key.endswith("Id"):
            found[key] = value
    return found
