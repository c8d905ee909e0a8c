from django.urls import path

from .consumers import ModeratorConsumer

websocket_urlpatterns = [
    path("ws/sessions/<int:session_id>/moderator/", ModeratorConsumer.as_asgi()),
]
