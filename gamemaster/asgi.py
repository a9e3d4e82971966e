"""ASGI entry point: HTTP goes to Django, WebSockets to the apps' consumers."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gamemaster.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from gamemaster.fastlane import FastLane  # noqa: E402
from gamemaster.sockets import websocket_urlpatterns  # noqa: E402
from rooms import fastlane as rooms_lane  # noqa: E402

# The admin's and the API docs' static files, served by the master itself unless a proxy or CDN
# serves STATIC_ROOT (SERVE_STATIC=false): the quick start needs nothing in front of it.
django_http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app
# The hot REST routes' common case, without Django's request cycle (PostgreSQL only).
http_app = FastLane(django_http_app, rooms_lane.routes)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# What importing Django, DRF and Channels left behind lives as long as the process: frozen, the
# cyclic GC's full collections no longer walk it. They paused a worker 100 to 130 ms with 600
# party sessions (the fan-out's p99), 30 to 60 ms once frozen (bench/RESULTS.md, scenario 4).
gc.freeze()
