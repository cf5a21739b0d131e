from channels.sessions import CookieMiddleware
from django.urls import path

from playground.web.consumers import ExperimentConsumer

websocket_urlpatterns = [
    # The session cookie says whether a viewer controls the experiment (the tally goes to them
    # alone); the consumer reads the session once, at connect (see ExperimentConsumer.connect).
    path("ws/e/<str:share_id>/", CookieMiddleware(ExperimentConsumer.as_asgi())),
]
