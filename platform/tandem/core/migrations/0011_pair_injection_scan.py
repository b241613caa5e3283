from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0010_audit_author_alert_acknowledged"),
    ]

    operations = [
        migrations.AddField(
            model_name="pair",
            name="injection_scan",
            field=models.JSONField(
                blank=True,
                help_text='The injection detector\'s result: {"detector": its version, "reason": "" or why}.',
                null=True,
            ),
        ),
    ]
