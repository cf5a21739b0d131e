from django.urls import path

from playground.web import api, builder, compare, experiment_views, lesson_views, story_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("guide", views.guide, name="guide"),
    path("lessons/", lesson_views.index, name="lessons"),
    path("lessons/<int:number>/", lesson_views.lesson, name="lesson"),
    path("lab/cluster", views.cluster_panel, name="cluster-panel"),
    path("lab/nodes/<int:node_id>/log", views.node_log, name="node-log"),
    path("builder/", builder.builder, name="builder"),
    path("builder/promise", builder.builder_promise, name="builder-promise"),
    path("experiments/new", experiment_views.new_experiment, name="experiment-new"),
    path("experiments/queue", experiment_views.queue_panel, name="queue"),
    path("e/<str:share_id>/", experiment_views.experiment, name="experiment"),
    path("e/<str:share_id>/orders", experiment_views.orders, name="experiment-orders"),
    path("e/<str:share_id>/orders/<str:order_id>", story_views.order, name="order-story"),
    path("e/<str:share_id>/act", experiment_views.act, name="experiment-act"),
    path("e/<str:share_id>/cancel", experiment_views.cancel, name="experiment-cancel"),
    path("e/<str:share_id>/rerun", experiment_views.rerun, name="experiment-rerun"),
    path("e/<str:share_id>/control", experiment_views.claim_control, name="experiment-control"),
    path("compare/", compare.compare, name="compare"),
    path("c/<str:share_id>/", compare.comparison, name="comparison"),
    path("api/presets", api.presets, name="api-presets"),
    path("api/experiments", api.experiments, name="api-experiments"),
    path("api/experiments/<str:share_id>", api.experiment, name="api-experiment"),
]
