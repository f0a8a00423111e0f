import csv
import io
import json
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC

from django.contrib.auth.decorators import login_required, permission_required
from django.db import connections, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
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


def csv_safe(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


# What the export reads of each event: values, not model instances, which cost more than
# writing the row; the details as their stored JSON text, decoded only once per distinct text.
EXPORT_FIELDS = (
    "created_at",
    "tenant__slug",
    "event",
    "actor_label",
    "target_label",
    "ip",
    "user_agent",
    Cast("details", TextField()),
    "sequence",
    "hash",
)
# Rows read from the server-side cursor per round trip, and written to the stream per chunk
# (about 700 KB of CSV): few round trips and few chunks, in memory that doesn't grow.
EXPORT_ROWS_PER_CHUNK = 2000
# What csv.writer ends each row with (its "excel" dialect).
CSV_LINE_END = "\r\n"
# Distinct values each of an export's `_Cells` remembers before it starts over.
EXPORT_CELLS_REMEMBERED = 10_000


class _Cells(dict):
    """Each distinct value's cell in one column, worked out once per export.

    Most columns repeat a few values (the same people, browsers, addresses, details), so a
    dictionary look-up replaces parsing and escaping them again on every row. It forgets
    everything once it holds `EXPORT_CELLS_REMEMBERED` values, so its memory stays bounded.
    """

    def __init__(self, cell: Callable[[object], str]) -> None:
        super().__init__()
        self.cell = cell

    def __missing__(self, value) -> str:
        if len(self) >= EXPORT_CELLS_REMEMBERED:
            self.clear()
        cell = self[value] = self.cell(value)
        return cell


def _csv_cell(value) -> str:
    """`value` as one cell of a row, spreadsheet formulas defused: what csv.writer writes for
    it among other cells (quoted when it holds a comma, a quote or a line break)."""
    text = csv_safe(value)
    if not text:
        return ""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([text])
    return buffer.getvalue().removesuffix(CSV_LINE_END)


def _details_cell(text: str) -> str:
    return _csv_cell(json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False))


def _export_rows(events):
    with _export_transaction(events.db):
        yield from _export_chunks(events)


def _export_transaction(alias: str):
    """On PostgreSQL, the export reads inside a transaction. Outside one, Django declares its
    server-side cursor WITH HOLD, and PostgreSQL then runs the whole query and stores every
    row before handing over the first: the 10 million rows of an operator's export before its
    first byte. On SQLite, which reads in chunks without one, a transaction would hold the
    write lock (IMMEDIATE mode) for the whole download."""
    if connections[alias].vendor == "postgresql":
        return transaction.atomic(using=alias)
    return nullcontext()


def _export_chunks(events):
    """The CSV in chunks of rows. Each row is its cells joined: csv.writer, called for every
    row, cost more than all the rest of the export."""
    labels = {value: str(label) for value, label in AuditEventType.choices}
    event_cells = _Cells(lambda event: _csv_cell(labels.get(event, event)))
    slug_cells = _Cells(lambda slug: _csv_cell(slug or ""))
    device_cells = _Cells(lambda agent: _csv_cell(device_from_user_agent(agent)))
    cells = _Cells(_csv_cell)
    details_cells = _Cells(_details_cell)
    yield ",".join(map(_csv_cell, EXPORT_COLUMNS)) + CSV_LINE_END
    rows = events.values_list(*EXPORT_FIELDS).iterator(chunk_size=EXPORT_ROWS_PER_CHUNK)
    lines = []
    for created_at, slug, event, actor, target, ip, agent, details, sequence, link in rows:
        # The time and the sequence are digits and punctuation that need neither quotes nor
        # the formula guard; so is the hash, unless someone wrote another one into the table.
        lines.append(
            ",".join(
                (
                    created_at.astimezone(UTC).isoformat(),
                    slug_cells[slug],
                    event_cells[event],
                    cells[event],
                    cells[actor],
                    cells[target],
                    cells[ip],
                    device_cells[agent],
                    cells[agent],
                    details_cells[details],
                    str(sequence),
                    link if link.isalnum() else _csv_cell(link),
                )
            )
        )
        if len(lines) == EXPORT_ROWS_PER_CHUNK:
            lines.append("")
            yield CSV_LINE_END.join(lines)
            lines = []
    if lines:
        lines.append("")
        yield CSV_LINE_END.join(lines)


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
