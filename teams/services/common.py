import json
from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from django.db.models.expressions import RawSQL


def model_update(
    *, instance: models.Model, values: dict[str, Any], validate_exclude: tuple[str, ...] = ()
) -> dict[str, list[Any]]:
    """Set the fields of `values` that differ from `instance`, validate it, and save only those.

    Returns {field: [before, after]} for each field that changed (nothing is saved when nothing
    did), which is what the caller's audit event lists.
    """
    changed = {
        name: [getattr(instance, name), value]
        for name, value in values.items()
        if getattr(instance, name) != value
    }
    if changed:
        for name, (_, value) in changed.items():
            setattr(instance, name, value)
        instance.full_clean(exclude=list(validate_exclude))
        instance.save(update_fields=list(changed))
    return changed


def id_set(ids: Sequence[int]) -> RawSQL:
    """Ids as a subquery of one parameter, for `pk__in`, however many there are.

    A plain list is one parameter per id, and PostgreSQL takes at most 65,535 in a statement:
    bulk jobs over 100,000 rows would have to split into batches, a statement each.
    """
    if connection.vendor == "postgresql":
        # As text: the driver would spell a list out element by element, in Python.
        return RawSQL("SELECT unnest(string_to_array(%s, ','))::bigint", [",".join(map(str, ids))])
    return RawSQL("SELECT value FROM json_each(%s)", [json.dumps(list(ids))])
