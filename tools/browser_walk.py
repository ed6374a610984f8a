"""What the browser walk-throughs share: a fresh Streamlit server of this checkout on a free
loopback port, waiting for a page to settle, and full-page screenshots."""
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: How long a step may wait for the page (ms): a first model load and trace on two busy cores.
WAIT_MS = 300_000


def start_server(**env_extra):
    """Start ``streamlit run serve.py`` with a temporary ``$LEUKEMIA_DATA_HOME`` (and ``env_extra``);
    return ``(process, url, home)`` once the health check answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    home = Path(tempfile.mkdtemp(prefix="walkthrough-"))
    env = dict(os.environ, LEUKEMIA_DATA_HOME=str(home), PYTHONUNBUFFERED="1",
               **{k: v.format(home=home) for k, v in env_extra.items()})
    log = open(home / "streamlit.log", "w")
    proc = subprocess.Popen([str(ROOT / ".venv/bin/streamlit"), "run", "serve.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except Exception:
            time.sleep(0.5)
    return proc, url, home


def idle(page):
    """Wait until Streamlit's running indicator is gone (and a little more for the render)."""
    page.wait_for_timeout(700)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=WAIT_MS)
    page.wait_for_timeout(700)


def shot(page, out: Path, name: str):
    """A full-page PNG of the app (the viewport stretched to the page's height) at ``out / name``."""
    h = page.evaluate("() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], "
                      "[data-testid=\"stAppViewContainer\"]')].map(e => e.scrollHeight), 1000)")
    page.set_viewport_size({"width": 1400, "height": min(int(h) + 40, 8000)})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(out / name), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    print("shot", name, flush=True)
