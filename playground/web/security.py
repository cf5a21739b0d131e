"""What keeps a served playground safe: the Content-Security-Policy on every response, and the
rule for when `serve` may listen beyond this machine.

The policy lets a page run only the app's own script files and stylesheets: no inline script, no
event-handler attribute, no style attribute, no eval. A payload that slips into a page (a spec's
name, a share link) can then neither run nor restyle anything. Django 5.2 has no CSP of its own;
this is small enough not to need a package.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from playground.secret_key import ENVIRONMENT_VARIABLE, KEY_FILE_NAME, is_strong

HEADER = "Content-Security-Policy"
LOCAL_HOST_NAMES = {"localhost"}
TECHNICAL_DEBUG_STATUSES = {404, 500}


def content_security_policy(request: HttpRequest) -> str:
    """The policy for a response to `request`. connect-src names the websocket of the request's
    own host: the live page connects to /ws/ (browsers differ on whether 'self' covers ws:)."""
    sockets = ""
    try:
        host = request.get_host()
    except DisallowedHost:
        pass  # answered with a 400 anyway; that page needs no websocket
    else:
        sockets = f" ws://{host} wss://{host}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{sockets}; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'"
    )


@sync_and_async_middleware
def content_security_policy_middleware(get_response: Callable) -> Callable:
    """Adds the policy to every response (pages, fragments, the API, static files)."""

    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponseBase:
            return _with_policy(request, await get_response(request))

    else:

        def middleware(request: HttpRequest) -> HttpResponseBase:
            return _with_policy(request, get_response(request))

    return middleware


def _with_policy(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    # Django's DEBUG pages (a traceback, the URL patterns) are built of inline script and style;
    # DEBUG serves this machine only (see refusal_to_serve), so they keep working there.
    if not (settings.DEBUG and response.status_code in TECHNICAL_DEBUG_STATUSES):
        response.setdefault(HEADER, content_security_policy(request))
    return response


def is_local(host: str) -> bool:
    """Whether `host` (as given to `serve --host`) is reachable from this machine only."""
    if host.lower() in LOCAL_HOST_NAMES:
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refusal_to_serve(host: str) -> str | None:
    """Why serving on `host` would be unsafe with the current settings, or None if it is not.
    Beyond this machine, DEBUG would show tracebacks and settings to anyone, and a weak key would
    let anyone forge a session."""
    if is_local(host):
        return None
    if settings.DEBUG:
        return (
            f"Refusing to serve on {host} with DEBUG on (tracebacks would show to anyone): "
            "unset DJANGO_DEBUG, or serve on 127.0.0.1."
        )
    if not is_strong(settings.SECRET_KEY):
        return (
            f"Refusing to serve on {host} with a weak {ENVIRONMENT_VARIABLE} (under 50 characters "
            f"or too few distinct ones): set a long random one, or unset it to use the key "
            f"generated in var/{KEY_FILE_NAME}."
        )
    return None
