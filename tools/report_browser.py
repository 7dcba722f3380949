"""Render an xcardia report (report.html) in a headless Chromium and check its layout; optionally save a screenshot.

    python tools/report_browser.py RUN/report/report.html                  # prints what overflows, exit 1 if anything does
    python tools/report_browser.py RUN/report/report.html --shot out.png   # also a screenshot of the page's top

The check, at each window width (1280 and 900 CSS pixels, a laptop and a half screen): the page has no horizontal scroll
bar; every figure, table, caption and preformatted block lies inside the report's column and does not spill out of its
own box; every figure loaded. Nothing here is part of the package: it needs Playwright for Python (a dev requirement)
and a Chromium installed by the system (Debian: `apt-get install chromium`; Playwright's own browser download is not
used, and fails on machines without the internet). `find_browser()` returns None where there is none, and the tests
that use it skip.
"""
import argparse, os, shutil, sys
from pathlib import Path

WIDTHS = (1280, 900)
# Chromium's flags for a closed network, as root, with no screen: no sandbox (root), no GPU, no background connections,
# /tmp instead of /dev/shm (small in containers).
FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']

# Runs in the page: every element that should fit, measured against the body's box (the report's column).
_MEASURE = """() => {
  const body = document.body.getBoundingClientRect(), doc = document.documentElement, bad = [];
  if (doc.scrollWidth > doc.clientWidth + 1) bad.push(`the page scrolls sideways: ${doc.scrollWidth} px of content in a ${doc.clientWidth} px window`);
  for (const el of document.body.querySelectorAll('img, table, pre, figure, figcaption, p, h1, h2, h3')) {
    const r = el.getBoundingClientRect(), what = el.tagName.toLowerCase() + (el.getAttribute('src') ? ` ${el.getAttribute('src')}` : '')
      + ((el.innerText || '').trim() ? ` "${el.innerText.trim().slice(0, 60).replace(/\\s+/g, ' ')}"` : '');
    if (r.right > body.right + 1 || r.left < body.left - 1)
      bad.push(`${what} spans x ${Math.round(r.left)}-${Math.round(r.right)}, outside the column ${Math.round(body.left)}-${Math.round(body.right)}`);
    else if (el.scrollWidth > el.clientWidth + 1 && el.tagName != 'IMG')
      bad.push(`${what} holds ${el.scrollWidth} px of content in ${el.clientWidth} px`);
    if (el.tagName == 'IMG' && !(el.complete && el.naturalWidth > 0)) bad.push(`${what} did not load`);
  }
  return bad; }"""

def find_browser()->str|None:
    "The Chromium to drive: $XCARDIA_BROWSER, else chromium / chromium-browser / google-chrome on the PATH; None if none."
    cands = [os.environ.get('XCARDIA_BROWSER')] + [shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome')]
    return next((c for c in cands if c and Path(c).exists()), None)

def _pages(html:Path, widths, height=900):
    "Yield (width, page) with the report loaded at each width (one browser for all)."
    from playwright.sync_api import sync_playwright
    exe = find_browser()
    if exe is None: raise RuntimeError("no Chromium found: install one (Debian: apt-get install chromium) or set XCARDIA_BROWSER")
    html = Path(html).resolve()
    if not html.exists(): raise FileNotFoundError(f"{html}: no such report; `xcardia evaluate CONFIG` writes it")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=FLAGS)
        try:
            for w in widths:
                page = browser.new_page(viewport={'width': w, 'height': height})
                page.goto(html.as_uri(), wait_until='load')
                yield w, page
                page.close()
        finally: browser.close()

def layout_problems(html:Path, widths=WIDTHS)->list[str]:
    "What overflows or fails to load in `html`, at each window width, as sentences ('1280 px: table ... spans ...'); [] if nothing."
    return [f"{w} px: {m}" for w, page in _pages(html, widths) for m in page.evaluate(_MEASURE)]

def screenshot(html:Path, png:Path, width:int=1280, height:int=1600)->Path:
    "A PNG of the top `height` pixels of the report at window `width` (the docs show one)."
    for _, page in _pages(html, [width], height): page.screenshot(path=str(png))
    return Path(png)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('html', type=Path); ap.add_argument('--shot', type=Path, help="also save a screenshot of the page's top here")
    ap.add_argument('--height', type=int, default=1600, help="screenshot height in CSS pixels (default 1600)")
    a = ap.parse_args()
    bad = layout_problems(a.html)
    print('\n'.join(bad) if bad else f"{a.html}: every figure and table fits at {', '.join(map(str, WIDTHS))} px")
    if a.shot: print('screenshot ->', screenshot(a.html, a.shot, height=a.height))
    sys.exit(1 if bad else 0)
