import csv
import json
from collections.abc import Callable
from datetime import UTC

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from audit.devices import device_from_user_agent
from audit.events import AuditEventType
from audit.forms import TrailFilterForm
from audit.selectors import (
    CappedPaginator,
    audit_trail,
    audit_trail_page_source,
    sign_in_rows,
    sign_ins_for_user,
)
from audit.services import audit_event_record
from teams import scopes

# audit sits below teams, so `teams.access.scope_required` is out of reach: these views ask the
# same `user.has_perm(scope)` through Django's own decorator (403 without the scope).
SIGN_INS_PER_PAGE = 25
TRAIL_PER_PAGE = 25
EXPORT_CHUNK_SIZE = 2000
# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = [
    "time_utc",
    "tenant",
    "event",
    "event_code",
    "actor",
    "target",
    "ip",
    "device",
    "user_agent",
    "details",
    "sequence",
    "hash",
]

# What the full export asks for besides its scope: a fresh proof of identity (ASVS 5.0 V7.5.3:
# it hands a tenant's whole trail over). What a proof is is known only above audit, so the app
# that knows hands its check over (`TeamsConfig.ready()`): a callable taking the request and
# returning the response that asks for the proof, or None when the proof is fresh.
_export_guards: list[Callable[[HttpRequest], HttpResponse | None]] = []


def export_guard_register(guard: Callable[[HttpRequest], HttpResponse | None]) -> None:
    if guard not in _export_guards:
        _export_guards.append(guard)


@never_cache
@require_GET
@login_required
def sign_in_history(request: HttpRequest) -> HttpResponse:
    paginator = CappedPaginator(sign_ins_for_user(user=request.user), SIGN_INS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = sign_in_rows(user=request.user, events=list(page.object_list))
    return render(
        request,
        "audit/sign_in_history.html",
        {"page": page, "paginator": paginator, "rows": rows},
    )


@never_cache
@require_GET
@login_required
@permission_required(scopes.AUDIT_READ, raise_exception=True)
def trail(request: HttpRequest) -> HttpResponse:
    form = TrailFilterForm(request.GET, viewer=request.user)
    context = {"form": form, "can_export": request.user.has_perm(scopes.AUDIT_EXPORT)}
    if form.is_valid():
        paginator = CappedPaginator(
            audit_trail_page_source(viewer=request.user, **form.filters()), TRAIL_PER_PAGE
        )
        page = paginator.get_page(request.GET.get("page"))
        events = list(page.object_list)
        for event in events:
            event.device = device_from_user_agent(event.user_agent)
        context.update(page=page, paginator=paginator, events=events)
    return render(request, "audit/trail.html", context)


class _Echo:
    """A file-like that hands back what csv.writer writes, so rows can be streamed."""

    def write(self, value: str) -> str:
        return value


def csv_safe(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


# What the export reads of each event: values, not model instances, which cost more than
# writing the row.
EXPORT_FIELDS = (
    "created_at",
    "tenant__slug",
    "event",
    "actor_label",
    "target_label",
    "ip",
    "user_agent",
    "details",
    "sequence",
    "hash",
)
# Rows handed to the server per chunk of the stream.
EXPORT_ROWS_PER_CHUNK = 500


def _export_rows(events):
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    labels = {value: str(label) for value, label in AuditEventType.choices}
    chunk = []
    rows = events.values_list(*EXPORT_FIELDS).iterator(chunk_size=EXPORT_CHUNK_SIZE)
    for created_at, slug, event, actor, target, ip, agent, details, sequence, link in rows:
        chunk.append(
            writer.writerow(
                [
                    csv_safe(value)
                    for value in (
                        created_at.astimezone(UTC).isoformat(),
                        slug or "",
                        labels.get(event, event),
                        event,
                        actor,
                        target,
                        ip,
                        device_from_user_agent(agent),
                        agent,
                        json.dumps(details, sort_keys=True, ensure_ascii=False),
                        sequence,
                        link,
                    )
                ]
            )
        )
        if len(chunk) == EXPORT_ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


@never_cache
@require_GET
@login_required
@permission_required(scopes.AUDIT_EXPORT, raise_exception=True)
def export(request: HttpRequest) -> HttpResponse:
    """The filtered trail as CSV, streamed row by row however long it is."""
    for guard in _export_guards:
        demand = guard(request)
        if demand is not None:
            return demand
    form = TrailFilterForm(request.GET, viewer=request.user)
    if not form.is_valid():
        problems = "; ".join(message for errors in form.errors.values() for message in errors)
        return HttpResponse(
            f"Fix the filters: {problems}", status=400, content_type="text/plain; charset=utf-8"
        )
    filters = form.filters()
    events = audit_trail(viewer=request.user, **filters)
    audit_event_record(
        event=AuditEventType.AUDIT_EXPORTED,
        actor=request.user,
        tenant=filters.get("tenant") or request.user.tenant,
        request=request,
        details={key: str(value) for key, value in request.GET.items() if key in form.fields},
    )
    tenant = filters.get("tenant") or request.user.tenant
    filename = f"audit-{tenant.slug if tenant else 'all'}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    return StreamingHttpResponse(
        _export_rows(events),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
