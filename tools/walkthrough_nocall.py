"""A person's walk through Classify with calls withheld, in headless Chromium, on the shipped
models: an Aria smear field (its cells called ALL, HEM or NO CALL with a reason) and a grayscale
copy of a C-NMC cell (NO CALL for the whole image). Writes the README's classify_nocall.png.

    .venv/bin/python tools/walkthrough_nocall.py tests/screenshots
"""
import re
import sys
import tempfile
from pathlib import Path

import cv2
from browser_walk import ROOT, WAIT_MS, idle, start_server
from browser_walk import shot as _shot
from playwright.sync_api import sync_playwright

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="walkthrough-"))
OUT.mkdir(parents=True, exist_ok=True)
proc, url, home = start_server()
gray = home / "UID_13_10_1_all_grayscale.png"
cv2.imwrite(str(gray), cv2.cvtColor(cv2.imread(str(ROOT / "leukemia_core/samples/all/UID_13_10_1_all.png")),
                                    cv2.COLOR_BGR2GRAY))
field = ROOT / "leukemia_core/samples/all/WBC-Malignant-Pre-790.jpg"

try:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/")
        page.get_by_role("heading", name="Classify cells").wait_for(timeout=WAIT_MS)
        page.locator('input[type="file"]').set_input_files([str(field), str(gray)])
        verdicts = page.get_by_text(re.compile(r"image (ALL|HEM|NO CALL)\b.*\(mean cell P\(ALL\)"))
        idle(page)
        verdicts.nth(1).wait_for(timeout=WAIT_MS)
        idle(page)
        for t in verdicts.all_inner_texts():
            print("->", t[:200], flush=True)
        _shot(page, OUT, "classify_nocall.png")
        b.close()
finally:
    proc.terminate()
    proc.wait(timeout=30)
