"""A learner in a real browser walks the commit-window steps (6 and 7): the producer killed right
after its commit returns and before it records it, first with its position in its log (the
transaction's 10 payments twice, duplicated by the producer), then with its position in the
transaction (nothing twice); each prediction checked beside the verdict of its run."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from playground.web.lessons import course
from tests.browser.conftest import screenshot

VERDICT_TIMEOUT_MS = 90_000
REPEATED = course.COMMIT_WINDOW_TRANSACTION_RECORDS  # the one transaction sent twice


def predict_and_run(page: Page, number: int, prediction: str) -> None:
    expect(page.locator("#lesson-title")).to_contain_text(f"Step {number}:")
    position = page.locator('#lesson-settings [data-setting="producer.position"]')
    expect(position).to_be_visible()
    page.check(f"#prediction-{prediction}")
    page.click("#prediction-submit")
    page.wait_for_url(re.compile(r"/e/[^/]+/$"))


def checked(page: Page, number: int) -> str:
    """The prediction check of the run, once its verdict is in; returns its sentence."""
    check = page.locator("#prediction-check")
    expect(check).to_be_visible(timeout=VERDICT_TIMEOUT_MS)
    assert check.get_attribute("data-step") == str(number)
    assert check.get_attribute("data-right") == "yes", check.inner_text()
    expect(page.locator("#prediction-why")).to_be_visible()
    return page.locator("#prediction-sentence").inner_text()


def test_a_learner_sees_the_commit_window_repeat_a_transaction_and_the_position_close_it(
    app_server, new_context
):
    page = new_context().new_page()
    page.goto(f"{app_server.url}/lessons/6/")
    expect(page.locator('[data-setting="producer.position"] dt')).to_contain_text("= log")
    predict_and_run(page, 6, "duplicates")

    sentence = checked(page, 6)
    assert f"0 lost, {REPEATED} duplicated" in sentence, sentence
    expect(page.locator("#count-duplicated")).to_have_text(str(REPEATED))
    producer = page.locator(".finding-duplicated_by_producer")
    expect(producer).to_contain_text(f"{REPEATED} duplicated by the producer")
    expect(producer.locator(".causes")).to_contain_text("producer.position")
    crash = page.locator(".timeline-panel .event-crash")
    expect(crash).to_contain_text("after-commit-before-log")
    screenshot(page, "lesson-6-checked")

    page.click("#lesson-next")
    expect(page.locator('[data-setting="producer.position"] dt')).to_contain_text("= transaction")
    predict_and_run(page, 7, "nothing")

    sentence = checked(page, 7)
    assert "0 lost, 0 duplicated" in sentence, sentence
    expect(page.locator("#count-duplicated")).to_have_text("0")
    expect(page.locator(".timeline-panel .event-crash")).to_contain_text("after-commit-before-log")
    screenshot(page, "lesson-7-checked")

    page.goto(f"{app_server.url}/lessons/")
    for number in (6, 7):
        expect(page.locator(f"#lesson-step-{number} .check-right")).to_have_text("right")
