"""The page of one order's story: its sequence as a picture, and the sentence that names the
setting behind its anomaly. Opened from the verdict's audit table."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from playground.engine.spec.model import Spec, SpecError
from playground.web.models import Experiment
from playground.web.stories import audit_table, order_sequence, picture, sentence


@require_GET
def order(request: HttpRequest, share_id: str, order_id: str) -> HttpResponse:
    """One order's story as a picture; 400 for an id that cannot be one, 404 for an unknown one."""
    found = get_object_or_404(Experiment, share_id=share_id)
    if found.status != Experiment.DONE:
        raise Http404("this experiment has no audit yet")
    try:
        story = audit_table.story(found, order_id)
    except audit_table.BadQuery as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    except audit_table.UnknownOrder as error:
        raise Http404(str(error)) from None
    spec = _spec_that_ran(found)
    sequence = order_sequence.sequence(
        story,
        pipeline=spec.pipeline.value if spec else "side-effect",
        history=order_sequence.commit_history(found.snapshot),
    )
    context = {
        "experiment": found,
        "story": story,
        "sentence": sentence.sentence(story, spec),
        "sequence": sequence,
        "picture": picture.render(sequence),
    }
    return render(request, "order_story.html", context)


def _spec_that_ran(experiment: Experiment) -> Spec | None:
    """The spec the result says ran, else the stored one; None if neither reads any more."""
    result = experiment.result if isinstance(experiment.result, dict) else {}
    for document in (result.get("spec"), experiment.spec):
        if isinstance(document, dict):
            try:
                return Spec.from_json(document)
            except SpecError:
                continue
    return None
