"""A teacher and three students in real browsers: the teacher holds an experiment for predictions,
the students predict on the share link, the teacher watches the tally arrive live and reveals it,
starts the run, and everyone sees the tally beside the verdict, each student their own check."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import screenshot

PRESET = "notification-service"  # at-least-once: a consumer kill shows duplicates, no loss
VERDICT_TIMEOUT_MS = 90_000
LIVE_TIMEOUT_MS = 15_000
STUDENT_PREDICTIONS = ("duplicates", "duplicates", "loss")


def test_a_class_predicts_the_teacher_reveals_and_the_verdict_stands_beside_the_tally(
    app_server, new_context
):
    teacher = new_context().new_page()
    teacher.goto(f"{app_server.url}/builder/?preset={PRESET}")
    teacher.check("#hold-for-predictions")
    teacher.click(".run-experiment")
    teacher.wait_for_url(re.compile(r"/e/[^/]+/$"))
    expect(teacher.locator("#start-held")).to_be_visible()
    share_url = teacher.locator("#share-url").input_value()

    students = []
    for number, choice in enumerate(STUDENT_PREDICTIONS, start=1):
        student = new_context().new_page()
        student.goto(share_url)
        expect(student.locator("#held")).to_be_visible()
        assert student.locator("#start-held").count() == 0  # only the teacher starts it
        student.check(f"#predict-{choice}")
        student.click("#send-prediction")
        expect(student.locator("#own-prediction")).to_have_attribute("data-choice", choice)
        # Before the reveal a student sees no counts, whatever the others predicted.
        assert student.locator("#prediction-count").count() == 0
        screenshot(student, f"class-student-{number}-predicted")
        students.append(student)

    # The teacher's tally filled in live, over the websocket, without a reload.
    expect(teacher.locator("#prediction-count")).to_have_text("3", timeout=LIVE_TIMEOUT_MS)
    expect(teacher.locator('.tally-row[data-choice="duplicates"]')).to_have_attribute(
        "data-count", "2"
    )
    assert teacher.locator("#prediction-tally").get_attribute("data-revealed") == "false"
    screenshot(teacher, "class-teacher-tally")

    teacher.click("#reveal-tally")
    for student in students:
        expect(student.locator("#prediction-tally")).to_have_attribute(
            "data-revealed", "true", timeout=LIVE_TIMEOUT_MS
        )
        expect(student.locator("#prediction-count")).to_have_text("3")

    teacher.click("#start-held")
    for page in (teacher, *students):
        expect(page.locator("#experiment-body")).to_have_attribute(
            "data-status", "done", timeout=VERDICT_TIMEOUT_MS
        )
    screenshot(teacher, "class-teacher-verdict")
    happened = teacher.locator(".tally-row.happened")
    expect(happened).to_have_attribute("data-choice", "duplicates")
    expect(teacher.locator("#predictions-right")).to_have_text("2")
    for student, choice in zip(students, STUDENT_PREDICTIONS, strict=True):
        check = student.locator("#own-prediction-check")
        expect(check).to_have_class(re.compile("right" if choice == "duplicates" else "wrong"))
    screenshot(students[2], "class-student-3-verdict")
