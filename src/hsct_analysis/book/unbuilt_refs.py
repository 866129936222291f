"""Sphinx extension: a link to a page this build left out (``hsct-book build --chapter ...``) is plain text.

``hsct-book build --chapter 05_survival`` builds one chapter and the prose pages; its links to chapters not built
(``[scorecard](08_scorecard)``) would otherwise be "cross-reference target not found" warnings, which fail the
build (warnings are errors in this book). The build lists the pages it leaves out in the Sphinx setting
``hsct_unbuilt_pages`` (docnames such as ``book/08_scorecard``); before MyST resolves references, every link whose
target is one of them is replaced by its text; so is every glossary term ({term}) when the glossary is left out.
"""

from __future__ import annotations

import posixpath

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform


class UnbuiltPageLinks(SphinxPostTransform):
    """Replace references to pages listed in ``hsct_unbuilt_pages`` by their text."""

    default_priority = 5  # before MyST's reference resolver (9) and Sphinx's (10)

    def run(self, **kwargs) -> None:
        unbuilt = set(self.config.hsct_unbuilt_pages or [])
        if not unbuilt:
            return
        # the chapters link glossary terms ({term}); without the glossary page those links have no target either
        no_glossary = any(page.rsplit("/", 1)[-1] == "glossary" for page in unbuilt)
        for node in list(self.document.findall(addnodes.pending_xref)):
            if (no_glossary and node.get("reftype") == "term") or _target_docnames(node, self.env.docname) & unbuilt:
                node.replace_self(nodes.inline(node.astext(), node.astext(), classes=["unbuilt-page"]))


def _target_docnames(node, docname: str) -> set[str]:
    target = str(node.get("reftarget", "")).split("#", 1)[0]
    for suffix in (".md", ".ipynb", ".html"):
        target = target.removesuffix(suffix)
    if not target:
        return set()
    base = posixpath.dirname(node.get("refdoc", docname))
    return {target.lstrip("/"), posixpath.normpath(posixpath.join(base, target))}


def setup(app):
    app.add_config_value("hsct_unbuilt_pages", [], "env")
    app.add_post_transform(UnbuiltPageLinks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
