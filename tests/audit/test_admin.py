from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_event_record
from tests.audit.helpers import FROM_THE_OFFICE
from tests.factories import OperatorFactory
from tests.signing_in import sign_in


def test_admin_shows_events_read_only(technician):
    event = audit_event_record(
        event=AuditEventType.SIGN_IN_FAILED,
        actor=None,
        tenant=technician.tenant,
        target=technician,
        details={"email": technician.email},
    )
    client = sign_in(Client(), OperatorFactory(), **FROM_THE_OFFICE)
    base = "/admin/audit/auditevent/"

    assert client.get(base).status_code == 200
    assert client.get(f"{base}{event.pk}/change/").status_code == 200
    assert client.get(f"{base}add/").status_code == 403
    assert client.get(f"{base}{event.pk}/delete/").status_code == 403
    changed = client.post(f"{base}{event.pk}/change/", {"target_label": "someone-else"})
    assert changed.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).target_label == technician.email
    deleted = client.post(
        base, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert deleted.status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=event.pk).exists()
