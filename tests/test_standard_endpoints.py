"""The standard transplant endpoints on small hand-made cohorts whose answers are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hsct_analysis.cohort import contract
from hsct_analysis.cohort import standard_endpoints as se

NAN = np.nan
# Six patients, days from transplant.
FOLLOWUP = [100, 200, 300, 400, 500, 600]
DEAD = [1, 0, 1, 1, 0, 0]
RELAPSE = [50, NAN, NAN, 350, NAN, 100]  # day of relapse; NaN: none
AGVHD_3_4 = [NAN, 30, NAN, NAN, NAN, 200]
CGVHD_EXT = [NAN, NAN, 250, NAN, NAN, NAN]

#: The incidence endpoints the issue names (each with death as its competing risk).
INCIDENCES = (
    "agvhd_2_4",
    "agvhd_3_4",
    "cgvhd",
    "cgvhd_extensive",
    "neutrophil_engraftment",
    "platelet_engraftment",
    "cmv",
    "ebv",
    "ptld",
    "tma",
)


def events():
    return {
        "relapse": se.event_from_days(RELAPSE, FOLLOWUP),
        "agvhd_3_4": se.event_from_days(AGVHD_3_4, FOLLOWUP),
        "cgvhd_extensive": se.event_from_days(CGVHD_EXT, FOLLOWUP),
    }


def check(data: se.EndpointData, time, status):
    np.testing.assert_array_equal(data.time, np.asarray(time, float))
    np.testing.assert_array_equal(data.status, status)


def test_event_from_days_censors_at_followup():
    ev = se.event_from_days(RELAPSE, FOLLOWUP)
    np.testing.assert_array_equal(ev.time, [50, 200, 300, 350, 500, 100])
    np.testing.assert_array_equal(ev.happened, [True, False, False, True, False, True])


def test_event_from_codes_keeps_the_recorded_time():
    ev = se.event_from_codes([10, 20, 30], ["1", "0", "2"], ["1", "2"])
    np.testing.assert_array_equal(ev.time, [10, 20, 30])
    np.testing.assert_array_equal(ev.happened, [True, False, True])


def test_overall_survival():
    check(se.derive("os", FOLLOWUP, DEAD, {}), FOLLOWUP, [1, 0, 1, 1, 0, 0])


def test_lfs_and_its_alias_dfs():
    # relapse at 50, 350, 100; deaths without relapse at 300 (p3); p2, p5 alive without relapse.
    expected = ([50, 200, 300, 350, 500, 100], [1, 0, 1, 1, 0, 1])
    check(se.derive("lfs", FOLLOWUP, DEAD, events()), *expected)
    check(se.derive("dfs", FOLLOWUP, DEAD, events()), *expected)


def test_relapse_and_nrm_are_causes_of_one_derivation():
    # p4 relapsed at 350 and died at 400: relapse (1), not NRM.
    data = se.derive("relapse", FOLLOWUP, DEAD, events())
    check(data, [50, 200, 300, 350, 500, 100], [1, 0, 2, 1, 0, 1])
    assert se.STANDARD_ENDPOINTS["relapse"].cause == 1 and se.STANDARD_ENDPOINTS["nrm"].cause == 2
    check(se.derive("nrm", FOLLOWUP, DEAD, events()), data.time, data.status)
    assert data.counts() == {0: 2, 1: 3, 2: 1}


def test_grfs_first_of_its_components():
    # p1 relapse 50; p2 aGVHD III-IV 30; p3 extensive cGVHD 250 (before death 300); p4 relapse 350;
    # p5 nothing (censored 500); p6 relapse 100 (before aGVHD 200).
    check(se.derive("grfs", FOLLOWUP, DEAD, events()), [50, 30, 250, 350, 500, 100], [1, 1, 1, 1, 0, 1])


def test_grfs_censored_where_a_component_s_follow_up_ends_first():
    # relapse follow-up ends (censored) at 80, aGVHD at 150: GRFS is unknown after 80.
    data = se.grfs([300], [0], se.Event([80], [False]), se.Event([150], [True]), se.Event([300], [False]))
    check(data, [80], [0])
    data = se.grfs([300], [1], se.Event([300], [False]), se.Event([300], [False]), se.Event([300], [False]))
    check(data, [300], [1])  # death alone


@pytest.mark.parametrize("name", INCIDENCES)
def test_incidences_have_death_as_competing_risk(name):
    # the same days for every role: aGVHD III-IV's column
    ev = {name: se.event_from_days(AGVHD_3_4, FOLLOWUP)}
    # p2 event 30, p6 event 200; p1, p3, p4 died without it; p5 censored.
    check(se.derive(name, FOLLOWUP, DEAD, ev), [100, 30, 300, 400, 500, 200], [2, 1, 2, 2, 0, 1])
    ep = se.standard_endpoint(name)
    assert ep.kind == "cif" and ep.roles == (name,) and ep.competing[0].startswith("death without")


def test_every_named_endpoint_of_the_issue_is_defined():
    assert set(se.STANDARD_ENDPOINTS) == {"os", "lfs", "relapse", "nrm", "grfs", *INCIDENCES}
    for ep in se.STANDARD_ENDPOINTS.values():
        assert set(ep.roles) <= set(se.EVENT_ROLES)
        assert 0 in ep.codes and ep.cause in ep.codes


def test_custom_endpoint_precedence():
    data = se.custom_endpoint(
        [5, 6, 7, 8], [True, False, False, True], [[True, True, False, False], [False, True, True, False]]
    )
    check(data, [5, 6, 7, 8], [1, 2, 3, 1])


def test_derive_names_the_missing_role():
    with pytest.raises(KeyError, match="agvhd_3_4"):
        se.derive("grfs", FOLLOWUP, DEAD, {"relapse": events()["relapse"]})
    with pytest.raises(KeyError, match="unknown standard endpoint 'pfs'"):
        se.standard_endpoint("pfs")


def test_bundled_loader_uses_the_same_definitions():
    """contract.load_cohort_frame derives OS, LFS, relapse/NRM and incidences through this module."""
    df = pd.DataFrame({"followup_days": FOLLOWUP, "dead": DEAD, "relapse_days": RELAPSE})
    arrays = contract.survival_endpoint_arrays(df.followup_days, df.dead, df.relapse_days)
    lfs = se.derive("lfs", FOLLOWUP, DEAD, events())
    rn = se.derive("relapse", FOLLOWUP, DEAD, events())
    np.testing.assert_array_equal(arrays["lfs_time"], lfs.time)
    np.testing.assert_array_equal(arrays["lfs_event"], lfs.status)
    np.testing.assert_array_equal(arrays["relapse_nrm_status"], rn.status)
    cohort = contract.load_cohort(Path(__file__).parents[1] / "data" / "cohort.csv")
    for name, column in contract.ENDPOINT_DAY_COLUMNS.items():
        if cohort[f"{name}_status"].isna().all():
            continue
        fu = cohort["followup_days"].to_numpy(float)
        days = cohort[column].astype("Float64").to_numpy(float, na_value=np.nan)
        expected = se.competing_with_death(fu, cohort["dead"].to_numpy(float), se.event_from_days(days, fu))
        np.testing.assert_array_equal(cohort[f"{name}_time"].to_numpy(float), expected.time)
        np.testing.assert_array_equal(cohort[f"{name}_status"].to_numpy(int), expected.status)
        # by hand: the event day where it happened, otherwise follow-up; 1 event, 2 death first, 0 alive
        happened = ~np.isnan(days)
        assert (cohort.loc[happened, f"{name}_status"] == 1).all()
        assert (cohort.loc[~happened & (cohort.dead == 1), f"{name}_status"] == 2).all()
