"""The hash chain: how an audit event's content and place in its chain become its hash.

The serialisation is canonical so the same event hashes the same on SQLite and PostgreSQL and
after any number of round trips through the database:

- times are UTC with exactly six decimals (both databases keep microseconds);
- JSON keys are sorted and numbers written in one normal form, because PostgreSQL's `jsonb`
  reorders keys and rewrites `1e+20` as `100000000000000000000`;
- IP addresses are written as their version and bytes, however the database or Python's
  `ipaddress` spells them (Python 3.13 changed how IPv4-mapped IPv6 addresses print);
- everything is ASCII: other characters are `\\uXXXX` escapes.

Changing any of this makes every stored hash wrong: bump `HASH_VERSION` and keep the old
serialisation for the old rows instead.
"""

import hashlib
import ipaddress
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

HASH_VERSION = 1
GENESIS_HASH = "0" * 64


def _canonical_float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("Audit details can't hold NaN or infinity.")
    normal = Decimal(str(value)).normalize()
    return format(normal, "f") if normal == normal.to_integral_value() else str(normal)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no spaces and one spelling per number.

    Written by hand rather than through `json.dumps` because it runs once per audit event, and
    bulk jobs record a hundred thousand at a time.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _canonical_float(value)
    if isinstance(value, dict):
        items = sorted((str(key), item) for key, item in value.items())
        return (
            "{"
            + ",".join([f"{encode_basestring_ascii(k)}:{canonical_json(v)}" for k, v in items])
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join([canonical_json(item) for item in value]) + "]"
    raise TypeError(f"Audit details can't hold {type(value).__name__} values.")


def canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_ip(value: str | None) -> str | None:
    if not value:
        return None
    address = ipaddress.ip_address(value)
    return f"{address.version}:{address.packed.hex()}"


def event_hash(
    *,
    previous_hash: str,
    tenant_id: int | None,
    sequence: int,
    event: int,
    created_at: datetime,
    actor_id: int | None,
    actor_label: str,
    target_id: int | None,
    target_label: str,
    ip: str | None,
    user_agent: str,
    details: Any,
) -> str:
    """SHA-256 over the previous event's hash and this event's canonical content."""
    content = canonical_json(
        [
            HASH_VERSION,
            tenant_id,
            sequence,
            event,
            canonical_time(created_at),
            actor_id,
            actor_label,
            target_id,
            target_label,
            canonical_ip(ip),
            user_agent,
            details,
        ]
    )
    return hashlib.sha256(f"{previous_hash}\n{content}".encode("ascii")).hexdigest()


def chain_key(tenant_id: int | None) -> int:
    """Each tenant's events form one chain; platform events (no tenant) form chain 0."""
    return tenant_id or 0
