from django.urls import path

from playground.web import api_views, builder_views, experiment_views, home_views
from playground.web.comparisons import form as compare_form
from playground.web.comparisons import views as comparison_views
from playground.web.lessons import prediction_views
from playground.web.lessons import views as lesson_views
from playground.web.stories import views as story_views

urlpatterns = [
    path("", home_views.home, name="home"),
    path("guide", home_views.guide, name="guide"),
    path("lessons/", lesson_views.index, name="lessons"),
    path("lessons/<int:number>/", lesson_views.lesson, name="lesson"),
    path("lab/cluster", home_views.cluster_panel, name="cluster-panel"),
    path("lab/nodes/<int:node_id>/log", home_views.node_log, name="node-log"),
    path("builder/", builder_views.builder, name="builder"),
    path("builder/promise", builder_views.builder_promise, name="builder-promise"),
    path("experiments/new", experiment_views.new_experiment, name="experiment-new"),
    path("experiments/queue", experiment_views.queue_panel, name="queue"),
    path("e/<str:share_id>/", experiment_views.experiment, name="experiment"),
    path("e/<str:share_id>/orders", experiment_views.orders, name="experiment-orders"),
    path("e/<str:share_id>/orders/<str:order_id>", story_views.order, name="order-story"),
    path("e/<str:share_id>/act", experiment_views.act, name="experiment-act"),
    path("e/<str:share_id>/cancel", experiment_views.cancel, name="experiment-cancel"),
    path("e/<str:share_id>/rerun", experiment_views.rerun, name="experiment-rerun"),
    path("e/<str:share_id>/control", experiment_views.claim_control, name="experiment-control"),
    path("e/<str:share_id>/predict", prediction_views.predict, name="experiment-predict"),
    path("e/<str:share_id>/reveal", prediction_views.reveal, name="experiment-reveal"),
    path("e/<str:share_id>/start", prediction_views.start_held, name="experiment-start"),
    path("compare/", compare_form.compare, name="compare"),
    path("compare/check", compare_form.compare_check, name="compare-check"),
    path("compare/course", comparison_views.course, name="compare-course"),
    path("compare/rebalance", comparison_views.rebalance, name="compare-rebalance"),
    path("c/<str:share_id>/", comparison_views.comparison, name="comparison"),
    path("c/<str:share_id>/cancel", comparison_views.cancel, name="comparison-cancel"),
    path("api/presets", api_views.presets, name="api-presets"),
    path("api/experiments", api_views.experiments, name="api-experiments"),
    path("api/experiments/<str:share_id>", api_views.experiment, name="api-experiment"),
    path("api/experiments/<str:share_id>/orders", api_views.orders, name="api-experiment-orders"),
    path(
        "api/experiments/<str:share_id>/orders/<str:order_id>",
        api_views.order,
        name="api-experiment-order",
    ),
    path("api/comparisons/<str:share_id>", api_views.comparison, name="api-comparison"),
]
