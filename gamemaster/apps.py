from django.apps import AppConfig


class GamemasterConfig(AppConfig):
    name = "gamemaster"

    def ready(self) -> None:
        # drf-spectacular finds the argument fields' schema extensions once they are imported.
        from gamemaster import schema  # noqa: F401
