from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

# Browsers and crawlers ask for /favicon.ico whatever a page links. A temporary redirect, because
# the static URL carries a content hash that changes with the icon.
favicon = RedirectView.as_view(url=lazy(static, str)("favicon.svg"))

urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("", include("playground.web.urls")),
]
