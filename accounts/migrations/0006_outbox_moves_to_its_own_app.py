from django.db import migrations


class Migration(migrations.Migration):
    """The outbox now belongs to the `outbox` app, which keeps this table as it is."""

    dependencies = [
        ("accounts", "0005_email_refuses_control_characters"),
        ("outbox", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OutboxMail")],
            database_operations=[],
        ),
    ]
