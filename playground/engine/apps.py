from django.apps import AppConfig


class EngineConfig(AppConfig):
    """Registers the `experiment` command; the engine itself does not use Django."""

    name = "playground.engine"
    label = "engine"
