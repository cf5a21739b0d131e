"""`manage.py experiment run SPEC.json | --preset NAME` and `manage.py experiment presets`."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from playground.engine.run.clusters import Target
from playground.engine.run.conductor import Conductor, ExperimentError
from playground.engine.spec.model import Spec, SpecError
from playground.engine.spec.presets import PRESETS, preset
from playground.lab.control import LabClient, LabError
from playground.lab.launcher import LabProcess, launch

# The exit status of `experiment run` when the run was not a valid test of its spec (a worker
# that failed, a fault that never fired): its JSON is printed all the same. Bad input and a run
# that could not happen at all exit with 1 (CommandError), as every Django command does.
EXIT_INVALID_RUN = 3


class Command(BaseCommand):
    help = (
        "Run an experiment against the cluster and print its audited result as JSON on stdout; "
        "stderr ends with one line, 'observed: SEMANTIC (promised: SEMANTIC)' or "
        "'INVALID RUN: PROBLEM; ...'. Exit status: 0 for a valid run, "
        f"{EXIT_INVALID_RUN} for a run that was not a valid test of its spec (the result is "
        "still printed), 1 when the run could not happen or the input is bad. A run is stopped "
        "at PLAYGROUND_MAX_RUN_SECONDS, as in the web runner."
    )

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
                # The runner's limit: no run goes on without end from the command line either.
                time_limit=settings.PLAYGROUND_MAX_RUN_SECONDS,
            )
            result = conductor.run()
        except ExperimentError as error:
            raise CommandError(str(error)) from error
        finally:
            if lab_process is not None:
                lab_process.stop()
        if options["orders"]:
            self._write_with_orders(result, conductor.audit_result.orders)
        else:
            self.stdout.write(json.dumps(result, indent=2))
        self.stderr.write(outcome_line(result))
        if result.get("valid") is False:
            sys.exit(EXIT_INVALID_RUN)

    def _write_with_orders(self, result: dict, stories) -> None:
        """The result with every order's story under "orders", written a story at a time from
        the story book: ten million stories never sit in memory together."""
        text = json.dumps(result, indent=2)
        self.stdout.write(text[: text.rindex("}")].rstrip() + ',\n  "orders": {', ending="")
        for number, story in enumerate(stories.values()):
            entry = f"{json.dumps(story.order_id)}: {json.dumps(story.to_json())}"
            self.stdout.write(("," if number else "") + "\n    " + entry, ending="")
        self.stdout.write("\n  }\n}")

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
        except (OSError, ValueError) as error:  # unreadable, bad UTF-8, bad JSON, absurd digits
            raise CommandError(f"{path}: {error}") from error
        except RecursionError:
            raise CommandError(f"{path}: JSON nested too deeply to be a spec") from None
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


def outcome_line(result: dict) -> str:
    """One line for the end of a run: the semantic it showed beside the one promised, or, for a
    run that was not a valid test of its spec, every problem instead of a semantic."""
    if result.get("valid") is False:
        problems = [problem["message"] for problem in result.get("problems") or []]
        return "INVALID RUN: " + ("; ".join(problems) or "the result gives no reason")
    return (
        f"observed: {result.get('observed_semantic')} (promised: {result.get('promised_semantic')})"
    )


class Progress:
    """Prints a progress line to stderr about once a second, and every phase change."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.last_phase = None
        self.last_second = -1

    def __call__(self, snapshot: dict) -> None:
        second = int(snapshot["elapsed"])
        phase = (snapshot["phase"], snapshot.get("audit_step"))
        if phase == self.last_phase and second == self.last_second:
            return
        self.last_phase, self.last_second = phase, second
        step = f": {snapshot['audit_step']}" if snapshot.get("audit_step") else ""
        self.stream.write(
            f"  {snapshot['elapsed']:6.1f}s {snapshot['phase']:<9}"
            f"  attempted {snapshot['attempted']}  acked {snapshot['acked']}"
            f"  delivered {snapshot['delivered']}"
            f"  effects {snapshot['effects']}  pending {snapshot['pending']}{step}"
        )
        sys.stderr.flush()
