"""Landmark analysis, time-origin shift and episode splitting."""

import pandas as pd
import pytest

from hsct_analysis.stats import landmark


@pytest.fixture
def small():
    return pd.DataFrame(
        {
            "patient_id": ["a", "b", "c", "d", "e"],
            "os_time": [30, 90, 91, 400, 120],
            "os_event": [1, 0, 1, 0, 1],
            "days_cart_to_second_hsct": [40, 50, 95, 120, 60],
        }
    )


def test_events_before_landmark_excluded_and_times_reset(small):
    out = landmark.landmark(small, 90, time="os_time")
    assert list(out["patient_id"]) == ["c", "d", "e"]  # a died, b censored on day 90
    assert list(out["os_time"]) == [1, 310, 30]
    assert list(out["os_event"]) == [1, 0, 1]
    assert out.attrs["landmark_days"] == 90.0 and out.attrs["excluded"] == 2
    assert list(small["os_time"]) == [30, 90, 91, 400, 120]  # input untouched


def test_shift_origin_adds_the_interval(small):
    t = landmark.shift_origin(small, "days_cart_to_second_hsct")
    assert list(t) == [70, 140, 186, 520, 180] and t.name == "os_time_from_days_cart_to_second_hsct"
    # every patient is event-free for the whole interval: the shortest time is > interval
    assert (t > small["days_cart_to_second_hsct"]).all()


def test_split_at(small):
    ep = landmark.split_at(small, 100, "os_time", "os_event", id_col="patient_id")
    d = ep[ep["id"] == "d"]
    assert list(d["start"]) == [0, 100] and list(d["stop"]) == [100, 400] and list(d["event"]) == [0, 0]
    e = ep[ep["id"] == "e"]
    assert list(e["stop"]) == [100, 120] and list(e["event"]) == [0, 1] and list(e["late"]) == [0, 1]
    a = ep[ep["id"] == "a"]
    assert len(a) == 1 and a["stop"].item() == 30 and a["event"].item() == 1
    assert ep["event"].sum() == small["os_event"].sum()
    assert (ep["stop"] - ep["start"]).sum() == small["os_time"].sum()
