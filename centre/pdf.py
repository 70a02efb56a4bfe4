"""Print an HTML page to PDF with headless Chromium: the system's browser (never one
downloaded), driven by Playwright. The page gets a few seconds to load its tiles; without a
network it prints with the blank-map fallback."""

import os
import shutil

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class PdfError(Exception):
    pass


def chromium():
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_page(html_path, pdf_path, wait_ms=4000):
    exe = chromium()
    if exe is None:
        raise PdfError("--pdf needs Chromium (apt-get install chromium); none found")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        raise PdfError("--pdf needs the playwright package (pip install playwright)") from None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.goto("file://" + os.path.abspath(html_path), wait_until="load")
                page.wait_for_selector("body[data-ready]", timeout=30000)
                page.wait_for_timeout(wait_ms)  # tiles, where a tile server answers
                margin = {"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"}
                page.pdf(path=pdf_path, format="A4", print_background=True, margin=margin)
            finally:
                browser.close()
    except Error as e:
        raise PdfError("printing %s with Chromium failed: %s" % (html_path, str(e)[:300])) from None
