"""The book layer: publication tables and figures, the chapter report objects, the build and the CLI.

``tables``, ``figures`` (one palette and style, applied by :func:`figures.use_style`, never on import),
``baseline`` (Tables 1-2), ``univariate`` (Table 3), ``multivariate`` (Table 4), ``report`` (what each
chapter shows), ``build`` (papermill + Jupyter Book) and ``cli`` (``hsct-book``). Imports every layer below.
"""
