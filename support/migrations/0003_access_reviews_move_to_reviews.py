from django.db import migrations


class Migration(migrations.Migration):
    """Access reviews now belong to the reviews app, which took over their table as it is."""

    dependencies = [
        ("reviews", "0001_initial"),
        ("support", "0002_access_review_entry"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="AccessReviewEntry"),
                migrations.DeleteModel(name="AccessReview"),
            ],
            database_operations=[],
        ),
    ]
