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

Each link is an HMAC-SHA256 keyed from the environment (`AUDIT_CHAIN_KEY`), so someone who can
write the database but not read the site's environment can't forge a link: rewriting an event
means recomputing every later link, which takes the key. Each event names its key by an id (a
fingerprint of the key, never the key), so verification keeps working across a rotation as long
as the retired key stays in `AUDIT_CHAIN_KEY_FALLBACKS`. Chains hashed before the key existed
(plain SHA-256, version 1) were re-hashed once by audit migration 0012 after it had checked them;
`legacy_event_hash` stays for that migration.
"""

import functools
import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from django.conf import settings

HASH_VERSION = 2
LEGACY_HASH_VERSION = 1
GENESIS_HASH = "0" * 64
KEY_ID_LABEL = b"portcullis audit chain key id"
KEY_ID_LENGTH = 12


@dataclass(frozen=True)
class ChainKey:
    """A chain key and its id: a fingerprint stored with each event, which reveals nothing of
    the key itself (an HMAC of a fixed label under the key)."""

    id: str
    secret: bytes


def chain_key_from_secret(secret: str) -> ChainKey:
    raw = secret.encode()
    return ChainKey(
        id=hmac.new(raw, KEY_ID_LABEL, "sha256").hexdigest()[:KEY_ID_LENGTH], secret=raw
    )


_keys_cache: dict[tuple[str, tuple[str, ...]], dict[str, ChainKey]] = {}


def chain_keys() -> dict[str, ChainKey]:
    """Every key this site knows, by id: the current one first, then the fallbacks."""
    source = (settings.AUDIT_CHAIN_KEY, tuple(settings.AUDIT_CHAIN_KEY_FALLBACKS))
    keys = _keys_cache.get(source)
    if keys is None:
        keys = {}
        for secret in (source[0], *source[1]):
            key = chain_key_from_secret(secret)
            keys.setdefault(key.id, key)
        _keys_cache.clear()
        _keys_cache[source] = keys
    return keys


def current_chain_key() -> ChainKey:
    """The key new events and checkpoints are hashed with."""
    return next(iter(chain_keys().values()))


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


def event_content(
    *,
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
    version: int = HASH_VERSION,
) -> str:
    """An event's canonical content: what its link covers besides the previous link."""
    return content_from_parts(
        version,
        tenant_id,
        sequence,
        event,
        canonical_time(created_at),
        actor_id,
        actor_label,
        target_id,
        target_label,
        ip,
        user_agent,
        canonical_json(details),
    )


def _json_id(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def content_from_parts(
    version: int,
    tenant_id: int | None,
    sequence: int,
    event: int,
    time_text: str,
    actor_id: int | None,
    actor_label: str,
    target_id: int | None,
    target_label: str,
    ip: str | None,
    user_agent: str,
    details_json: str,
) -> str:
    """`canonical_json` of the content list, spelled out: bulk recording makes it a hundred
    thousand times in a row, and the generic walk costs several times more. `time_text` is
    `canonical_time`'s, `details_json` is `canonical_json`'s."""
    escape = encode_basestring_ascii
    address = canonical_ip(ip)
    return (
        f'[{version},{_json_id(tenant_id)},{int(sequence)},{int(event)},"{time_text}",'
        f"{_json_id(actor_id)},{escape(actor_label)},{_json_id(target_id)},{escape(target_label)},"
        f"{'null' if address is None else escape(address)},{escape(user_agent)},{details_json}]"
    )


def link_hash(*, key: ChainKey, previous_hash: str, content: str) -> str:
    """HMAC-SHA256 under the chain key over the previous link and this event's content."""
    return hmac.digest(key.secret, f"{previous_hash}\n{content}".encode("ascii"), "sha256").hex()


def link_hashers() -> dict[str, Callable[[str, str], str]]:
    """`link_hasher` of every key this site knows, by key id; made once per set of keys, not
    for every chain or segment a check reads."""
    return _link_hashers(tuple((key_id, key.secret) for key_id, key in chain_keys().items()))


@functools.lru_cache(maxsize=4)
def _link_hashers(keys: tuple[tuple[str, bytes], ...]) -> dict[str, Callable[[str, str], str]]:
    return {key_id: link_hasher(secret) for key_id, secret in keys}


_INNER_PAD = bytes(value ^ 0x36 for value in range(256))
_OUTER_PAD = bytes(value ^ 0x5C for value in range(256))


def link_hasher(secret: bytes) -> Callable[[str, str], str]:
    """`link_hash` for many links under one key, as a function of the previous link and the
    content. HMAC hashes the key's two padded blocks before every message (RFC 2104); a check
    of a million links makes those two states once and copies them, which halves its cost."""
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(secret).digest() if len(secret) > block else secret).ljust(
        block, b"\0"
    )
    inner = hashlib.sha256(padded.translate(_INNER_PAD))
    outer = hashlib.sha256(padded.translate(_OUTER_PAD))

    def hasher(previous_hash: str, content: str) -> str:
        inner_hash = inner.copy()
        inner_hash.update(f"{previous_hash}\n{content}".encode("ascii"))
        outer_hash = outer.copy()
        outer_hash.update(inner_hash.digest())
        return outer_hash.hexdigest()

    return hasher


def event_hash(*, previous_hash: str, key: ChainKey | None = None, **fields: Any) -> str:
    """The link of one event (fields as in `event_content`), under `key` or the current key."""
    return link_hash(
        key=key or current_chain_key(), previous_hash=previous_hash, content=event_content(**fields)
    )


def legacy_event_hash(*, previous_hash: str, **fields: Any) -> str:
    """Version 1: plain SHA-256, before the chain was keyed. Only migrations use it."""
    content = event_content(**fields, version=LEGACY_HASH_VERSION)
    return hashlib.sha256(f"{previous_hash}\n{content}".encode("ascii")).hexdigest()


def checkpoint_signature(*, key: ChainKey, chain: int, sequence: int, hash: str) -> str:
    """A retention checkpoint's signature, `<key id>:<HMAC>`: rows alone can't forge one."""
    digest = hmac.digest(key.secret, f"checkpoint\n{chain}:{sequence}:{hash}".encode(), "sha256")
    return f"{key.id}:{digest.hex()}"


def checkpoint_signature_valid(*, signature: str, chain: int, sequence: int, hash: str) -> bool:
    key_id, _, _ = signature.partition(":")
    key = chain_keys().get(key_id)
    if key is None:
        return False
    expected = checkpoint_signature(key=key, chain=chain, sequence=sequence, hash=hash)
    return hmac.compare_digest(expected, signature)


def verified_checkpoint_message(
    *, chain: int, sequence: int, hash: str, events: int, recorded_at: datetime, reason: str
) -> bytes:
    return (
        f"verified-checkpoint\n{chain}:{sequence}:{hash}:{events}:"
        f"{canonical_time(recorded_at)}:{reason}"
    ).encode()


def verified_checkpoint_signature(*, key: ChainKey, **fields: Any) -> str:
    """An `AuditCheckpoint`'s signature, `<key id>:<HMAC>` over everything it says."""
    digest = hmac.digest(key.secret, verified_checkpoint_message(**fields), "sha256")
    return f"{key.id}:{digest.hex()}"


def verified_checkpoint_valid(*, signature: str, **fields: Any) -> bool:
    """Whether a checkpoint was signed by a key this site knows (current or a fallback)."""
    key_id, _, _ = signature.partition(":")
    key = chain_keys().get(key_id)
    if key is None:
        return False
    expected = verified_checkpoint_signature(key=key, **fields)
    return hmac.compare_digest(expected, signature)


def chain_key(tenant_id: int | None) -> int:
    """Each tenant's events form one chain; platform events (no tenant) form chain 0."""
    return tenant_id or 0
