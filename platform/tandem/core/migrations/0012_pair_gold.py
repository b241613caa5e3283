from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0011_pair_injection_scan"),
    ]

    operations = [
        migrations.AddField(
            model_name="pair",
            name="gold",
            field=models.CharField(
                blank=True,
                choices=[("a", "response A"), ("b", "response B"), ("tie", "tie")],
                help_text="A gold item's known answer (blank: an ordinary pair); see core.gold.",
                max_length=3,
            ),
        ),
    ]
