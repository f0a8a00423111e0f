"""Devices and networks in words: what a sign-in or session came from, and what is the same place.

The one user-agent parser: the sessions page, the trail, the sign-in history and the alerts all
name a browser the same way ("Firefox on Linux").
"""

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from django.utils.translation import gettext
from ua_parser import parse

IPV4_NETWORK_PREFIX = 24
IPV6_NETWORK_PREFIX = 64
UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Device:
    browser: str
    system: str

    @property
    def key(self) -> tuple[str, str]:
        """What makes two sign-ins the same device: browser family and operating system,
        so a browser update is not a new device."""
        return (self.browser, self.system)

    def __str__(self) -> str:
        if self.browser == UNKNOWN and self.system == UNKNOWN:
            return gettext("Unknown browser and system")
        return gettext("%(browser)s on %(system)s") % {
            "browser": self.browser,
            "system": self.system,
        }


@lru_cache(maxsize=2048)
def device_from_user_agent(user_agent: str) -> Device:
    """The browser and system of a user agent string, in words ("Firefox on Linux")."""
    result = parse(user_agent or "")
    browser = result.user_agent.family if result.user_agent else UNKNOWN
    system = result.os.family if result.os else UNKNOWN
    if browser == "Other":
        browser = UNKNOWN
    if system == "Other":
        system = UNKNOWN
    return Device(browser=browser, system=system)


def network_of(ip: str | None) -> str:
    """The network an address belongs to: its /24 for IPv4, its /64 for IPv6.

    A home or office line keeps its network when its last octet changes, and an IPv6 host
    picks new addresses within its /64 all the time.
    """
    if not ip:
        return UNKNOWN
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = IPV4_NETWORK_PREFIX if address.version == 4 else IPV6_NETWORK_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
