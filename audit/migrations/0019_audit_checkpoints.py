"""Signed checkpoints of the audit chains: where verification starts again (docs/audit.md)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0018_delivery_failure_in_words"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("chain_key", models.PositiveBigIntegerField()),
                ("sequence", models.PositiveBigIntegerField()),
                ("hash", models.CharField(max_length=64)),
                ("events", models.PositiveBigIntegerField()),
                ("recorded_at", models.DateTimeField()),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("verified", "Verified up to the head"),
                            ("retention", "Retention cut"),
                        ],
                        max_length=10,
                    ),
                ),
                ("signature", models.CharField(max_length=200)),
            ],
            options={
                "ordering": ["chain_key", "-id"],
                "indexes": [
                    models.Index(fields=["chain_key", "-id"], name="audit_checkpoint_chain")
                ],
            },
        ),
    ]
