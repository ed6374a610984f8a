"""A person's walk through the app with the shipped models, in headless Chromium: Classify on a
single-cell image of BCCD and of C-NMC (one outlined cell each), then on the Cases page a case made
from two sample images, one cell reclassified, the rest accepted, signed off, and found signed with
its audit trail from a second browser session. Writes the README's classify_bccd.png and cases.png.

    .venv/bin/python tools/walkthrough.py tests/screenshots

The case store is a temporary folder ($LEUKEMIA_DATA_HOME), so nothing is left behind.
"""
import re
import sys
import tempfile
from pathlib import Path

from browser_walk import ROOT, WAIT_MS, idle, start_server
from browser_walk import shot as _shot
from playwright.sync_api import sync_playwright

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="walkthrough-"))
OUT.mkdir(parents=True, exist_ok=True)
proc, url, home = start_server()
W = WAIT_MS


def shot(page, name):
    _shot(page, OUT, name)


try:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/")
        page.get_by_role("heading", name="Classify cells").wait_for(timeout=W)
        for name, shotname in [("leukemia_core/samples/hem/BloodImage_00305.jpg", "classify_bccd.png"),
                               ("leukemia_core/samples/all/UID_13_10_1_all.png", None)]:
            page.locator('input[type="file"]').set_input_files(str(ROOT / name))
            v = page.get_by_text(re.compile(r"image (ALL|HEM|NO CALL)\b.*\(mean cell P\(ALL\)"))
            idle(page); page.get_by_text(Path(name).name, exact=True).first.wait_for(timeout=W)
            v.first.wait_for(timeout=W); idle(page)
            for t in v.all_inner_texts():  # every verdict on the page (earlier uploads stay listed)
                print("after uploading", Path(name).name, "->", t[:170], flush=True)
            if shotname:
                shot(page, shotname)
        page.locator('[data-testid="stSidebarNav"] a', has_text="Cases").first.click()
        page.get_by_role("heading", name="Cases").wait_for(timeout=W); idle(page)
        page.get_by_role("textbox", name="Your name").fill("T. Tech")
        page.get_by_role("textbox", name="Your name").press("Enter"); idle(page)
        page.get_by_role("button", name="Review as this name").click(); idle(page)
        page.get_by_text("New case").first.click(); idle(page)
        page.get_by_role("textbox", name="Case ID (the lab's; no patient name)", exact=True).fill("LAB-2026-001")
        page.get_by_role("textbox", name="Case ID (the lab's; no patient name)", exact=True).press("Enter"); idle(page)
        for label, value in (("Specimen ID", "SP-88"), ("Patient reference (the lab's code, not a name)", "PT-0042")):
            page.get_by_role("textbox", name=label, exact=True).fill(value)
            page.get_by_role("textbox", name=label, exact=True).press("Enter"); idle(page)
        date = page.locator('[data-testid="stDateInput"]').filter(has_text="Sample date").locator("input")
        date.fill("2026-05-01"); date.press("Enter"); idle(page)
        ms = page.locator('[data-testid="stMultiSelect"]').first
        for t in ["BloodImage_00305", "WBC-Benign-420"]:
            ms.click(); page.keyboard.type(t); page.keyboard.press("Enter"); idle(page)
        page.keyboard.press("Escape")
        page.get_by_role("button", name=re.compile("Create the case and read 2 image")).click()
        idle(page)
        page.get_by_text("Case LAB-2026-001").first.wait_for(timeout=W); idle(page)
        # reclassify the first cell as HEM by one click, then accept the rest and sign
        page.locator('[data-testid="stButtonGroup"]').filter(has_text="Accept").first.get_by_text("HEM", exact=True).click(); idle(page)
        page.get_by_role("button", name=re.compile("Accept the model's call for the")).click(); idle(page)
        page.get_by_role("button", name=re.compile("^Sign off")).click(); idle(page)
        page.get_by_text("Sign the case").first.wait_for(timeout=W)
        page.get_by_text(re.compile("^I, T. Tech")).click(); idle(page)
        shot(page, "cases_signing.png")
        page.get_by_role("button", name="Sign", exact=True).click(); idle(page)
        page.get_by_text("Sign-off 1:").wait_for(timeout=W)
        shot(page, "cases.png")
        # a new browser session (as after reopening the app) finds the case signed with its trail
        p2 = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        p2.goto(url + "/cases"); p2.get_by_role("heading", name="Cases").wait_for(timeout=W); idle(p2)
        p2.get_by_text("Sign-off 1:").wait_for(timeout=W)
        p2.get_by_text("Audit trail", exact=True).first.click(); idle(p2)
        print("reopened: signed case found; audit rows:", p2.locator('[data-testid="stDataFrame"]').count(), flush=True)
        b.close()
finally:
    proc.terminate(); proc.wait(timeout=30)
