"""Parameter descriptions shared by the docstrings of the statistics layer, written once.

A docstring names a shared block by a line holding only ``%(name)s``; :func:`substitute`
replaces that line with the block, indented as the placeholder was (the pattern of pandas'
``Substitution``). The rendered docs and ``help()`` show the full text.

Examples
--------
>>> from hsct_analysis.stats.docstrings import substitute
>>> @substitute(x="x : float\\n    A number.")
... def f(x):
...     '''Twice x.
...
...     Parameters
...     ----------
...     %(x)s
...     '''
...     return 2 * x
>>> print(f.__doc__.splitlines()[4].strip(), "|", f.__doc__.splitlines()[5].strip())
x : float | A number.
"""

import re

__all__ = ["SHARED", "substitute"]

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<name>\w+)\)s[ \t]*$", re.MULTILINE)

#: The shared blocks, each a numpydoc parameter entry (name line, then its description
#: indented by four spaces).
SHARED = {
    # survival curves and tests on arrays
    "time_array": "time : array-like of float\n    Follow-up time in days (>= 0).",
    "event_array": "event : array-like of int\n    1 = event, 0 = censored.",
    # chi-square tests (hsct_analysis.stats.chisquare.ChiSquareTest and its subclasses)
    "chisq_fields": (
        "statistic : float\n    Chi-square statistic on ``df`` degrees of freedom.\n"
        "df : int\n    Degrees of freedom.\n"
        "p_value : float\n"
        "    Upper-tail chi-square p-value (:func:`~hsct_analysis.stats.chisquare.chi2_p_value`;\n"
        "    NaN when the test is undefined)."
    ),
    # regressions on a data frame
    "design_columns": (
        "data : pandas.DataFrame\n    One row per patient.\n"
        "time : str\n    Column of days to the first event or censoring.\n"
        "status : str\n    Column of integer status codes: ``cencode`` = censored, other codes = causes.\n"
        "covariates : list of str\n"
        "    Columns to model. Categorical ones (text, category, bool) are treatment coded;\n"
        "    numeric ones enter as one linear term in their own units. A numeric column that looks\n"
        "    like codes (3-10 distinct integers, e.g. a group coded 1/2/3) raises ValueError\n"
        "    unless listed in ``categorical`` or ``numeric``."
    ),
    "regression_option_fields": (
        "cencode : int\n    The censoring code of ``status`` (R ``cencode``), 0 by default.\n"
        "conf_level : float\n    Two-sided confidence level of the hazard-ratio limits, 0.95 by default.\n"
        "reference : dict, optional\n"
        "    ``{covariate: level}``; default: first category, or first in sorted order.\n"
        "categorical, numeric : list of str, optional\n"
        "    Covariates to treatment-code, or to keep as one linear term, whatever their dtype."
    ),
}
SHARED["regression_columns"] = (
    SHARED["design_columns"]
    + "\ncause : int\n    The code of the cause modelled (R ``crr``'s ``failcode``), 1 by default."
)
SHARED["regression_options"] = (
    "**options\n    Keyword only: the options every regression takes\n"
    "    (:class:`~hsct_analysis.stats.regression.RegressionOptions`), then the model's own.\n"
    + SHARED["regression_option_fields"]
)


def substitute(**blocks: str):
    """Decorator: fill the ``%(name)s`` lines of a function's or class's docstring.

    ``blocks`` are added to (and override) ``SHARED``. A placeholder without a block
    raises ``KeyError`` at import, so a typo cannot ship a docstring with a hole in it.
    Docstrings stripped by ``python -OO`` are left as they are.
    """
    table = {**SHARED, **blocks}

    def fill(match: re.Match) -> str:
        indent = match.group("indent")
        return "\n".join(indent + line if line else line for line in table[match.group("name")].splitlines())

    def decorate(obj):
        if obj.__doc__:
            obj.__doc__ = _PLACEHOLDER.sub(fill, obj.__doc__)
        return obj

    return decorate
