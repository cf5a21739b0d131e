"""`manage.py experiment run SPEC.json | --preset NAME` and `manage.py experiment presets`."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from playground.engine.clusters import Target
from playground.engine.conductor import Conductor, ExperimentError
from playground.engine.presets import PRESETS, preset
from playground.engine.spec import Spec, SpecError
from playground.lab.control import LabClient, LabError
from playground.lab.launcher import LabProcess, launch


class Command(BaseCommand):
    help = "Run an experiment against the cluster and print its audited result as JSON."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="run one experiment")
        run.add_argument("spec", nargs="?", help="path to a spec JSON file")
        run.add_argument("--preset", help="run a built-in preset instead")
        run.add_argument("--orders", action="store_true", help="include the per-order stories")
        sub.add_parser("presets", help="list the built-in presets")

    def handle(self, *args, action: str, **options) -> None:
        if action == "presets":
            for item in PRESETS.values():
                self.stdout.write(f"{item.name:<22} {item.semantic.value:<14} {item.title}")
            return
        spec = self._spec(options["spec"], options["preset"])
        lab_process, target = self._target()
        try:
            experiment_id = uuid.uuid4().hex[:12]
            conductor = Conductor(
                spec,
                experiment_id=experiment_id,
                root=settings.VAR_DIR / "experiments" / experiment_id,
                bootstrap_servers=target.bootstrap_servers,
                direct_bootstrap_servers=target.direct_bootstrap_servers,
                lab=target.lab,
                on_snapshot=Progress(self.stderr),
            )
            result = conductor.run()
        except ExperimentError as error:
            raise CommandError(str(error)) from error
        finally:
            if lab_process is not None:
                lab_process.stop()
        if options["orders"]:
            result["orders"] = conductor.audit_result.to_json(include_orders=True)["orders"]
        self.stdout.write(json.dumps(result, indent=2))

    def _spec(self, path: str | None, preset_name: str | None) -> Spec:
        if bool(path) == bool(preset_name):
            raise CommandError("give either a spec file or --preset NAME")
        if preset_name:
            try:
                return preset(preset_name).spec
            except KeyError as error:
                raise CommandError(str(error).strip("'\"")) from error
        try:
            document = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise CommandError(f"{path}: {error}") from error
        try:
            return Spec.from_json(document)
        except SpecError as error:
            raise CommandError("invalid spec:\n  " + "\n  ".join(map(str, error.errors))) from error

    def _target(self) -> tuple[LabProcess | None, Target]:
        """The cluster to use; starts a lab for this run if none is running."""
        if settings.KAFKA_BOOTSTRAP_SERVERS:
            return None, Target.external(settings.KAFKA_BOOTSTRAP_SERVERS)
        client = LabClient(settings.LAB_DIR)
        if client.is_running():
            return None, Target.managed(client)
        self.stderr.write("no cluster running: starting one for this experiment")
        process = launch(settings.LAB_DIR, settings.LAB_PORT_BASE)
        try:
            client.wait_ready(on_progress=lambda s: self.stderr.write(f"  cluster: {s['detail']}"))
        except LabError as error:
            process.stop()
            raise CommandError(str(error)) from error
        return process, Target.managed(client)


class Progress:
    """Prints a progress line to stderr about once a second, and every phase change."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.last_phase = None
        self.last_second = -1

    def __call__(self, snapshot: dict) -> None:
        second = int(snapshot["elapsed"])
        if snapshot["phase"] == self.last_phase and second == self.last_second:
            return
        self.last_phase, self.last_second = snapshot["phase"], second
        self.stream.write(
            f"  {snapshot['elapsed']:6.1f}s {snapshot['phase']:<9}"
            f"  attempted {snapshot['attempted']}  acked {snapshot['acked']}"
            f"  delivered {snapshot['delivered']}"
            f"  effects {snapshot['effects']}  pending {snapshot['pending']}"
        )
        sys.stderr.flush()
