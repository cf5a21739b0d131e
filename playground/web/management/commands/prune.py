"""`manage.py prune`: remove old raw records and leftover topics now, instead of waiting for the
runner's next pass (see playground/web/runs/retention.py for what is kept)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from playground.web.runs import retention


class Command(BaseCommand):
    help = (
        "Remove the raw records (producer log, sink, timeline, worker logs) of finished "
        "experiments older than PLAYGROUND_RETENTION_DAYS, then, oldest first, while the "
        "experiments folder holds more than PLAYGROUND_VAR_CAP_MB; results and per-order stories "
        "stay. Also deletes topics and consumer groups that finished experiments left in the "
        "cluster, if one answers. Queued and running experiments are never touched."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days", type=float, help="retention in days (default: PLAYGROUND_RETENTION_DAYS)"
        )
        parser.add_argument(
            "--cap-mb",
            type=float,
            help="size cap of the experiments folder in MB (default: PLAYGROUND_VAR_CAP_MB)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="only report what would be removed"
        )

    def handle(self, *args, days: float | None, cap_mb: float | None, dry_run: bool, **options):
        if days is not None and days < 0:
            raise CommandError(f"--days: {days:g} is negative; give 0 or more days")
        if cap_mb is not None and cap_mb < 0:
            raise CommandError(f"--cap-mb: {cap_mb:g} is negative; give 0 or more megabytes")
        report = retention.prune(days=days, cap_mb=cap_mb, dry_run=dry_run)
        for line in report.lines():
            self.stdout.write(line)
