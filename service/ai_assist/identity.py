"""Who is calling, for logs and rate limits: the name of a valid API key, else the peer.

API keys come from AI_ASSIST_API_KEYS (or the file AI_ASSIST_API_KEYS_FILE names) as
`name:key` entries, one a line or comma-separated; `#` starts a comment. Clients send
`Authorization: Bearer KEY` or `X-API-Key: KEY`. Without keys the client is the peer
address (after X-Forwarded-For from AI_ASSIST_TRUSTED_PROXIES only); headers a client
chooses freely, such as X-Client-ID, never decide whose limit a request spends.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re

KEY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# the client id of a request that carries the admin key (no key name can be this: the
# parentheses are outside KEY_NAME's characters)
ADMIN_CLIENT = "(admin)"
MIN_KEY_CHARS = 16
_KEY_FORBIDDEN = re.compile(r"[\s,:#]")


def parse_api_keys(raw: str) -> dict[str, str]:
    """{name: key} from `name:key` entries; ValueError names the entry, never a key."""
    keys: dict[str, str] = {}
    for number, entry in enumerate(re.split(r"[\n,]", raw or ""), 1):
        entry = entry.split("#", 1)[0].strip()
        if not entry:
            continue
        name, separator, key = (part.strip() for part in entry.partition(":"))
        if not separator or not KEY_NAME.match(name):
            raise ValueError(f"entry {number} is not `name:key` with a name of 1-64 "
                             "characters from [A-Za-z0-9._-]")
        if len(key) < MIN_KEY_CHARS or _KEY_FORBIDDEN.search(key):
            raise ValueError(f"the key named {name!r} must have at least {MIN_KEY_CHARS} "
                             "characters and no spaces, commas, colons or #")
        if name in keys:
            raise ValueError(f"the name {name!r} is given twice")
        if key in keys.values():
            raise ValueError(f"the key named {name!r} is also another name's key")
        keys[name] = key
    return keys


def parse_networks(raw: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Addresses or CIDR ranges, comma-separated."""
    networks = []
    for item in (raw or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item[:64]!r} is not an IP address or CIDR range") from None
    return networks


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class ApiKeys:
    """Looks up the name of a presented key (compared by digest, in constant time)."""

    def __init__(self, raw: str) -> None:
        self._names = [(_digest(key), name) for name, key in parse_api_keys(raw).items()]

    @property
    def enabled(self) -> bool:
        return bool(self._names)

    def has(self, name: str) -> bool:
        """Whether a key of this name is configured."""
        return any(known == name for _, known in self._names)

    @staticmethod
    def presented(headers) -> str:
        """The key a request carries: Authorization: Bearer KEY, else X-API-Key."""
        scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        return headers.get("x-api-key", "").strip()

    def name_for(self, headers) -> str | None:
        """The key's name, or None when the request carries no valid key."""
        key = self.presented(headers)
        if not key:
            return None
        digest = _digest(key)
        found = None
        for known, name in self._names:  # no early exit: time does not depend on which
            if hmac.compare_digest(known, digest):
                found = name
        return found


def key_matches(presented: str, expected_digest: bytes | None) -> bool:
    """Whether a presented key is the one whose digest is given (constant time)."""
    if not presented or expected_digest is None:
        return False
    return hmac.compare_digest(_digest(presented), expected_digest)


def key_digest(key: str) -> bytes | None:
    return _digest(key) if key else None


def peer_address(scope) -> str:
    """The client's address as the server (and any trusted proxy) reported it."""
    client = scope.get("client")
    return client[0] if client else "unknown"
