"""Markdown text for a notebook output, shared by the paper book's and the study book's chapters."""

from __future__ import annotations


class Text(str):
    """Markdown shown rendered in a notebook: a ``str`` wherever text is expected (it joins, compares and prints as
    its text), Markdown where a notebook displays it. What came from a user's files is escaped before it gets here
    (:func:`hsct_analysis.book.build.escape_markdown`)."""

    def _repr_markdown_(self) -> str:
        return str(self)
