from celery import shared_task

from sso import domain_verification


@shared_task(ignore_result=True)
def recheck_domain_verifications() -> None:
    """Hourly: look up the DNS records of domains waiting to be verified, and once a day those
    of domains claimed by their record (docs/sso.md, "Verifying a domain")."""
    domain_verification.domain_verifications_recheck()
