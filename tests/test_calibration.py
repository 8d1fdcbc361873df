"""The MSS scale: measured on real renders, stored with how, and put into words."""

from __future__ import annotations

import math

from a2d.pipelines.calibration import describe, load, measure, scale_text


def test_stored_calibration_says_how_it_was_measured_and_is_ordered() -> None:
    doc = load()
    assert doc["how"]["spec"] == "vital_simple" and doc["how"]["targets"] >= 20
    k = doc["kinds"]
    assert k["identical"]["median"] < 0.01  # vital_simple renders repeat exactly
    assert k["identical"]["median"] < k["close"]["median"] < k["similar"]["median"]
    assert k["similar"]["median"] < k["random"]["median"]
    assert "random preset" in scale_text()


def test_words_follow_the_measured_bands() -> None:
    k = load()["kinds"]
    words = [
        describe(x)
        for x in (
            0.0,
            (k["close"]["median"] + k["similar"]["median"]) / 2,
            k["random"]["p10"] - 0.01,
            (k["random"]["p10"] + k["random"]["median"]) / 2,
            k["random"]["median"] + 1,
        )
    ]
    assert words[0].startswith("very close") and words[1].startswith("close")
    assert words[2].startswith("a partial match") and words[3].startswith("weak")
    assert words[4] == "no better than a random preset"
    assert describe(math.nan).startswith("no score")


def test_a_small_measurement_on_real_renders_orders_the_kinds() -> None:
    doc = measure(n=4, seed=3, duration=1.0)
    k = doc["kinds"]
    assert k["identical"]["median"] < 0.01
    assert k["close"]["median"] < k["random"]["median"]
    assert doc["how"]["targets"] == 4 and doc["how"]["seconds"] > 0
