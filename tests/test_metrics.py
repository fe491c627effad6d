"""The keys of a trial's metrics are defined once, and the typed records carry them to the
driver and through Ray's JSON unchanged."""

from __future__ import annotations

import json
import math

from mdsnn_search import metrics
from mdsnn_search.distill import DistillConfig
from mdsnn_search.execution.protocol import TrialOutcome, TrialRequest, TrialStatus
from mdsnn_search.metrics import TrialMetrics
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.spec.space import StudentConfig


def test_every_metric_key_is_a_field_of_the_typed_metrics() -> None:
    keys = {
        value for name, value in vars(metrics).items() if name.isupper() and isinstance(value, str)
    }
    assert keys == set(TrialMetrics.model_fields)
    assert set(metrics.COST_METRICS) <= keys


def test_extra_keys_and_non_finite_values_are_kept_as_reported() -> None:
    reported = {"accuracy": 0.5, "edap": float("nan"), "adc_share": 0.25}
    outcome = TrialOutcome.ok(reported)
    kept = outcome.metrics.as_dict()
    assert kept.keys() == reported.keys() and kept["adc_share"] == 0.25
    assert math.isnan(kept["edap"])


def test_an_outcome_and_a_request_survive_the_json_ray_carries() -> None:
    outcome = TrialOutcome.ok(
        {"accuracy": 0.9, "layer_firing_rates": {"conv1": 0.1}}, student_bytes=b"\x00weights"
    )
    document = json.loads(json.dumps(outcome.to_json()))
    assert isinstance(document["student_bytes"], str)  # base64 in its JSON form
    assert TrialOutcome.from_json(document) == outcome
    request = TrialRequest(
        number=3, student=StudentConfig(precision=PrecisionConfig(), distill=DistillConfig())
    )
    assert TrialRequest.from_json(json.loads(json.dumps(request.to_json()))) == request
    failed = TrialOutcome.failed("boom")
    assert TrialOutcome.from_json(failed.to_json()).status == TrialStatus.FAILED
