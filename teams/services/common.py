from typing import Any

from django.db import models


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
