"""One student's browser, without the browser: an HTTP client with its own cookie jar (its
session and CSRF cookies), so that the server counts it as a client of its own for fair use."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.cookiejar import CookieJar

REQUEST_TIMEOUT_SECONDS = 60.0
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SHARE_LINK = re.compile(r"/e/([^/]+)/$")
COMPARISON_LINK = re.compile(r"/c/([^/]+)/$")


class SessionError(RuntimeError):
    """The server answered a request with something a browser would show as an error."""

    def __init__(self, what: str, status: int, body: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body[:300]}")
        self.status = status


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Leave a redirect to the caller: the Location of "Run" is the new experiment's link."""

    def redirect_request(self, *args, **kwargs):
        return None


class BrowserSession:
    """A client with cookies: open the home page once (session and CSRF token), then start
    presets with the home page's Run form and read experiments through the API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.statuses: list[int] = []  # of every answer, to count the 5xx
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _KeepRedirects()
        )
        self._csrf_token = ""

    def _open(self, what: str, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.base_url + path, data=data)
        try:
            with self._opener.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as answer:  # a redirect kept, or an error
            status, headers, body = answer.code, answer.headers, answer.read()
        self.statuses.append(status)
        text = body.decode(errors="replace")
        if status >= 400:
            raise SessionError(what, status, text)
        return status, dict(headers), text

    def open_home(self) -> None:
        """GET / as a browser does first: it sets the session and CSRF cookies."""
        _, _, page = self._open("GET /", "/")
        found = CSRF_FIELD.search(page)
        if found is None:
            raise SessionError("GET /", 200, "no csrfmiddlewaretoken in the home page")
        self._csrf_token = found.group(1)

    def start_preset(self, name: str) -> str:
        """Press a preset's Run button; the new experiment's share id."""
        what = f"POST /experiments/new preset={name}"
        form = {"preset": name, "csrfmiddlewaretoken": self._csrf_token}
        status, headers, body = self._open(what, "/experiments/new", form)
        found = SHARE_LINK.search(headers.get("Location", "")) if status in (302, 303) else None
        if found is None:
            raise SessionError(what, status, f"no redirect to an experiment: {body}")
        return found.group(1)

    def start_spec(self, document: dict) -> str:
        """Paste `document` into the builder and press Run; the new experiment's share id."""
        what = "POST /builder/ spec_json"
        form = {"spec_json": json.dumps(document), "csrfmiddlewaretoken": self._csrf_token}
        status, headers, body = self._open(what, "/builder/", form)
        found = SHARE_LINK.search(headers.get("Location", "")) if status in (302, 303) else None
        if found is None:
            raise SessionError(what, status, f"no redirect to an experiment: {body}")
        return found.group(1)

    def start_course_comparison(self) -> str:
        """Press "Measure the course's trade-off table"; the new comparison's share id."""
        return self._start_comparison("/compare/course")

    def start_rebalance_comparison(self) -> str:
        """Press "Compare the rebalance protocols"; the new comparison's share id."""
        return self._start_comparison("/compare/rebalance")

    def _start_comparison(self, path: str) -> str:
        what = f"POST {path}"
        form = {"csrfmiddlewaretoken": self._csrf_token}
        status, headers, body = self._open(what, path, form)
        found = (
            COMPARISON_LINK.search(headers.get("Location", "")) if status in (302, 303) else None
        )
        if found is None:
            raise SessionError(what, status, f"no redirect to a comparison: {body}")
        return found.group(1)

    def comparison(self, share_id: str) -> dict:
        """GET /api/comparisons/<id>: per spec its cost and guarantee figures."""
        _, _, body = self._open("GET comparison", f"/api/comparisons/{share_id}")
        return json.loads(body)

    def experiment(self, share_id: str) -> dict:
        """GET /api/experiments/<id>: the experiment's status, and its result once done."""
        _, _, body = self._open("GET experiment", f"/api/experiments/{share_id}")
        return json.loads(body)


# -- what the comparison benches do with a session -------------------------------------------------
POLL_SECONDS = 1.0
COMPARISON_TIMEOUT_SECONDS = 900.0


def click_until_full(base_url: str, start: Callable[[BrowserSession], str]) -> dict:
    """Press a comparison's button (`start`, e.g. BrowserSession.start_course_comparison) in a
    fresh session and wait for the full table: the wall time and the comparison's API answer."""
    session = BrowserSession(base_url)
    session.open_home()
    clicked = time.monotonic()
    share_id = start(session)
    deadline = clicked + COMPARISON_TIMEOUT_SECONDS
    while True:
        data = session.comparison(share_id)
        if data["finished"]:
            return {"wall_seconds": round(time.monotonic() - clicked, 1), "comparison": data}
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"comparison {share_id} not finished after {COMPARISON_TIMEOUT_SECONDS:.0f} s"
            )
        time.sleep(POLL_SECONDS)


def run_preset_to_end(base_url: str, preset: str) -> None:
    """Run `preset` in a fresh session until it is done or failed (a warm-up)."""
    session = BrowserSession(base_url)
    session.open_home()
    share_id = session.start_preset(preset)
    while session.experiment(share_id)["status"] not in ("done", "failed"):
        time.sleep(POLL_SECONDS)
