"""Two web nodes, two Celery workers and one beat on one PostgreSQL and one Redis behave as one
site: the topology of docs/deploy.md, run on the test database and the test Redis.

Each node is gunicorn as the Procfile runs it (`config.wsgi`, two sync workers) on a loopback
port of its own; the test is the load generator and the round-robin in front, alternating the
nodes request by request. Each client speaks from its own address through `X-Forwarded-For`
(the nodes trust one proxy). Each worker is a solo Celery worker (one process, so a SIGKILL
lands on the process that is sending) with a port of its own on the test's SMTP relay
(tests/mail_sink.py), so the test knows which worker is sending a held mail.
"""

import itertools
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.core.management import call_command
from django.db import connection

from accounts.models import PasswordResetRequest, User
from accounts.tasks import sweep_password_reset_requests
from audit.events import AuditEventType
from audit.models import AuditEvent
from config.celery import app as celery_app
from outbox.models import OutboxMail
from outbox.services import message_id
from outbox.tasks import sweep_outbox
from teams.models import UserSession
from tests.at_once import at_once
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.live_site import Browser, Processes, site_env
from tests.mail_sink import MailSink
from tests.signing_in import WRONG_PASSWORD

SIGN_IN_OUTCOMES = (AuditEventType.SIGN_IN_SUCCEEDED, AuditEventType.SIGN_IN_FAILED)
client_numbers = itertools.count(1)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def browser() -> Browser:
    """A browser with an address of its own, none reused within the run."""
    number = next(client_numbers)
    return Browser(f"203.0.{113 + number // 250}.{number % 250 + 1}")


@dataclass
class Site:
    """The running topology: the nodes' ports, and each worker by its relay port."""

    nodes: list[int]
    sink: MailSink
    processes: Processes
    env: dict
    workers: dict[int, subprocess.Popen] = field(default_factory=dict)

    def worker_start(self, relay_port: int) -> subprocess.Popen:
        """A worker as the Procfile's, in one process, sending through its own relay port."""
        self.workers[relay_port] = self.processes.celery(
            f"worker-{relay_port}",
            {**self.env, "EMAIL_PORT": str(relay_port)},
            *("worker", "--pool", "solo", "--hostname", f"worker-{relay_port}@%h"),
            *("--loglevel", "INFO"),
        )
        return self.workers[relay_port]

    def round_robin(self):
        return itertools.cycle(self.nodes)


@pytest.fixture(scope="module")
def site(django_db_setup, redis_url, tmp_path_factory):
    """Two gunicorn nodes, two workers and one beat on the test database and Redis, started
    once for the module: each test's rows are committed, and emptied after it, under them."""
    folder = tmp_path_factory.mktemp("nodes")
    env = site_env(
        redis_url,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
    )
    sink = MailSink()
    relay_ports = sink.start(ports=2)
    processes = Processes(folder)
    try:
        site = Site(
            nodes=[processes.gunicorn(f"node-{number}", env, workers=2) for number in range(2)],
            sink=sink,
            processes=processes,
            env=env,
        )
        for relay_port in relay_ports:
            site.worker_start(relay_port)
        processes.celery(
            "beat",
            env,
            *("beat", "--loglevel", "INFO", "--schedule", str(folder / "beat-schedule")),
            *("--pidfile", ""),
        )
        yield site
    finally:
        processes.stop()
        sink.stop()


@pytest.fixture
def quiet_tenant(tenant):
    """A tenant whose Owners are not mailed about sign-ins from new places (every client here
    is one), so the only mail is what a test asks for."""
    tenant.alert_owners_on_unusual_sign_in = False
    tenant.save()
    return tenant


def people(tenant, prefix: str, count: int) -> list[User]:
    made = [UserFactory(tenant=tenant, email=f"{prefix}{n}@nodes.example") for n in range(count)]
    # The nodes check Argon2, as in production: one hash for all, rather than many slow ones.
    User.objects.filter(pk__in=[person.pk for person in made]).update(
        password=Argon2PasswordHasher().encode(DEFAULT_PASSWORD, Argon2PasswordHasher().salt())
    )
    return made


def sign_in_outcomes(person: User) -> int:
    return AuditEvent.objects.filter(event__in=SIGN_IN_OUTCOMES, target_id=person.pk).count()


def test_wrong_passwords_over_both_nodes_lock_after_exactly_the_limit(site, quiet_tenant):
    person = people(quiet_tenant, "burst", 1)[0]
    nodes = site.nodes
    attempts = 20

    statuses = at_once(
        attempts,
        lambda n: browser().sign_in(nodes[n % 2], person.email, WRONG_PASSWORD),
    )
    right_password_after = browser().sign_in(nodes[0], person.email, DEFAULT_PASSWORD)
    connection.close()

    limit = settings.LOCKOUT_FAILURES
    # Exactly `limit` passwords were checked, over both nodes; the rest were refused unchecked.
    checked = AuditEvent.objects.filter(
        event=AuditEventType.SIGN_IN_FAILED, target_id=person.pk
    ).exclude(details__has_key="refused")
    assert checked.count() == limit
    assert sorted(statuses) == [200] * (limit - 1) + [429] * (attempts - limit + 1)
    assert right_password_after == 429
    assert AuditEvent.objects.filter(event=AuditEventType.ACCOUNT_LOCKED).count() == 1
    assert not UserSession.objects.filter(user=person).exists()
    # Every attempt, the right password's included, is one sign-in event.
    assert sign_in_outcomes(person) == attempts + 1
    call_command("verify_audit_log", stdout=StringIO())


def test_session_cap_and_revocation_hold_across_nodes(site, quiet_tenant):
    person = people(quiet_tenant, "cap", 1)[0]
    person.role.max_sessions = 3
    person.role.save()
    nodes = site.nodes
    browsers = [browser() for _ in range(6)]

    statuses = at_once(
        len(browsers),
        lambda n: browsers[n].sign_in(nodes[n % 2], person.email, DEFAULT_PASSWORD),
    )

    assert statuses == [302] * len(browsers)
    assert UserSession.objects.filter(user=person).count() == 3
    # Each browser asks the node it did not sign in on.
    live = [
        client
        for n, client in enumerate(browsers)
        if client.request(nodes[(n + 1) % 2], "GET", "/")[0] == 200
    ]
    assert len(live) == 3

    # One browser ends another's session on one node; the other node refuses it at once.
    keeper, revoked = live[0], live[1]
    revoked_session = UserSession.objects.get(session_key=revoked.cookies["sessionid"])
    status, _, _ = keeper.request(
        nodes[0], "POST", "/accounts/sessions/", {"revoke": str(revoked_session.pk)}
    )
    assert status == 302
    status, location, _ = revoked.request(nodes[1], "GET", "/")
    assert status == 302 and location.startswith("/accounts/login/"), (status, location)
    assert keeper.request(nodes[1], "GET", "/")[0] == 200
    assert UserSession.objects.filter(user=person).count() == 2
    # Three sessions ended by the cap, one by its owner's browser.
    assert AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED).count() == (
        len(browsers) - 3 + 1
    )
    assert sign_in_outcomes(person) == len(browsers)
    assert AuditEvent.objects.filter(
        event=AuditEventType.SIGN_IN_SUCCEEDED, target_id=person.pk
    ).count() == len(browsers)
    connection.close()
    call_command("verify_audit_log", stdout=StringIO())


def reset_requests(site: Site, persons: list[User]) -> None:
    nodes = site.round_robin()
    for person in persons:
        client, node = browser(), next(nodes)
        client.request(node, "GET", "/accounts/password/reset/")
        status, _, _ = client.request(
            node, "POST", "/accounts/password/reset/", {"email": person.email}
        )
        assert status == 302


def drained(site: Site, timeout: float = 90) -> bool:
    """Run the outbox's and the resets' sweeps through the broker, as beat does every minute,
    until every reset is processed and no mail is pending."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        connection.close()
        if (
            not PasswordResetRequest.objects.filter(processed_at__isnull=True).exists()
            and not OutboxMail.objects.filter(status=OutboxMail.Status.PENDING).exists()
        ):
            return True
        sweep_password_reset_requests.delay()
        sweep_outbox.delay()
        time.sleep(2)
    return False


def killed_while_holding(site: Site, stage: str, persons: list[User]) -> int:
    """Ask for resets, hold the first mail at `stage`, SIGKILL the worker sending it."""
    hold = site.sink.hold(stage)
    reset_requests(site, persons)
    assert hold.reached.wait(60), "no worker reached the relay"
    worker = site.workers[hold.port]
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    # The relay notices the worker's connection close and gives up the held conversation.
    for _ in range(100):
        if hold.sender_left:
            break
        time.sleep(0.1)
    assert hold.sender_left
    return hold.port


@pytest.fixture
def tasks_to_the_broker():
    """This test's own task calls go to the workers, through Redis, as the nodes' do."""
    celery_app.conf.task_always_eager = False


def test_a_worker_killed_mid_send_loses_no_mail_and_sends_none_twice(
    site, quiet_tenant, tasks_to_the_broker
):
    persons = people(quiet_tenant, "reset", 8)
    # Killed with the message received and not yet accepted: the relay drops it, the row's
    # transaction dies with the worker's connection, and the mail is sent again.
    port = killed_while_holding(site, "data", persons[:4])
    # A supervisor starts the worker again; then one is killed after the relay accepted a
    # mail, waiting for the goodbye: the row already says sent, so it is not sent again.
    site.worker_start(port)
    killed_while_holding(site, "quit", persons[4:])
    assert drained(site), "mail still pending: " + str(
        list(OutboxMail.objects.values_list("pk", "status", "attempts"))
    )

    mails = list(OutboxMail.objects.filter(to__in=[person.email for person in persons]))
    assert len(mails) == len(persons)
    assert all(mail.status == OutboxMail.Status.SENT for mail in mails)
    expected = {message_id(mail) for mail in mails}
    accepted = Counter(
        message.message_id for message in site.sink.accepted if message.message_id in expected
    )
    assert accepted == Counter(expected)
    # Both workers sent some, through their own relay ports.
    assert len({message.port for message in site.sink.accepted}) == 2
    assert AuditEvent.objects.filter(event=AuditEventType.PASSWORD_RESET_REQUESTED).count() == len(
        persons
    )
    call_command("verify_audit_log", stdout=StringIO())
    # The topology's one beat leads (its sweeps run every minute; the test ran them sooner).
    assert "holding the beat lock" in site.processes.log("beat")
