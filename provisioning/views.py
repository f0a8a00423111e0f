"""The SCIM 2.0 endpoint (RFC 7644) at /scim/v2/: one tenant per token.

A request is authenticated by its bearer token (`ProvisioningToken`), counted against the
token's rate limit, bounded in size, and parsed and checked by scim2-models; the change is
made by one service of provisioning.services. Every answer is `application/scim+json`, and
every refusal a SCIM Error with its status and `scimType`.
"""

import json
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError as PayloadError
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    Error,
    ETag,
    Filter,
    Group,
    InvalidValueException,
    ListResponse,
    NotFoundException,
    Patch,
    PatchOp,
    PayloadTooLargeException,
    ResourceType,
    SCIMException,
    ScimPolicy,
    ServiceProviderConfig,
    Sort,
    User,
)

from accounts.models import User as Person
from audit.events import AuditEventType
from audit.refusals import access_refusal_record
from provisioning import scim
from provisioning.models import DirectoryGroup, ProvisioningToken
from provisioning.services.groups import (
    directory_group_create,
    directory_group_delete,
    directory_group_update,
)
from provisioning.services.people import (
    directory_person_create,
    directory_person_remove,
    directory_person_update,
    provisioning_actor,
)
from provisioning.services.tokens import (
    provisioning_refusal_record,
    rate_limit_reached,
    token_digest,
    token_use,
)
from teams.rules import ActingRefused, OtherTenantRefused

# Entra sends the enterprise extension's schema with every user, so the User model knows it.
ScimUser = User[EnterpriseUser]

CONTENT_TYPE = "application/scim+json"
# How far the directories' payloads may depart from RFC 7644, and no further: Entra sends a
# member to remove as the `value` of a path-less-filter "remove", and expects a replace of
# emails[type eq "work"].value to make the entry when there is none; attributes we don't keep
# (Okta's `password`, `locale`) are dropped rather than refused.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)
MAX_RESULTS = 200


def _respond(payload: dict | None, status: int = 200, headers: dict | None = None) -> HttpResponse:
    body = b"" if payload is None else json.dumps(payload).encode()
    response = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _error(status: int, detail: str, scim_type: str | None = None, **headers) -> HttpResponse:
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return _respond(error.model_dump(), status=status, headers=headers)


def _resource(model, ctx: Context = Context.RESOURCE_QUERY_RESPONSE) -> dict:
    return model.model_dump(scim_ctx=ctx)


def _payload(request: HttpRequest, model, ctx: Context):
    # The Content-Length was checked before the view ran; a chunked body has none.
    if len(request.body) > settings.SCIM_MAX_REQUEST_BYTES:
        raise PayloadTooLargeException()
    try:
        data = json.loads(request.body or b"{}")
    except ValueError as error:
        raise InvalidValueException(detail="The body is not JSON.") from error
    if not isinstance(data, dict):
        raise InvalidValueException(detail="The body must be a JSON object.")
    return model.model_validate(data, scim_ctx=ctx)


def _base(request: HttpRequest) -> str:
    return settings.SITE_URL.rstrip("/") + "/scim/v2"


def _token_from(request: HttpRequest) -> ProvisioningToken | None:
    scheme, _space, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    return (
        ProvisioningToken.objects.select_related("tenant")
        .filter(digest=token_digest(presented.strip()))
        .first()
    )


def _codes(refusal: ValidationError) -> set[str | None]:
    errors = (
        [error for field in refusal.error_dict.values() for error in field]
        if hasattr(refusal, "error_dict")
        else refusal.error_list
    )
    return {error.code for error in errors}


def _codes(refusal: ValidationError) -> set[str | None]:
    errors = (
        [error for field in refusal.error_dict.values() for error in field]
        if hasattr(refusal, "error_dict")
        else refusal.error_list
    )
    return {error.code for error in errors}


def scim_view(view: Callable) -> Callable:
    """Authenticate, limit and translate errors for one SCIM view: `view(request, token, ...)`."""

    @csrf_exempt
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        token = _token_from(request)
        if token is None:
            access_refusal_record(
                event=AuditEventType.PROVISIONING_REFUSED,
                request=request,
                details={"reason": "unknown_token"},
            )
            return _error(
                401,
                "A valid provisioning token is required.",
                **{"WWW-Authenticate": 'Bearer realm="scim"'},
            )
        if not token.is_usable():
            reason = "revoked" if token.revoked_at else "expired"
            provisioning_refusal_record(
                event=AuditEventType.PROVISIONING_REFUSED,
                token=token,
                request=request,
                details={"reason": reason, "token": token.name},
            )
            return _error(
                401,
                f"This provisioning token is {reason}.",
                **{"WWW-Authenticate": 'Bearer realm="scim", error="invalid_token"'},
            )
        if rate_limit_reached(token=token, per_minute=settings.SCIM_RATE_LIMIT_PER_MINUTE):
            provisioning_refusal_record(
                event=AuditEventType.RATE_LIMIT_DROPPED,
                token=token,
                request=request,
                details={"reason": "rate_limit", "token": token.name},
            )
            return _error(429, "Too many requests: try again in a minute.", **{"Retry-After": "60"})
        length = int(request.headers.get("Content-Length") or 0)
        if length > settings.SCIM_MAX_REQUEST_BYTES:
            return _error(413, PayloadTooLargeException().detail)
        token_use(token=token, request=request)
        try:
            with POLICY:
                return view(request, token, *args, **kwargs)
        except SCIMException as error:
            payload = error.to_error()
            return _respond(payload.model_dump(), status=payload.status or 400)
        except PayloadError as error:
            payload = Error.from_validation_errors(error)[0]
            return _respond(payload.model_dump(), status=payload.status or 400)
        except (ActingRefused, OtherTenantRefused) as refusal:
            return _error(403, " ".join(refusal.messages))
        except ValidationError as refusal:
            if _codes(refusal) & {"uniqueness", "unique"}:
                return _error(409, " ".join(refusal.messages), "uniqueness")
            return _error(400, " ".join(refusal.messages), "invalidValue")
        except PermissionDenied as refusal:
            return _error(403, str(refusal) or "Refused.")

    return wrapped


# --- people


def _people(token: ProvisioningToken):
    """The token's tenant's people, less those its directory removed (a SCIM DELETE)."""
    return (
        Person.objects.for_tenant(token.tenant)
        .filter(is_superuser=False)
        .exclude(directory_link__removed_at__isnull=False)
        .select_related("directory_link")
        .prefetch_related("directory_groups")
        .order_by("pk")
    )


def _person(request: HttpRequest, token: ProvisioningToken, person_id: str) -> Person:
    person = _people(token).filter(pk=int(person_id)).first() if person_id.isdigit() else None
    if person is None:
        _refuse_if_other_tenants(
            request, token, Person.objects.filter(pk=person_id) if person_id.isdigit() else None
        )
        raise NotFoundException(detail=f"No User {person_id}.")
    return person


def _group(request: HttpRequest, token: ProvisioningToken, group_id: str) -> DirectoryGroup:
    if not scim._is_uuid(group_id):
        raise NotFoundException(detail=f"No Group {group_id}.")
    group = (
        DirectoryGroup.objects.for_tenant(token.tenant)
        .select_related("role")
        .prefetch_related("members")
        .filter(scim_id=group_id)
        .first()
    )
    if group is None:
        _refuse_if_other_tenants(request, token, DirectoryGroup.objects.filter(scim_id=group_id))
        raise NotFoundException(detail=f"No Group {group_id}.")
    return group


def _refuse_if_other_tenants(request, token, rows) -> None:
    """Another tenant's resource is the same 404 as a missing one, and an audited refusal."""
    if rows is not None and rows.exclude(tenant=token.tenant).exists():
        provisioning_refusal_record(
            event=AuditEventType.PROVISIONING_OTHER_TENANT_REFUSED,
            token=token,
            request=request,
            details={"reason": "other_tenant", "token": token.name},
        )


def _user_location(person: Person) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/scim/v2/Users/{person.pk}"


def _group_location(group: DirectoryGroup) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/scim/v2/Groups/{group.scim_id}"


def _pagination(request: HttpRequest) -> tuple[int, int]:
    try:
        start = max(1, int(request.GET.get("startIndex", 1)))
        count = min(MAX_RESULTS, max(0, int(request.GET.get("count", 100))))
    except ValueError as error:
        raise InvalidValueException(detail="startIndex and count are integers.") from error
    return start, count


def _listed(request: HttpRequest, rows, serialise, model) -> HttpResponse:
    start, count = _pagination(request)
    total = rows.count()
    page = list(rows[start - 1 : start - 1 + count])
    listing = ListResponse[model](
        total_results=total,
        start_index=start,
        items_per_page=len(page),
        resources=[serialise(row) for row in page],
    )
    return _respond(_resource(listing, Context.SEARCH_RESPONSE))


@scim_view
def users(request: HttpRequest, token: ProvisioningToken) -> HttpResponse:
    actor = provisioning_actor(token=token)
    if request.method == "GET":
        rows = _people(token)
        if request.GET.get("filter"):
            rows = scim.filtered_people(rows, request.GET["filter"])
        return _listed(
            request, rows, lambda p: scim.user_resource(p, location=_user_location(p)), ScimUser
        )
    if request.method != "POST":
        return _error(405, "Use GET or POST.")
    resource = _payload(request, ScimUser, Context.RESOURCE_CREATION_REQUEST)
    person = directory_person_create(
        tenant=token.tenant,
        actor=actor,
        email=scim.sign_in_email_of(resource),
        full_name=scim.full_name_of(resource),
        external_id=resource.external_id,
        active=resource.active is not False,
        request=request,
    )
    person = _people(token).get(pk=person.pk)
    created = scim.user_resource(person, location=_user_location(person))
    return _respond(
        _resource(created, Context.RESOURCE_CREATION_RESPONSE),
        status=201,
        headers={"Location": _user_location(person)},
    )


@scim_view
def user(request: HttpRequest, token: ProvisioningToken, person_id: str) -> HttpResponse:
    actor = provisioning_actor(token=token)
    person = _person(request, token, person_id)
    current = scim.user_resource(person, location=_user_location(person))
    if request.method == "GET":
        return _respond(_resource(current))
    if request.method == "DELETE":
        directory_person_remove(person=person, actor=actor, request=request)
        return HttpResponse(status=204)
    if request.method == "PUT":
        changed = _payload(request, ScimUser, Context.RESOURCE_REPLACEMENT_REQUEST)
        external_id = changed.external_id
        before = None
    elif request.method == "PATCH":
        patch = _payload(request, PatchOp[ScimUser], Context.RESOURCE_PATCH_REQUEST)
        changed = current.model_copy(deep=True)
        patch.patch(changed)
        external_id = changed.external_id if changed.external_id != current.external_id else None
        before = current
    else:
        return _error(405, "Use GET, PUT, PATCH or DELETE.")
    email = scim.sign_in_email_of(changed)
    if email == current.user_name:
        email = scim.email_changed_by_emails(changed, current) or email
    with transaction.atomic():
        person = directory_person_update(
            person=person,
            actor=actor,
            email=email,
            full_name=scim.full_name_of(changed, before=before),
            external_id=external_id,
            # A PUT that leaves `active` out leaves it as it is.
            active=person.is_active if changed.active is None else changed.active,
            request=request,
        )
    person = _people(token).get(pk=person.pk)
    return _respond(_resource(scim.user_resource(person, location=_user_location(person))))


# --- groups


def _members(token: ProvisioningToken, resource: Group) -> list[Person]:
    ids = {member.value for member in resource.members or [] if member.value}
    found = list(_people(token).filter(pk__in=[int(i) for i in ids if str(i).isdigit()]))
    if len(found) != len(ids):
        raise InvalidValueException(detail="A member is not a User of this service.")
    return found


@scim_view
def groups(request: HttpRequest, token: ProvisioningToken) -> HttpResponse:
    actor = provisioning_actor(token=token)
    if request.method == "GET":
        rows = DirectoryGroup.objects.for_tenant(token.tenant).prefetch_related("members")
        if request.GET.get("filter"):
            rows = scim.filtered_groups(rows, request.GET["filter"])
        with_members = "members" not in request.GET.get("excludedAttributes", "")
        return _listed(
            request,
            rows.order_by("pk"),
            lambda g: scim.group_resource(
                g, location=_group_location(g), with_members=with_members
            ),
            Group,
        )
    if request.method != "POST":
        return _error(405, "Use GET or POST.")
    resource = _payload(request, Group, Context.RESOURCE_CREATION_REQUEST)
    group = directory_group_create(
        tenant=token.tenant,
        actor=actor,
        display_name=resource.display_name or "",
        external_id=resource.external_id,
        members=_members(token, resource),
        request=request,
    )
    return _respond(
        _resource(
            scim.group_resource(group, location=_group_location(group)),
            Context.RESOURCE_CREATION_RESPONSE,
        ),
        status=201,
        headers={"Location": _group_location(group)},
    )


@scim_view
def group(request: HttpRequest, token: ProvisioningToken, group_id: str) -> HttpResponse:
    actor = provisioning_actor(token=token)
    row = _group(request, token, group_id)
    current = scim.group_resource(row, location=_group_location(row))
    if request.method == "GET":
        return _respond(_resource(current))
    if request.method == "DELETE":
        directory_group_delete(group=row, actor=actor, request=request)
        return HttpResponse(status=204)
    if request.method == "PUT":
        changed = _payload(request, Group, Context.RESOURCE_REPLACEMENT_REQUEST)
    elif request.method == "PATCH":
        patch = _payload(request, PatchOp[Group], Context.RESOURCE_PATCH_REQUEST)
        changed = current.model_copy(deep=True)
        patch.patch(changed)
    else:
        return _error(405, "Use GET, PUT, PATCH or DELETE.")
    row = directory_group_update(
        group=row,
        actor=actor,
        display_name=changed.display_name or row.display_name,
        external_id=changed.external_id,
        members=_members(token, changed),
        request=request,
    )
    if request.method == "PATCH":
        return HttpResponse(status=204)
    row = _group(request, token, str(row.scim_id))
    return _respond(_resource(scim.group_resource(row, location=_group_location(row))))


# --- discovery (RFC 7644 §4)


@scim_view
def service_provider_config(request: HttpRequest, token: ProvisioningToken) -> HttpResponse:
    config = ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Provisioning token",
                description="A bearer token an Owner makes in the admin.",
                primary=True,
            )
        ],
    )
    return _respond(_resource(config))


def _schemas() -> list:
    return [User.to_schema(), EnterpriseUser.to_schema(), Group.to_schema()]


@scim_view
def schemas(request: HttpRequest, token: ProvisioningToken, schema_id: str = "") -> HttpResponse:
    found = [schema for schema in _schemas() if not schema_id or schema.id == schema_id]
    if schema_id:
        if not found:
            raise NotFoundException(detail=f"No schema {schema_id}.")
        return _respond(_resource(found[0]))
    listing = ListResponse[type(found[0])](
        total_results=len(found), start_index=1, items_per_page=len(found), resources=found
    )
    return _respond(_resource(listing))


@scim_view
def resource_types(request: HttpRequest, token: ProvisioningToken, name: str = "") -> HttpResponse:
    types = [ResourceType.from_resource(ScimUser), ResourceType.from_resource(Group)]
    if name:
        found = [t for t in types if t.id == name or t.name == name]
        if not found:
            raise NotFoundException(detail=f"No resource type {name}.")
        return _respond(_resource(found[0]))
    listing = ListResponse[ResourceType](
        total_results=len(types), start_index=1, items_per_page=len(types), resources=types
    )
    return _respond(_resource(listing))
