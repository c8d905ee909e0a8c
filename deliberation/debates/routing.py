from django.urls import re_path

from .consumers import SessionConsumer

websocket_urlpatterns = [
    # Any id segment: the consumer closes with 4404 when it is not a number, instead of the
    # router failing the handshake with no route.
    re_path(r"^ws/sessions/(?P<session_id>[^/]+)/$", SessionConsumer.as_asgi()),
]
