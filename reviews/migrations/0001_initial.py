import accounts.models
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED = ("accessreview", "accessreviewentry")


def content_types_follow(apps, schema_editor, *, source, destination):
    """Move the content types (and so the permissions) of the moved models to their new app."""
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(
        schema_editor.connection.alias
    )
    # One already made for the destination (by a partial migrate) wins; the old one is stale.
    taken = content_types.filter(app_label=destination).values_list("model", flat=True)
    content_types.filter(app_label=source, model__in=MOVED).exclude(model__in=list(taken)).update(
        app_label=destination
    )


def forwards(apps, schema_editor):
    content_types_follow(apps, schema_editor, source="support", destination="reviews")


def backwards(apps, schema_editor):
    content_types_follow(apps, schema_editor, source="reviews", destination="support")


class Migration(migrations.Migration):
    """Access reviews move out of support. Their table stays `support_accessreview`; only
    Django's idea of which app owns the models changes (support 0003 lets go of them)."""

    initial = True

    dependencies = [
        ("accounts", "0004_password_history_and_reset_requests"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("support", "0002_access_review_entry"),
        ("teams", "0003_session_limit_validators"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AccessReview",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("people_reviewed", models.PositiveIntegerField()),
                        ("flagged", models.PositiveIntegerField()),
                        (
                            "completed_at",
                            models.DateTimeField(default=django.utils.timezone.now),
                        ),
                        (
                            "reviewer",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "tenant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="access_reviews",
                                to="teams.tenant",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "support_accessreview",
                        "ordering": ["-completed_at"],
                    },
                ),
                migrations.CreateModel(
                    name="AccessReviewEntry",
                    fields=[],
                    options={
                        "verbose_name": "person",
                        "verbose_name_plural": "access review",
                        "proxy": True,
                        "indexes": [],
                        "constraints": [],
                    },
                    bases=("accounts.user",),
                    managers=[
                        ("objects", accounts.models.UserManager()),
                    ],
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
