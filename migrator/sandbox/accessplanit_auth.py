"""accessplanit credentials: per-tenant user name / password / API key, and the bearer tokens issued for them.

Credentials derive from the sandbox seed and the tenant name, so they are stable across restarts with the
same seed. Tokens are random and live in memory; their expiry reads the sandbox clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from migrator.sandbox.clock import Clock


@dataclass(frozen=True, slots=True)
class Credentials:
    tenant: str
    username: str  # the platform user ID the token endpoint takes
    password: str
    api_key: str

    @property
    def user_id(self) -> str:
        return self.username


def _digest(seed: int, tenant: str, what: str, length: int) -> str:
    return hashlib.sha256(f"accessplanit:{seed}:{tenant}:{what}".encode()).hexdigest()[:length]


def credentials_for(seed: int, tenant: str) -> Credentials:
    return Credentials(
        tenant=tenant,
        username=f"api{tenant}",
        password=f"pw-{tenant}-{seed:04d}-{_digest(seed, tenant, 'password', 12)}",
        api_key=f"apk-{tenant}-{seed:04d}-{_digest(seed, tenant, 'api_key', 32)}",
    )


@dataclass(slots=True)
class _Token:
    tenant: str
    expires_at: float
    generation: int
    refresh: bool


class TokenStore:
    """Access and refresh tokens: issue, check (expiry and revocation), refresh, revoke per tenant."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._generation: dict[str, int] = {}

    def issue(self, tenant: str, ttl: float, refresh_ttl: float) -> tuple[str, str]:
        now = self._clock.now()
        if len(self._tokens) > 50_000:
            self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}
        generation = self._generation.get(tenant, 0)
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._tokens[access] = _Token(tenant, now + ttl, generation, refresh=False)
        self._tokens[refresh] = _Token(tenant, now + refresh_ttl, generation, refresh=True)
        return access, refresh

    def _valid(self, value: str, *, refresh: bool) -> _Token | None:
        token = self._tokens.get(value)
        if token is None or token.refresh != refresh:
            return None
        if token.generation != self._generation.get(token.tenant, 0):
            return None
        if self._clock.now() >= token.expires_at:
            return None
        return token

    def check(self, value: str) -> str | None:
        """The tenant of a valid, unexpired, unrevoked access token, else None."""
        token = self._valid(value, refresh=False)
        return token.tenant if token is not None else None

    def redeem_refresh(self, value: str) -> str | None:
        """Consume a valid refresh token; its tenant, else None."""
        token = self._valid(value, refresh=True)
        if token is None:
            return None
        del self._tokens[value]
        return token.tenant

    def tenant_of(self, value: str) -> str | None:
        """The tenant a token was issued to, expired or revoked or not."""
        token = self._tokens.get(value)
        return token.tenant if token is not None else None

    def revoke(self, tenant: str) -> None:
        self._generation[tenant] = self._generation.get(tenant, 0) + 1
