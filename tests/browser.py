"""Open a built book in headless Chromium, offline, and look at every page as a reader would.

Used by ``tests/test_browser.py`` and, from the command line, to take screenshots::

    .venv/bin/python tests/browser.py _build/html --shots /tmp/shots   # every page at 1400 and 390 px
    .venv/bin/python tests/browser.py _build/html                      # print the problems found

The browser is Debian's ``chromium`` (``apt-get install chromium``) driven by playwright through
``executable_path``; playwright never downloads a browser. The book is served from 127.0.0.1 and every
request to any other host is aborted, so a page that needs the network (a CDN script, a web font) shows here
as a reader without network would see it.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = {"desktop": 1400, "phone": 390}
HEIGHTS = {"desktop": 900, "phone": 844}

# Text a reader should never see: code names, pandas artefacts, Python reprs.
CODE_NAME_PATTERNS = {
    "result attribute": re.compile(r"\b(?:res|t4|card|row|df)\.[a-z_]\w*"),
    "identifier with underscores": re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"),
    "NaN": re.compile(r"\bNaN\b"),
    "dtype": re.compile(r"\bdtype\b"),
    "None": re.compile(r"\bNone\b"),
    "bracketed level": re.compile(r"\w\[[A-Za-z>≤<=][^\]]*\]"),
}


def chromium_path() -> str | None:
    """Path of a Chromium binary on this machine (``$CHROMIUM`` first), or None."""
    for candidate in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@contextmanager
def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 (a free port) for the duration of the block; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("file", "data", "blob", "about") or parts.hostname in ("127.0.0.1", "localhost")


@contextmanager
def offline_browser(executable: str | None = None):
    """A headless Chromium (playwright ``Browser``) whose pages cannot reach anything but localhost."""
    from playwright.sync_api import sync_playwright

    executable = executable or chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium found: apt-get install chromium (or set CHROMIUM=/path/to/chrome)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageReport:
    """What a reader's browser showed on one page at one width."""

    page: str
    width: int
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    missing_local: list[str] = field(default_factory=list)
    math_elements: int = 0
    math_rendered: int = 0
    raw_tex: list[str] = field(default_factory=list)
    scroll_width: int = 0
    viewport_width: int = 0
    overflowing: list[str] = field(default_factory=list)
    code_names: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)

    @property
    def scrolls_sideways(self) -> bool:
        return self.scroll_width > self.viewport_width + 1

    @property
    def unreachable(self) -> bool:
        """The page scrolls sideways, or some content sticks out of it or is clipped."""
        return self.scrolls_sideways or bool(self.overflowing)


# Run in the page: the reader-facing text (no code input, no literal code, no hidden elements).
_READER_TEXT_JS = """
() => {
  const root = document.querySelector('main, article, .bd-article') || document.body;
  const clone = root.cloneNode(true);
  // what a visible code cell prints is that code's output (methods pages teach the API): only prose and the
  // output of hidden or removed code count as reader text
  clone.querySelectorAll('div.cell').forEach(cell => {
    const input = cell.querySelector('.cell_input');
    if (input && !input.closest('details')) cell.querySelectorAll('.cell_output').forEach(o => o.remove());
  });
  clone.querySelectorAll(
    '.cell_input, .highlight, pre.literal-block, code, kbd, script, style, mjx-container, .math, ' +
    '.headerlink, .toggle-hidden, details:not([open]) > :not(summary), .prev-next-area, .hsct-provenance'
  ).forEach(e => e.remove());
  return clone.innerText;
}
"""

_OVERFLOW_JS = """
(limit) => {
  // Content the reader cannot reach: an element that sticks out past the right edge of the page (and is not
  // inside a frame that scrolls on its own), or a box whose content is wider than the box and clipped.
  const out = [];
  const name = el => el.tagName.toLowerCase() + (typeof el.className === 'string' && el.className ?
      '.' + el.className.trim().split(/\\s+/).slice(0, 2).join('.') : '');
  const frames = new Set(['auto', 'scroll']);
  // drawers that slide in on a phone (table of contents, sidebars) sit off-screen by design
  const drawers = '.bd-sidebar-primary, .bd-sidebar-secondary, dialog, .pst-secondary-sidebar-modal';
  for (const el of document.querySelectorAll('main *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || el.closest(drawers)) continue;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden') continue;
    if ((s.overflowX === 'hidden' || s.overflowX === 'clip') && el.scrollWidth > el.clientWidth + 2 &&
        !el.closest('mjx-container') && !el.matches('span.math') && s.textOverflow !== 'ellipsis' &&
        !el.matches('.prev-next-area a, .prev-next-area a *')) {
      out.push(name(el) + ' clips its content (' + el.scrollWidth + ' > ' + el.clientWidth + ' px)');
    } else if (r.right > limit + 1) {
      let p = el.parentElement, framed = false;
      while (p && p !== document.body) {
        if (frames.has(getComputedStyle(p).overflowX) && p.getBoundingClientRect().right <= limit + 1) {
          framed = true; break;
        }
        p = p.parentElement;
      }
      if (!framed) out.push(name(el) + ' ends at ' + Math.round(r.right) + ' px');
    }
    if (out.length >= 8) break;
  }
  return out;
}
"""

_IMAGES_JS = """
() => Array.from(document.querySelectorAll('main img'), img => ({
  src: img.getAttribute('src'), url: img.src, width: img.getBoundingClientRect().width,
  natural: img.naturalWidth, complete: img.complete && img.naturalWidth > 0,
}))
"""

_SVG_SIZE = re.compile(r'<svg[^>]*\bviewBox="[\d.\s-]+?\s([\d.]+)\s[\d.]+"', re.S)
_SVG_FONT = re.compile(r"font(?:-size)?:\s*(?:[a-z]+\s+)*([\d.]+)(px|pt)?")


def svg_min_text_px(svg: str, rendered_width: float) -> float | None:
    """Smallest text size, in CSS px as drawn, of an SVG shown ``rendered_width`` px wide (None: no text)."""
    size = _SVG_SIZE.search(svg)
    sizes = [float(m.group(1)) for m in _SVG_FONT.finditer(svg)]
    if not size or not sizes:
        return None
    return min(sizes) * rendered_width / float(size.group(1))


def check_page(browser, base_url: str, rel: str, width: int, height: int = 900, shot: Path | None = None) -> PageReport:
    """Open ``rel`` (a path under the book) at ``width`` px, offline; return what was seen."""
    report = PageReport(rel, width)
    context = browser.new_context(
        viewport={"width": width, "height": height}, device_scale_factor=1, service_workers="block"
    )

    def route(r):
        if _is_local(r.request.url):
            return r.continue_()
        report.blocked.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and report.console_errors.append(m.text))
    page.on("pageerror", lambda e: report.console_errors.append(f"uncaught: {e}"))

    def on_response(resp):
        if resp.status >= 400 and _is_local(resp.url):
            report.missing_local.append(f"{resp.status} {resp.url}")

    page.on("response", on_response)
    page.goto(base_url + rel, wait_until="load")
    page.evaluate("""async () => {
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
        if (document.fonts) { await document.fonts.ready; }
    }""")
    page.wait_for_timeout(150)
    report.math_elements = page.locator("main .math").count()
    report.math_rendered = page.locator("main .math mjx-container").count()
    text = page.evaluate("() => (document.querySelector('main') || document.body).innerText")
    report.raw_tex = sorted(set(re.findall(r"\\[\[(][^\n]{0,40}", text)))
    report.scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    report.viewport_width = page.evaluate("() => document.documentElement.clientWidth")
    report.overflowing = page.evaluate(_OVERFLOW_JS, report.viewport_width)
    reader = page.evaluate(_READER_TEXT_JS)
    for name, pattern in CODE_NAME_PATTERNS.items():
        for match in pattern.finditer(reader):
            start = max(0, match.start() - 30)
            report.code_names.append(f"{name}: …{reader[start : match.end() + 20]}…".replace("\n", " "))
    report.links = page.evaluate("() => Array.from(document.querySelectorAll('a[href]'), a => a.href)")
    report.images = page.evaluate(_IMAGES_JS)
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    context.close()
    return report


def book_pages(book: Path) -> list[str]:
    """Every HTML page of a built book that a reader reaches (not search/genindex/_static, not redirects)."""
    skip = {"search.html", "genindex.html", "py-modindex.html"}
    pages = []
    for path in sorted(book.rglob("*.html")):
        rel = path.relative_to(book)
        if path.name in skip or any(part.startswith("_") for part in rel.parts):
            continue
        if 'http-equiv="Refresh"' in path.read_text(encoding="utf-8", errors="replace")[:400]:
            continue
        pages.append(str(rel))
    return pages


def local_link_problems(book: Path, base_url: str, page_rel: str, links: list[str]) -> list[str]:
    """Links of a page that point into the book at a file (or an anchor) that does not exist."""
    problems = []
    for href in links:
        parts = urlsplit(href)
        if not href.startswith(base_url):
            continue
        rel = unquote(parts.path[len(urlsplit(base_url).path) :])
        target = book / rel
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"link to missing {rel}")
            continue
        if parts.fragment and target.suffix == ".html":
            html = target.read_text(encoding="utf-8", errors="replace")
            if f'id="{parts.fragment}"' not in html and f"id='{parts.fragment}'" not in html:
                problems.append(f"link to missing anchor {rel}#{parts.fragment}")
    return problems


def figure_problems(
    book: Path,
    base_url: str,
    report: PageReport,
    min_text_px: float = 9.0,
    raster_font: tuple[float, float] | None = None,
) -> list[str]:
    """Images that did not load, text drawn below ``min_text_px``, rasters below 2x on a desktop.

    An SVG's text sizes are read from the file. A raster's smallest text is ``raster_font`` = (smallest font in
    points, dots per inch it was drawn at), scaled by how wide the browser shows the image.
    """
    problems = []
    for img in report.images:
        if not img["complete"]:
            problems.append(f"image not shown: {img['src']}")
            continue
        path = urlsplit(img["url"]).path
        local = book / unquote(path[len(urlsplit(base_url).path) :]) if img["url"].startswith(base_url) else None
        if local is not None and local.suffix == ".svg" and local.is_file():
            smallest = svg_min_text_px(local.read_text(encoding="utf-8", errors="replace"), img["width"])
            if smallest is not None and smallest < min_text_px:
                problems.append(f"figure text {smallest:.1f} px < {min_text_px:g} px: {img['src']}")
            continue
        if report.width >= WIDTHS["desktop"] and img["natural"] < 1.5 * img["width"]:
            problems.append(f"raster figure at {img['natural'] / max(img['width'], 1):.1f}x: {img['src']}")
        if raster_font is not None and img["natural"]:
            points, dpi = raster_font
            shown = points * dpi / 72 * img["width"] / img["natural"]
            if shown < min_text_px:
                problems.append(f"figure text {shown:.1f} px < {min_text_px:g} px: {img['src']}")
    return problems


def page_problems(
    book: Path, base_url: str, report: PageReport, raster_font: tuple[float, float] | None = None
) -> dict[str, list[str]]:
    """Everything wrong on one page at one width, by kind (empty lists when nothing is)."""
    desktop = report.width >= WIDTHS["desktop"]
    math = []
    if report.math_rendered < report.math_elements or report.raw_tex:
        math.append(f"{report.math_rendered}/{report.math_elements} formulas rendered; raw TeX {report.raw_tex[:3]}")
    overflow = []
    if report.unreachable:
        overflow.append(f"page {report.scroll_width} px wide at {report.viewport_width} px: {report.overflowing}")
    return {
        "console errors": list(report.console_errors),
        "requests needing the network": list(report.blocked),
        "missing files": list(report.missing_local),
        "formulas": math,
        "sideways": overflow,
        "code names": list(report.code_names) if desktop else [],
        "links": local_link_problems(book, base_url, report.page, report.links) if desktop else [],
        "figures": figure_problems(book, base_url, report, raster_font=raster_font),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("book", type=Path, help="a built book, e.g. _build/html")
    parser.add_argument("--shots", type=Path, help="folder for full-page screenshots (page__width.png)")
    parser.add_argument("--page", action="append", help="only these pages (relative paths)")
    args = parser.parse_args(argv)
    book = args.book.resolve()
    pages = args.page or book_pages(book)
    total = 0
    from hsct_analysis.book import figures

    raster_font = (figures.SMALLEST_FONT_PT, figures.DPI)
    with serve(book) as base, offline_browser() as browser:
        for rel in pages:
            for kind, width in WIDTHS.items():
                shot = None
                if args.shots:
                    shot = args.shots / f"{rel.removesuffix('.html').replace('/', '__')}__{width}.png"
                report = check_page(browser, base, rel, width, HEIGHTS[kind], shot)
                for what, found in page_problems(book, base, report, raster_font).items():
                    total += len(found)
                    for line in found:
                        print(f"{rel} @{width} {what}: {line}")
    print(f"{len(pages)} pages, {total} problems")
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main())
