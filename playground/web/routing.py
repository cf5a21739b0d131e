from channels.sessions import SessionMiddlewareStack
from django.urls import path

from playground.web.consumers import ExperimentConsumer

websocket_urlpatterns = [
    # The session says whether a viewer controls the experiment (the tally goes to them alone).
    path("ws/e/<str:share_id>/", SessionMiddlewareStack(ExperimentConsumer.as_asgi())),
]
