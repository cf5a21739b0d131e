from django.urls import path

from playground.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("lab/cluster", views.cluster_panel, name="cluster-panel"),
    path("lab/nodes/<int:node_id>/log", views.node_log, name="node-log"),
]
