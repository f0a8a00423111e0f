"""Between SCIM resources (scim2-models) and Portcullis' rows: serialising people and groups,
and turning a SCIM filter's parsed form into a database query.

scim2-models parses and checks every payload, filter and PATCH path (RFC 7643/7644), so
nothing here reads SCIM syntax by hand; this module only maps its attributes onto our fields.
"""

import uuid

from django.db.models import Q, QuerySet
from scim2_models import (
    Email,
    EnterpriseUser,
    Group,
    GroupMember,
    GroupMembership,
    InvalidFilterException,
    Meta,
    Name,
    ScimFilter,
    User,
)
from scim2_models.path.expressions import (
    CompareOperator,
    Comparison,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)

from accounts.models import User as Person
from provisioning.models import DirectoryGroup

# Each supported filter attribute, lower-cased as scim2-models resolves it, and its field.
USER_FILTER_FIELDS = {
    "id": "pk",
    "username": "email",
    "externalid": "directory_link__external_id",
    "emails": "email",
    "emails.value": "email",
    # A person's one email is of type work and primary: a bracket filter on either matches it.
    "emails.type": "=work",
    "emails.primary": "=True",
    "active": "is_active",
    "displayname": "full_name",
    "name.formatted": "full_name",
}
GROUP_FILTER_FIELDS = {
    "id": "scim_id",
    "displayname": "display_name",
    "externalid": "external_id",
    "members": "members__pk",
    "members.value": "members__pk",
}
STRING_LOOKUPS = {
    CompareOperator.eq: "iexact",
    CompareOperator.co: "icontains",
    CompareOperator.sw: "istartswith",
    CompareOperator.ew: "iendswith",
}


def user_resource(person: Person, *, location: str) -> User[EnterpriseUser]:
    """A person as a SCIM User. Their one email is their sign-in email, of type work."""
    link = getattr(person, "directory_link", None)
    return User[EnterpriseUser](
        id=str(person.pk),
        external_id=(link.external_id or None) if link else None,
        user_name=person.email,
        display_name=person.full_name or None,
        name=_name(person.full_name),
        active=person.is_active,
        emails=[Email(value=person.email, type=Email.Type.work, primary=True)],
        groups=[
            GroupMembership(value=str(group.scim_id), display=group.display_name)
            for group in person.directory_groups.all()
        ]
        or None,
        meta=Meta(
            resource_type="User",
            created=person.date_joined,
            last_modified=person.date_joined,
            location=location,
        ),
    )


def _name(full_name: str) -> Name | None:
    """Portcullis keeps one name; the directory's given and family names are read back from it
    as its first word and the rest, so a PATCH of name.givenName alone keeps the family name."""
    if not full_name:
        return None
    given, _space, family = full_name.partition(" ")
    return Name(formatted=full_name, given_name=given, family_name=family or None)


def group_resource(group: DirectoryGroup, *, location: str, with_members: bool = True) -> Group:
    return Group(
        id=str(group.scim_id),
        external_id=group.external_id or None,
        display_name=group.display_name,
        members=[
            GroupMember(value=str(person.pk), display=person.email, type="User")
            for person in group.members.all()
        ]
        if with_members
        else None,
        meta=Meta(
            resource_type="Group",
            created=group.created_at,
            last_modified=group.created_at,
            location=location,
        ),
    )


def full_name_of(resource: User, *, before: User | None = None) -> str:
    """The one name Portcullis keeps, from what the directory sent.

    displayName wins (Entra and Okta both send it); then name.formatted; then given and family
    names joined. On a change (`before`), the attribute the directory changed wins, so a
    PATCH of name.givenName alone renames the person.
    """
    name = resource.name or Name()
    joined = " ".join(part for part in (name.given_name, name.family_name) if part)
    if before is not None:
        old = before.name or Name()
        if (name.given_name, name.family_name) != (old.given_name, old.family_name) and joined:
            return joined
        if name.formatted != old.formatted and name.formatted:
            return name.formatted
    return resource.display_name or name.formatted or joined or ""


def sign_in_email_of(resource: User) -> str:
    """userName is the sign-in email. A PATCH of emails[type eq "work"].value alone moves it
    too (Entra's default mapping), since a person has one address here."""
    return resource.user_name or ""


def email_changed_by_emails(resource: User, before: User) -> str | None:
    primary = [email.value for email in (resource.emails or []) if email.value]
    previous = [email.value for email in (before.emails or []) if email.value]
    if primary and primary != previous:
        return primary[0]
    return None


def _lookup(node, fields: dict[str, str]) -> Q:
    if isinstance(node, LogicalExpr):
        parts = [_lookup(term, fields) for term in node.terms]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if node.op == LogicalOperator.and_ else combined | part
        return combined
    if isinstance(node, Not):
        return ~_lookup(node.expr, fields)
    if isinstance(node, ValuePath):
        # emails[type eq "work" and value eq "..."]: the bracket's filter, on the sub-attributes.
        prefix = node.attr_path.attr.lower() + "."
        sub_fields = {
            key.removeprefix(prefix): field
            for key, field in fields.items()
            if key.startswith(prefix)
        }
        return _lookup(node.val_filter, sub_fields)
    if isinstance(node, Present):
        return _present(node.attr_path, fields)
    if isinstance(node, Comparison):
        field = _field(node.attr_path, fields)
        value = node.value
        if field.startswith("="):
            # A constant (see USER_FILTER_FIELDS): the comparison is true for everyone or no one.
            matches = str(value).lower() == field[1:].lower()
            if node.op == CompareOperator.ne:
                matches = not matches
            return Q() if matches else Q(pk__in=[])
        if isinstance(value, bool) or field in ("is_active",):
            if node.op not in (CompareOperator.eq, CompareOperator.ne):
                raise InvalidFilterException(detail=f"{node.op} does not apply to a boolean.")
            query = Q(**{field: value})
        elif field in ("pk", "members__pk"):
            if node.op not in (CompareOperator.eq, CompareOperator.ne):
                raise InvalidFilterException(detail=f"{node.op} does not apply to an id.")
            query = Q(**{field: int(value)}) if str(value).isdigit() else Q(pk__in=[])
        elif field == "scim_id":
            query = Q(scim_id=value) if _is_uuid(value) else Q(pk__in=[])
        else:
            if node.op == CompareOperator.ne:
                return ~Q(**{f"{field}__iexact": value})
            lookup = STRING_LOOKUPS.get(node.op)
            if lookup is None:
                raise InvalidFilterException(detail=f"{node.op} is not supported on {field}.")
            query = Q(**{f"{field}__{lookup}": value})
        return ~query if node.op == CompareOperator.ne else query
    raise InvalidFilterException(detail="This filter is not supported.")


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _field(path, fields: dict[str, str]) -> str:
    key = path.attr.lower() + (f".{path.sub_attr.lower()}" if path.sub_attr else "")
    field = fields.get(key)
    if field is None:
        raise InvalidFilterException(detail=f"Filtering on {key} is not supported.")
    return field


def _present(path, fields: dict[str, str]) -> Q:
    """`attr pr`: our always-set fields are present for everyone."""
    field = _field(path, fields)
    if field.startswith("=") or field in ("email", "is_active", "pk", "scim_id", "display_name"):
        return Q()
    return ~Q(**{field: ""}) & Q(**{f"{field}__isnull": False})


def filtered_people(people: QuerySet, expression: str) -> QuerySet:
    """`people` narrowed by a SCIM filter (`userName eq "..."`, `externalId eq "..."`,
    `emails.value eq "..."`, `active eq true`, and/or/not of those)."""
    return people.filter(
        _lookup(ScimFilter[User[EnterpriseUser]](expression).ast, USER_FILTER_FIELDS)
    ).distinct()


def filtered_groups(groups: QuerySet, expression: str) -> QuerySet:
    return groups.filter(_lookup(ScimFilter[Group](expression).ast, GROUP_FILTER_FIELDS)).distinct()
