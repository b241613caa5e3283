"""Jobs record their worker and its heartbeat, so a job whose worker died is found and resumed."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_alerts"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="worker",
            field=models.CharField(
                blank=True, help_text="The worker running it (Celery node name).", max_length=200
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="heartbeat_at",
            field=models.DateTimeField(
                blank=True, help_text="Last sign of life from its worker while running.", null=True
            ),
        ),
    ]
