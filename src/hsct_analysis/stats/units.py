"""Time units. Every estimator works in days; these convert for axes and labels."""

#: Days in a mean Gregorian year (R ``lubridate`` and most registries use the same).
DAYS_PER_YEAR = 365.25
#: Days in a mean month (= DAYS_PER_YEAR / 12 = 30.4375).
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
