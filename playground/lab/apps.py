from django.apps import AppConfig


class LabConfig(AppConfig):
    """Registers the lab's management command (`cluster`); the lab itself does not use Django."""

    name = "playground.lab"
    label = "lab"
