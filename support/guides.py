"""The help center's guides: one plain template each, in the order the index lists them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Guide:
    slug: str
    title: str
    summary: str

    @property
    def template(self) -> str:
        return f"support/guides/{self.slug.replace('-', '_')}.html"


GUIDES: tuple[Guide, ...] = (
    Guide(
        "signing-in-safely",
        "Signing in safely",
        "Check the address and the padlock; be careful on public Wi-Fi and shared computers.",
    ),
    Guide(
        "two-factor-setup",
        "Setting up two-factor authentication",
        "Step by step, with the authenticator apps we recommend.",
    ),
    Guide(
        "backup-codes",
        "Backup codes",
        "What they are for, where to keep them, and what to do when they run out.",
    ),
    Guide(
        "passkeys",
        "Passkeys",
        "Sign in with your fingerprint, face or PIN; which devices work; a lost phone.",
    ),
    Guide(
        "codes-not-working",
        "When codes don't work",
        "Phone clock on automatic, the right time zone, restart the app.",
    ),
    Guide(
        "forgotten-password",
        "Forgotten password",
        "Get a link by email and choose a new password.",
    ),
    Guide(
        "lockouts",
        "Locked out after failed sign-ins",
        "Why sign-in pauses, how long for, and how to get back in sooner.",
    ),
    Guide(
        "passwords",
        "Strong, unique passwords and password managers",
        "Long passphrases, one per site, kept in a password manager; breached passwords.",
    ),
    Guide(
        "phishing",
        "Recognising phishing",
        "We never ask for your password by email. Hover before you click.",
    ),
    Guide(
        "ip-access-list",
        "Approved networks (the IP access list)",
        "For owners: allow sign-in only from your office and VPN, and what people outside see.",
    ),
    Guide(
        "managing-people",
        "Managing a person (for owners)",
        "One page per person: status, two-factor, sessions, sign-ins and every action.",
    ),
    Guide(
        "security-settings",
        "Your dashboard and security settings (for owners)",
        "What the dashboard's to-dos mean, the Security page, and testing your audit webhook.",
    ),
    Guide(
        "single-sign-on",
        "Signing in with Microsoft, Google or your organisation",
        "What “Use single sign-on” means here, and what still happens after it.",
    ),
    Guide(
        "single-sign-on-setup",
        "Setting up single sign-on (for owners)",
        "Microsoft Entra ID or Google Workspace step by step: redirect URI, claims, testing.",
    ),
    Guide(
        "provisioning",
        "Adding and removing people from your directory (for owners)",
        "Entra ID or Okta over SCIM: the token, roles from groups, what the directory can't do.",
    ),
    Guide(
        "contact",
        "Who to contact",
        "Your MSP's owners look after your account; here is how to reach them.",
    ),
)

GUIDES_BY_SLUG: dict[str, Guide] = {guide.slug: guide for guide in GUIDES}
