from django.db import models


class AuditEventType(models.IntegerChoices):
    """Every kind of audit event, grouped by area in blocks of 100.

    Values are stored in the log forever: add new members, never renumber or reuse one.
    """

    SIGN_IN_SUCCEEDED = 100, "Sign-in succeeded"
    SIGN_IN_FAILED = 101, "Sign-in failed"
    ACCOUNT_LOCKED = 102, "Account locked"
    ACCOUNT_UNLOCKED = 103, "Account unlocked"
    SIGNED_OUT = 104, "Signed out"
    UNUSUAL_SIGN_IN = 105, "Unusual sign-in"
    FAILURE_BURST = 106, "Burst of failed sign-ins"
    IP_LOCKED = 107, "Client IP locked"
    IP_UNLOCKED = 108, "Client IP unlocked"
    SIGN_IN_REPORTED = 109, "Sign-in reported as not me"
    RECOVERY_REQUESTED = 110, "Account recovery requested"
    RECOVERY_RESOLVED = 111, "Account recovery request resolved"
    RECOVERY_DECLINED = 112, "Account recovery request declined"
    RECOVERY_EXPIRED = 113, "Account recovery request expired"
    SIGN_IN_REFUSED_BY_ACCESS_LIST = 114, "Sign-in refused: address not on the IP access list"

    MFA_ENROLLED = 200, "MFA factor enrolled"
    MFA_REMOVED = 201, "MFA factor removed"
    MFA_VERIFIED = 202, "Second step passed"
    MFA_FAILED = 203, "Second step failed"
    BACKUP_CODE_USED = 204, "Backup code used"
    BACKUP_CODES_REGENERATED = 205, "Backup codes regenerated"
    MFA_RESET = 206, "MFA factors reset"
    SECOND_STEP_DUE = 207, "Password accepted; a sign-in step due"

    PASSWORD_RESET_REQUESTED = 300, "Password reset requested"
    PASSWORD_RESET_COMPLETED = 301, "Password reset completed"
    PASSWORD_CHANGED = 302, "Password changed"
    PASSWORD_SET = 303, "First password set"
    PASSWORD_CHANGE_REQUIRED = 304, "New password required at next sign-in"
    BREACHED_CHECK_UNAVAILABLE = 305, "Breached-password check could not be made"
    PASSWORD_FOUND_BREACHED = 306, "Password found among breached passwords"

    SESSION_STARTED = 400, "Session started"
    SESSION_EXPIRED = 401, "Session expired"
    SESSION_REVOKED = 402, "Session revoked"
    SESSION_ENDED_BY_ACCESS_LIST = 403, "Session ended: address left the IP access list"

    PERSON_INVITED = 500, "Person invited"
    PERSON_DEACTIVATED = 501, "Person deactivated"
    PERSON_REACTIVATED = 502, "Person reactivated"
    ROLE_CHANGED = 503, "Person's role changed"
    PERSON_EDITED = 504, "Person's details changed"
    INACTIVITY_WARNING_SENT = 505, "Warned of deactivation for inactivity"
    ACCESS_REVIEW_COMPLETED = 506, "Access review completed"

    ROLE_CREATED = 600, "Role created"
    ROLE_EDITED = 601, "Role edited"
    TENANT_CREATED = 602, "Tenant created"
    TENANT_POLICY_CHANGED = 603, "Tenant policy changed"
    ROLE_DELETED = 604, "Role deleted"
    ACCESS_LIST_CHANGED = 605, "IP access list changed"

    ADMIN_ACTION = 700, "Admin action"

    AUDIT_EXPORTED = 800, "Audit trail exported"
    AUDIT_RETENTION_APPLIED = 801, "Old audit events removed"
