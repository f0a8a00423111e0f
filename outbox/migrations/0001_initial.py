import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    """The outbox moves from `accounts` into its own app. Its table stays as it was (state only),
    so no mail queued before the move is lost."""

    initial = True

    dependencies = [
        ("accounts", "0005_email_refuses_control_characters"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboxMail",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("kind", models.CharField(max_length=60)),
                        ("to", models.EmailField(max_length=254)),
                        ("subject", models.CharField(max_length=255)),
                        ("body_text", models.TextField()),
                        ("body_html", models.TextField(blank=True)),
                        (
                            "status",
                            models.CharField(
                                choices=[("pending", "Pending"), ("sent", "Sent"), ("failed", "Failed")],
                                default="pending",
                                max_length=10,
                            ),
                        ),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("last_error", models.CharField(blank=True, max_length=500)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("sent_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "accounts_outboxmail",
                        "ordering": ["-created_at"],
                        "indexes": [
                            models.Index(fields=["status", "next_attempt_at"], name="outbox_due")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
