"""Random and mutated input to every page, the API and the live socket never gives a 500.

The fuzz is seeded: each session draws a seed and prints it, and PLAYGROUND_FUZZ_SEED=<seed>
replays the same requests. Form fields and query strings are sent as raw bytes, so invalid UTF-8
and NULs reach the app the way a hostile client sends them; JSON texts are mutations of the
presets' specs (wrong types, huge and long numbers, deep nesting, lone surrogates, NULs, very long
strings, unknown fields, cut-off text). Experiments the requests start are queued and never run:
the runner is not woken.

The four 500s a fuzz once found stay as tests of their own at the end.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from playground.asgi import application
from playground.engine.spec.presets import PRESETS
from playground.web.lessons.guide import QUESTIONS
from playground.web.models import Comparison, Experiment
from tests.conftest import random_cases
from tests.web.test_builder import form_values

SEED = int(os.environ.get("PLAYGROUND_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
REQUESTS = random_cases(1000)
ORIGIN = [(b"origin", b"http://127.0.0.1")]
PRESET_DOCUMENTS = [preset.spec.to_json() for preset in PRESETS.values()]
DEEP, DIGITS = "@DEEP@", "@DIGITS@"  # stand-ins that become text json.dumps cannot write

# Values no spec field takes, or takes only at its edges.
ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    10**30,
    2**63,
    -(2**63),
    1e308,
    "",
    "x" * 100_000,
    "\ud800",
    "\udfff tail",
    "a\x00b",
    "\u202eevil",
    "<script>alert(1)</script>",
    [],
    {},
    [1, "x", {}],
    {"kind": "kill-leader"},
    DEEP,
    DIGITS,
    "all",
    "kill-consumer",
    "next-commit-point",
]
ODD_TEXTS = [
    b"",
    b"-1",
    b"0",
    b"1e999",
    b"NaN",
    b"inf",
    b"9" * 5000,
    b"1.5",
    b"99999999999999999999",
    b"\x00",
    b"a\x00b",
    b"\xed\xa0\x80",  # a UTF-8-encoded lone surrogate
    b"\xff\xfe",
    "☃".encode() * 300,
    b"x" * 100_000,
    b"<script>alert(1)</script>",
    b"'\"><svg onload=1>",
    b"all",
    b"on",
    b"true",
    b"[]",
    b"{}",
]


def _weird(rng: random.Random) -> object:
    return copy.deepcopy(rng.choice(ODD_VALUES))


def _mutate(rng: random.Random, document: dict) -> None:
    """One change at a random place in `document`: a key set to an odd value, removed or added."""
    container: dict | list = document
    while rng.random() < 0.6:
        inner = container.values() if isinstance(container, dict) else container
        children = [child for child in inner if isinstance(child, dict | list)]
        if not children:
            break
        container = rng.choice(children)
    if isinstance(container, dict):
        key = rng.choice([*container, "unknown_field", "\ud800", ""])
        if key in container and rng.random() < 0.25:
            del container[key]
        else:
            container[key] = _weird(rng)
    elif container and rng.random() < 0.5:
        container[rng.randrange(len(container))] = _weird(rng)
    else:
        container.append(_weird(rng))


def spec_text(rng: random.Random) -> bytes:
    """A preset's spec after 0-3 mutations, as JSON bytes; sometimes broken as text too."""
    document = copy.deepcopy(rng.choice(PRESET_DOCUMENTS))
    for _ in range(rng.randrange(4)):
        _mutate(rng, document)
    text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
    depth = rng.choice([10, 40, 900, 3000])
    text = text.replace(json.dumps(DEEP), "[" * depth + "]" * depth)
    text = text.replace(json.dumps(DIGITS), "9" * rng.choice([30, 4300, 5000]))
    data = text.encode("utf-8", "surrogatepass")  # raw lone surrogates: not UTF-8
    roll = rng.random()
    if roll < 0.1:
        return data[: rng.randrange(len(data) + 1)]
    if roll < 0.2:
        at = rng.randrange(len(data) + 1)
        return data[:at] + rng.choice(ODD_TEXTS)[:50] + data[at:]
    if roll < 0.25:
        return rng.choice([b"[" * 3000, b"9" * 5000, b"null", b"[1, 2]", b'"text"'])
    return data


def odd_text(rng: random.Random, valid: str = "") -> bytes:
    """A form or query value: the valid one, an odd one, or random characters."""
    roll = rng.random()
    if roll < 0.3:
        return valid.encode()
    if roll < 0.8:
        return rng.choice(ODD_TEXTS)
    return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(30))).encode()


def encoded(pairs: list[tuple[str, bytes]]) -> str:
    """application/x-www-form-urlencoded, with the values' bytes as they are (invalid UTF-8
    included)."""
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)


def mutated_fields(rng: random.Random, valid: dict[str, str]) -> list[tuple[str, bytes]]:
    """The valid fields with some dropped, some changed, some repeated, and unknown ones added."""
    pairs = [
        (name, odd_text(rng, value) if rng.random() < 0.3 else value.encode())
        for name, value in valid.items()
        if rng.random() < 0.95
    ]
    for _ in range(rng.randrange(3)):
        name = rng.choice([*valid, "unknown", "faults-99-kind", "csrfmiddlewaretoken", ""])
        pairs.append((name, odd_text(rng, valid.get(name, ""))))
    rng.shuffle(pairs)
    return pairs


class Fuzz:
    """Sends the requests and holds every reply to the rule: below 500."""

    def __init__(self, client, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.sent = 0
        self.statuses: Counter[int] = Counter()

    def check(self, response, method: str, path: str, body: object = "") -> None:
        self.sent += 1
        self.statuses[response.status_code] += 1
        shown = repr(body)[:300]
        assert response.status_code < 500, (
            f"{method} {path[:300]} {shown} gave {response.status_code} "
            f"(replay: PLAYGROUND_FUZZ_SEED={SEED})"
        )

    def get(self, path: str, pairs: list[tuple[str, bytes]] | None = None) -> None:
        url = f"{path}?{encoded(pairs)}" if pairs else path
        self.check(self.client.get(url), "GET", url)

    def post(self, path: str, pairs: list[tuple[str, bytes]]) -> None:
        body = encoded(pairs)
        response = self.client.post(path, body, content_type="application/x-www-form-urlencoded")
        self.check(response, "POST", path, body)

    def post_json(self, path: str, body: bytes, method: str = "post") -> None:
        content_type = self.rng.choice(
            ["application/json", "text/plain", "application/x-www-form-urlencoded"]
        )
        response = getattr(self.client, method)(path, body, content_type=content_type)
        self.check(response, method.upper(), path, body)


@pytest.fixture
def fuzz(client, settings, tmp_path, monkeypatch) -> Fuzz:
    """A client whose requests never start a run (the runner is not woken), on an empty var/
    and no lab, so that nothing here touches a cluster."""
    monkeypatch.setattr("playground.web.runs.runner.wake", lambda: None)
    settings.VAR_DIR = tmp_path
    settings.LAB_DIR = tmp_path / "no-lab"
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    client.raise_request_exception = False
    return Fuzz(client, random.Random(SEED))


def _experiments(fuzz: Fuzz) -> list[Experiment]:
    """One experiment in each state, all controlled by the fuzzing session."""
    fuzz.client.post("/experiments/new", {"preset": "notification-service"})
    queued = Experiment.objects.get()
    spec = PRESETS["payments-aggregation"].spec.to_json()
    others = [
        Experiment.objects.create(spec=spec, status=status)
        for status in (Experiment.RUNNING, Experiment.DONE, Experiment.FAILED)
    ]
    for experiment in others:
        fuzz.client.get(f"/e/{experiment.share_id}/control?token={experiment.control_token}")
    return [queued, *others]


def _page_requests(fuzz: Fuzz, experiments: list[Experiment]) -> Iterator[None]:
    rng = fuzz.rng
    builder = form_values(fuzz.client.get("/builder/?preset=payments-aggregation").content.decode())
    share_ids = [e.share_id for e in experiments] + ["nope", "%FF", "x" * 300, "%00"]
    compare_fields = {"spec1": "custom", "spec2": "metrics", "spec3": "", "spec4": "custom"}
    while True:
        share = rng.choice(share_ids)
        kind = rng.randrange(20)
        if kind == 0:
            pairs = [(key, odd_text(rng, rng.choice(["yes", "no"]))) for key in QUESTIONS]
            fuzz.get(rng.choice(["/guide", "/"]), rng.sample(pairs, rng.randrange(len(pairs) + 1)))
        elif kind == 1:
            fuzz.get(rng.choice(["/lab/cluster", "/experiments/queue", "/api/presets"]))
            fuzz.get(f"/lab/nodes/{rng.choice(['0', '1', '7', '9' * 5000])}/log")
        elif kind == 2:
            fuzz.get("/builder/", [("preset", odd_text(rng, rng.choice(list(PRESETS))))])
        elif kind == 3:
            link = base64.urlsafe_b64encode(spec_text(rng)).rstrip(b"=")
            fuzz.get("/builder/", [("spec", link if rng.random() < 0.8 else odd_text(rng))])
        elif kind in (4, 5):
            fuzz.post(rng.choice(["/builder/", "/builder/promise"]), mutated_fields(rng, builder))
        elif kind == 6:
            fuzz.post("/builder/", [("spec_json", spec_text(rng))])
        elif kind in (7, 8):
            fields = compare_fields | {"custom1": "", "custom4": "", "faults_from": "1"}
            pairs = mutated_fields(rng, fields | {"cost_records": "50000"})
            pairs += [(f"custom{n}", spec_text(rng)) for n in (1, 4)]
            fuzz.post(rng.choice(["/compare/", "/compare/check"]), pairs)
        elif kind == 9:
            fuzz.post("/experiments/new", [("preset", odd_text(rng, rng.choice(list(PRESETS))))])
        elif kind == 10:
            fields = {"action": rng.choice(["stop", "kill-leader", "pause-broker", "drop-acks"])}
            fields |= {"broker": "1", "partition": "0", "count": "3"}
            fuzz.post(f"/e/{share}/act", mutated_fields(rng, fields))
        elif kind == 11:
            pairs = [("page", odd_text(rng, "2")), ("filter", odd_text(rng, "lost"))]
            fuzz.get(rng.choice([f"/e/{share}/orders", f"/api/experiments/{share}/orders"]), pairs)
        elif kind == 12:
            fuzz.get(f"/e/{share}/control", [("token", odd_text(rng))])
            pages = ["e", "c", "api/experiments", "api/comparisons"]
            fuzz.get(f"/{rng.choice(pages)}/{share}" + ("/" if rng.random() < 0.5 else ""))
        elif kind == 13:
            fuzz.post(f"/e/{share}/rerun", mutated_fields(rng, {}))
        elif kind == 14:
            fuzz.post_json("/api/experiments", spec_text(rng))
        elif kind == 16:  # the lessons: a step, a prediction, the picks of the last step
            step = rng.choice(["1", "2", "8", "0", "9", "9" * 30])
            fuzz.get(f"/lessons/{step}/")
            fields = {"prediction": "duplicates", "service-metrics": "metrics"}
            fuzz.post(f"/lessons/{step}/", mutated_fields(rng, fields))
        elif kind == 17:  # the class's predictions, the reveal and the start of a hold
            action = rng.choice(["predict", "reveal", "start"])
            fuzz.post(f"/e/{share}/{action}", mutated_fields(rng, {"prediction": "loss"}))
        elif kind == 18:  # an order's story
            order = odd_text(rng, "order-0000001").decode(errors="replace")
            where = rng.choice([f"/e/{share}/orders", f"/api/experiments/{share}/orders"])
            fuzz.get(f"{where}/{quote(order, safe='')}")
        elif kind == 19:
            fuzz.get(rng.choice(["/lessons/", "/guide"]))
            if rng.random() < 0.1:  # the course's comparison, queued (the runner is asleep)
                fuzz.post("/compare/course", mutated_fields(rng, {}))
                share_ids += [
                    c.share_id for c in Comparison.objects.exclude(share_id__in=share_ids)
                ]
        else:
            method = rng.choice(["put", "delete", "patch", "get"])
            fuzz.post_json(
                rng.choice(["/api/experiments", "/api/presets", "/compare/"]), b"", method
            )
        yield


@pytest.mark.django_db
def test_random_and_mutated_requests_to_every_page_and_the_api_never_give_a_500(fuzz, capsys):
    with capsys.disabled():
        print(f"\nfuzz seed {SEED} (replay: PLAYGROUND_FUZZ_SEED={SEED})")
    started = time.monotonic()
    requests = _page_requests(fuzz, _experiments(fuzz))
    while fuzz.sent < REQUESTS:
        next(requests)
    seconds = time.monotonic() - started
    statuses = dict(sorted(fuzz.statuses.items()))
    with capsys.disabled():
        print(f"{fuzz.sent} requests in {seconds:.0f} s, by status: {statuses}")
    running = Experiment.objects.filter(status=Experiment.RUNNING).count()
    assert running == 1  # only the one made RUNNING above: no request started a run


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_random_messages_on_the_live_socket_each_get_the_error_fragment():
    rng = random.Random(SEED)
    experiment = await database_sync_to_async(Experiment.objects.create)(
        spec=PRESETS["metrics"].spec.to_json()
    )
    socket = WebsocketCommunicator(application, f"/ws/e/{experiment.share_id}/", headers=ORIGIN)
    connected, _ = await socket.connect()
    assert connected
    for _ in range(100):
        message = odd_text(rng, '{"action": "kill-leader"}') or b"{}"  # a frame is never empty
        if rng.random() < 0.5:
            await socket.send_to(bytes_data=message)
        else:
            await socket.send_to(text_data=message.decode("utf-8", "replace"))
        reply = await socket.receive_from(timeout=5)
        assert "only sends updates" in reply, f"replay: PLAYGROUND_FUZZ_SEED={SEED}"
    await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_sockets_for_random_share_ids_are_closed_as_unknown():
    rng = random.Random(SEED)
    for _ in range(20):
        share_id = odd_text(rng, "nope").decode("utf-8", "replace").replace("/", "") or "x"
        path = f"/ws/e/{quote(share_id[:500], safe='')}/"
        socket = WebsocketCommunicator(application, path, headers=ORIGIN)
        connected, code = await socket.connect()
        assert not connected and code == 4404, f"replay: PLAYGROUND_FUZZ_SEED={SEED}"


# -- the 500s the fuzz once found -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_spec_link_holding_a_lone_surrogate_is_400_naming_the_field(fuzz):
    link = base64.urlsafe_b64encode(b'{"name":"\\ud800"}').rstrip(b"=").decode()

    response = fuzz.client.get(f"/builder/?spec={link}")

    assert response.status_code == 400
    assert "name: must not contain control characters or lone surrogates" in _text(response)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("custom", "complaint"),
    [
        ("9" * 5000, "spec 1: not a JSON document: a number has more than"),
        ("[" * 3000 + "]" * 3000, "spec 1: not a JSON document: nested too deeply"),
    ],
)
def test_compare_with_an_absurd_custom_spec_is_400_naming_the_slot(fuzz, custom, complaint):
    response = fuzz.client.post(
        "/compare/", {"spec1": "custom", "custom1": custom, "spec2": "metrics"}
    )

    assert response.status_code == 400
    assert complaint in _text(response)
    assert not Experiment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("faults_from", ["9" * 5000, "\u00b2"])  # \u00b2 is a digit to isdigit()
def test_compare_with_faults_from_no_slot_is_400_naming_the_field(fuzz, faults_from):
    response = fuzz.client.post(
        "/compare/", {"spec1": "metrics", "spec2": "payment-service", "faults_from": faults_from}
    )

    assert response.status_code == 400
    assert "is not one of the chosen specs or 'none'" in _text(response)
    assert "faults_from: " in _text(response)


@pytest.mark.django_db
def test_a_control_token_with_a_non_ascii_character_is_refused_not_a_500(fuzz):
    experiment = Experiment.objects.create(spec=PRESETS["metrics"].spec.to_json())

    response = fuzz.client.get(f"/e/{experiment.share_id}/control?token=%C3%A9")

    assert response.status_code == 403
    assert "token: this control link is not valid" in _text(response)


@pytest.mark.django_db
def test_the_spec_panel_shows_json_that_the_builder_and_the_api_take(fuzz):
    spec = PRESETS["payments-aggregation"].spec.to_json() | {"name": "Zahlungsdienst ✓"}
    experiment = Experiment.objects.create(spec=spec)

    page = fuzz.client.get(experiment.get_absolute_url()).content.decode()

    shown = re.search(r"<summary>Spec as JSON</summary><pre>(.*?)</pre>", page, re.S)
    assert shown, "no Spec as JSON panel"
    text = html.unescape(shown[1])
    assert json.loads(text) == spec
    assert '"name": "Zahlungsdienst ✓"' in text  # as written, not \u escapes
    assert fuzz.client.post("/builder/", {"spec_json": text}).status_code == 302
    api = fuzz.client.post("/api/experiments", text, content_type="application/json")
    assert api.status_code == 201


def _text(response) -> str:
    return html.unescape(response.content.decode())
