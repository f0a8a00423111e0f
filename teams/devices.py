from ua_parser import parse


def device_in_words(user_agent: str) -> str:
    """A browser's user agent as a person would say it: "Firefox 133 on Linux"."""
    result = parse(user_agent or "")
    browser = result.user_agent
    system = result.os
    device = result.device
    words = "Unknown browser"
    if browser is not None and browser.family != "Other":
        words = f"{browser.family} {browser.major}" if browser.major else browser.family
    if system is not None and system.family != "Other":
        words += f" on {system.family}"
    # A device worth naming ("iPhone", "Pixel 8"), unless the system already says it.
    named_device = device is not None and device.family not in {"Other", "Mac"}
    if named_device and (system is None or device.family not in system.family):
        words += f" ({device.family})"
    return words
