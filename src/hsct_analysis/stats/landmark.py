"""Time zero: moving the time origin, landmark analysis and splitting follow-up at a time.

Outcome times in a loaded cohort are days from the second transplant. Two questions in
the methods chapters need other origins or conditioning on survival to a time:

- :func:`shift_origin` re-expresses outcome times as days from an earlier origin (in the
  book: the last CAR-T infusion), which builds in *immortal time* for patients with a long
  interval between the two origins (they had to survive it to be in the cohort);
- :func:`landmark` keeps only patients still event-free and under observation at a
  landmark day and restarts their clock there, the standard remedy;
- :func:`split_at` cuts each patient's follow-up into episodes before and after a day,
  to fit a covariate whose effect is a step function of time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def shift_origin(data: pd.DataFrame, interval: str, time: str = "os_time") -> pd.Series:
    """Days from an earlier origin to the outcome ``time``: ``data[interval] + data[time]``.

    ``interval`` holds the days from the earlier origin to the current one (e.g. from the
    last CAR-T infusion to the second transplant) and ``time`` the days from the current
    origin to the outcome. Every patient in such a cohort survived the whole interval, so
    the earlier origin hands each patient that interval as event-free ("immortal") time.
    The result is named ``f"{time}_from_{interval}"``.
    """
    return (data[interval] + data[time]).rename(f"{time}_from_{interval}")


def landmark(cohort: pd.DataFrame, landmark_days: float, time: str = "os_time") -> pd.DataFrame:
    """Patients at risk at ``landmark_days``, with the clock restarted there.

    Keeps rows with ``time > landmark_days`` (no event and not censored on or before the
    landmark) and returns a copy in which ``time`` is replaced by
    ``time - landmark_days`` (days from the landmark). The event/status columns are
    untouched (events after the landmark keep their code). ``attrs["landmark_days"]``
    and ``attrs["excluded"]`` (number of patients dropped) record what was done.
    """
    at_risk = cohort[time] > landmark_days
    out = cohort.loc[at_risk].copy()
    out[time] = out[time] - landmark_days
    out.attrs = dict(cohort.attrs)
    out.attrs["landmark_days"] = float(landmark_days)
    out.attrs["excluded"] = int((~at_risk).sum())
    return out


def split_at(data: pd.DataFrame, cut_days: float, time: str, event: str, id_col: str | None = None) -> pd.DataFrame:
    """Counting-process (start, stop] episodes split at ``cut_days``.

    Each patient whose ``time`` exceeds ``cut_days`` gets two rows, ``(0, cut_days]``
    with event 0 and ``(cut_days, time]`` with the original event; others keep one row
    ``(0, time]``. Columns ``start``, ``stop``, ``event`` (0/1), ``late`` (1 for the
    episode after the cut) and ``id`` (``id_col`` or the row position) are added to
    the other columns of ``data``. Times in days.
    """
    base = data.drop(columns=[time, event]).copy()
    base["id"] = data[id_col].to_numpy() if id_col else np.arange(len(data))
    t = data[time].to_numpy(dtype=float)
    e = data[event].to_numpy(dtype=int)
    early = base.assign(start=0.0, stop=np.minimum(t, cut_days), event=np.where(t <= cut_days, e, 0), late=0)
    crossed = t > cut_days
    late = base.loc[crossed].assign(start=float(cut_days), stop=t[crossed], event=e[crossed], late=1)
    out = pd.concat([early, late], ignore_index=True)
    return out.sort_values(["id", "start"], kind="stable").reset_index(drop=True)
