from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEventType(models.IntegerChoices):
    """Every kind of audit event, grouped by area in blocks of 100.

    Values are stored in the log forever: add new members, never renumber or reuse one.
    """

    SIGN_IN_SUCCEEDED = 100, _("Sign-in succeeded")
    SIGN_IN_FAILED = 101, _("Sign-in failed")
    ACCOUNT_LOCKED = 102, _("Account locked")
    ACCOUNT_UNLOCKED = 103, _("Account unlocked")
    SIGNED_OUT = 104, _("Signed out")
    UNUSUAL_SIGN_IN = 105, _("Unusual sign-in")
    FAILURE_BURST = 106, _("Burst of failed sign-ins")
    IP_LOCKED = 107, _("Client IP locked")
    IP_UNLOCKED = 108, _("Client IP unlocked")
    SIGN_IN_REPORTED = 109, _("Sign-in reported as not me")
    RECOVERY_REQUESTED = 110, _("Account recovery requested")
    RECOVERY_RESOLVED = 111, _("Account recovery request resolved")
    RECOVERY_DECLINED = 112, _("Account recovery request declined")
    RECOVERY_EXPIRED = 113, _("Account recovery request expired")
    SIGN_IN_REFUSED_BY_ACCESS_LIST = 114, _("Sign-in refused: address not on the IP access list")
    PASSKEY_SIGN_IN_PASSED = 120, _("Passkey accepted for a sign-in without password")
    PASSKEY_SIGN_IN_FAILED = 121, _("Sign-in with a passkey refused")
    REAUTHENTICATED = 125, _("Re-authentication succeeded")
    SSO_SIGN_IN_FAILED = 130, _("Single sign-on failed")
    SSO_IDENTITY_LINKED = 131, _("Single sign-on identity linked")
    SSO_PERSON_CREATED = 132, _("Person created at first single sign-on")
    SSO_PASSWORD_REFUSED = 133, _("Password sign-in refused: single sign-on required")
    SSO_IDENTITY_UNLINKED = 134, _("Single sign-on identity unlinked")
    SSO_BACKCHANNEL_LOGOUT = 135, _("Sessions ended by the provider's back-channel logout")
    SSO_LOGOUT_TOKEN_REFUSED = 136, _("Back-channel logout token refused")
    SESSION_SINGLE_SIGN_ON_MAX_AGE = 137, _("Session ended: single sign-on maximum age")

    MFA_ENROLLED = 200, _("MFA factor enrolled")
    MFA_REMOVED = 201, _("MFA factor removed")
    MFA_VERIFIED = 202, _("Second step passed")
    MFA_FAILED = 203, _("Second step failed")
    BACKUP_CODE_USED = 204, _("Backup code used")
    BACKUP_CODES_REGENERATED = 205, _("Backup codes regenerated")
    MFA_RESET = 206, _("MFA factors reset")
    SECOND_STEP_DUE = 207, _("Password accepted; a sign-in step due")
    PASSKEY_ADDED = 210, _("Passkey added")
    PASSKEY_REMOVED = 211, _("Passkey removed")
    PASSKEY_RENAMED = 212, _("Passkey renamed")
    PASSKEY_COUNTER_WENT_BACKWARDS = 213, _("Passkey refused: its counter went backwards")
    PASSKEY_REFUSED = 214, _("Passkey refused: registered to someone else")
    BROWSER_REMEMBERED = 220, _("Browser remembered for the second step")
    REMEMBERED_BROWSER_USED = 221, _("Second step skipped on a remembered browser")
    REMEMBERED_BROWSERS_FORGOTTEN = 222, _("Remembered browsers forgotten")

    PASSWORD_RESET_REQUESTED = 300, _("Password reset requested")
    PASSWORD_RESET_COMPLETED = 301, _("Password reset completed")
    PASSWORD_CHANGED = 302, _("Password changed")
    PASSWORD_SET = 303, _("First password set")
    PASSWORD_CHANGE_REQUIRED = 304, _("New password required at next sign-in")
    BREACHED_CHECK_UNAVAILABLE = 305, _("Breached-password check could not be made")
    PASSWORD_FOUND_BREACHED = 306, _("Password found among breached passwords")
    SET_PASSWORD_LINK_REFUSED = 307, _("Set-password link refused: single sign-on is required")

    SESSION_STARTED = 400, _("Session started")
    SESSION_EXPIRED = 401, _("Session expired")
    SESSION_REVOKED = 402, _("Session revoked")
    SESSION_ENDED_BY_ACCESS_LIST = 403, _("Session ended: address left the IP access list")

    PERSON_INVITED = 500, _("Person invited")
    PERSON_DEACTIVATED = 501, _("Person deactivated")
    PERSON_REACTIVATED = 502, _("Person reactivated")
    ROLE_CHANGED = 503, _("Person's role changed")
    PERSON_EDITED = 504, _("Person's details changed")
    INACTIVITY_WARNING_SENT = 505, _("Warned of deactivation for inactivity")
    ACCESS_REVIEW_COMPLETED = 506, _("Access review completed")
    INVITATION_FOR_EXISTING_ACCOUNT = 507, _("Someone tried to add an address that has an account")
    INVITATION_RESENT = 520, _("Invitation sent again")
    # SCIM provisioning (provisioning/): what a tenant's directory did to its people, beyond the
    # people events above, which it records with its own actor ("provisioning: <token name>").
    DIRECTORY_PERSON_LINKED = 530, _("Person linked to the directory")
    DIRECTORY_PERSON_REMOVED = 531, _("Person removed by the directory")
    DIRECTORY_ROLE_NOT_CHANGED = 532, _("Directory's role change not made")

    ROLE_CREATED = 600, _("Role created")
    ROLE_EDITED = 601, _("Role edited")
    TENANT_CREATED = 602, _("Tenant created")
    TENANT_POLICY_CHANGED = 603, _("Tenant policy changed")
    ROLE_DELETED = 604, _("Role deleted")
    ACCESS_LIST_CHANGED = 605, _("IP access list changed")
    SSO_PROVIDER_CHANGED = 610, _("Single sign-on provider changed")
    SSO_PROVIDER_SECRET_ROTATED = 611, _("Single sign-on client secret replaced")
    SSO_DOMAIN_CLAIMED = 612, _("Domain claimed for single sign-on")
    SSO_DOMAIN_RELEASED = 613, _("Domain released from single sign-on")
    SSO_PROVIDER_REMOVED = 614, _("Single sign-on provider removed")
    SSO_DOMAIN_VERIFICATION_STARTED = 615, _("Domain verification started")
    SSO_DOMAIN_VERIFIED = 616, _("Domain verified by its DNS record and claimed")
    SSO_DOMAIN_VERIFICATION_LOST = 617, _("Domain released: its DNS record is gone")
    SSO_DOMAIN_VERIFICATION_REMOVED = 618, _("Domain verification removed")
    MFA_REQUIREMENT_RELAXED = 620, _("Role no longer requires MFA")
    PROVISIONING_TOKEN_CREATED = 630, _("Provisioning token made")
    PROVISIONING_TOKEN_USED = 631, _("Provisioning token used")
    PROVISIONING_TOKEN_REVOKED = 632, _("Provisioning token revoked")
    DIRECTORY_GROUP_MAPPED = 633, _("Directory group's role changed")
    PROVISIONING_SETTINGS_CHANGED = 634, _("Provisioning settings changed")
    DIRECTORY_GROUP_CHANGED = 635, _("Directory group changed by the directory")

    ADMIN_ACTION = 700, _("Admin action")

    AUDIT_EXPORTED = 800, _("Audit trail exported")
    AUDIT_RETENTION_APPLIED = 801, _("Old audit events removed")
    AUDIT_WEBHOOK_SET = 810, _("Audit webhook set")
    AUDIT_WEBHOOK_REMOVED = 811, _("Audit webhook removed")
    AUDIT_WEBHOOK_SECRET_ROTATED = 812, _("Audit webhook secret replaced")
    AUDIT_WEBHOOK_TEST_SENT = 813, _("Audit webhook test event sent")
    AUDIT_CHAIN_BROKEN = 820, _("Audit chain found broken")
    AUDIT_MONTHS_REMOVED = 821, _("Old months of the audit log removed")

    # Refused requests (audit/refusals.py): at most one a minute per person or IP and path,
    # and a few a minute per person or IP across paths, then one count of those suppressed.
    ACCESS_REFUSED = 900, _("Access refused")
    OTHER_TENANT_REFUSED = 901, _("Access refused: another tenant's object")
    ADMIN_ACTION_REFUSED = 902, _("Admin action refused")
    CSRF_REFUSED = 903, _("Request refused: CSRF check failed")
    RATE_LIMIT_DROPPED = 904, _("Request dropped by a rate limit")
    REFUSALS_SUPPRESSED = 905, _("Refused requests suppressed")
    OTHER_PERSON_REFUSED = 906, _("Access refused: another person's session, passkey or browser")
    PROVISIONING_REFUSED = 910, _("Provisioning request refused")
    PROVISIONING_OTHER_TENANT_REFUSED = 911, _("Provisioning refused: another tenant's resource")


REFUSAL_EVENTS = (
    AuditEventType.ACCESS_REFUSED,
    AuditEventType.OTHER_TENANT_REFUSED,
    AuditEventType.ADMIN_ACTION_REFUSED,
    AuditEventType.CSRF_REFUSED,
    AuditEventType.RATE_LIMIT_DROPPED,
    AuditEventType.REFUSALS_SUPPRESSED,
    AuditEventType.OTHER_PERSON_REFUSED,
    AuditEventType.PROVISIONING_REFUSED,
    AuditEventType.PROVISIONING_OTHER_TENANT_REFUSED,
)
