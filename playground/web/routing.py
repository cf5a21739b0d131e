from django.urls import path

from playground.web.consumers import ExperimentConsumer

websocket_urlpatterns = [
    path("ws/e/<str:share_id>/", ExperimentConsumer.as_asgi()),
]
