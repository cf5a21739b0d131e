from django.db import migrations, models


def older_comparisons_hold_guarantee_runs(apps, schema_editor):
    """A comparison stored before cost runs existed ran each spec once, under the shared faults:
    each of its runs is that spec's guarantee run, one column per run, in their order."""
    Experiment = apps.get_model("web", "Experiment")
    columns: dict[int, int] = {}
    for run in Experiment.objects.exclude(comparison=None).order_by("created_at", "id"):
        column = columns.get(run.comparison_id, 0)
        columns[run.comparison_id] = column + 1
        run.comparison_column, run.comparison_role = column, "guarantee"
        run.save(update_fields=["comparison_column", "comparison_role"])


class Migration(migrations.Migration):
    dependencies = [
        ("web", "0005_class_predictions"),
    ]

    operations = [
        migrations.AddField(
            model_name="comparison",
            name="cost_records",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="comparison",
            name="rounds",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="comparison",
            name="faults_label",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="comparison",
            name="course",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="comparison",
            name="cancelled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="experiment",
            name="comparison_column",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="experiment",
            name="comparison_role",
            field=models.CharField(blank=True, default="", max_length=10),
        ),
        migrations.AddField(
            model_name="experiment",
            name="comparison_round",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.RunPython(older_comparisons_hold_guarantee_runs, migrations.RunPython.noop),
    ]
