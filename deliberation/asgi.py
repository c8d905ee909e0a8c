"""ASGI entry point: Django for HTTP, Channels for WebSockets (same origin, same auth)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deliberation.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from deliberation.debates.routing import websocket_urlpatterns  # noqa: E402
from deliberation.moderation.routing import (  # noqa: E402
    websocket_urlpatterns as moderation_websocket_urlpatterns,
)
from deliberation.origin import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(URLRouter(moderation_websocket_urlpatterns + websocket_urlpatterns))
        ),
    }
)
