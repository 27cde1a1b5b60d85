"""Opens a WACZ in ReplayWeb.page, in a real headless Chromium, and prints the text of one
replayed page: what an archivist sees after dropping the file into replayweb.page.

    python3 tests/replayweb.py RWP_DIR FILE.wacz URL SCREENSHOT.png

RWP_DIR holds ReplayWeb.page's `ui.js` and `sw.js` (the `replaywebpage` npm package). The script
serves an embedding page, the two scripts and the WACZ from 127.0.0.1 (with Range requests, as
ReplayWeb.page reads a WACZ in pieces), drives Debian's `chromium` with Playwright (its own
browser downloads are never used), waits until the replayed URL's frame has rendered, prints its
text on stdout and saves a screenshot of the whole window. Exit 1 with a message on failure.
"""

import http.server
import os
import shutil
import sys
import tempfile
import threading

from playwright.sync_api import sync_playwright

rwp, wacz, url, shot = sys.argv[1:5]

root = tempfile.mkdtemp(prefix="replayweb-")
os.makedirs(os.path.join(root, "replay"))
shutil.copy(os.path.join(rwp, "ui.js"), os.path.join(root, "ui.js"))
shutil.copy(os.path.join(rwp, "sw.js"), os.path.join(root, "replay", "sw.js"))
shutil.copy(wacz, os.path.join(root, "crawl.wacz"))
with open(os.path.join(root, "blank.html"), "w") as f:
    f.write("<!doctype html><title>registers the service worker</title>")
with open(os.path.join(root, "index.html"), "w") as f:
    f.write(
        '<!doctype html><html><head><script src="./ui.js"></script></head>'
        '<body style="margin:0;height:100vh">'
        '<replay-web-page style="height:100vh;display:block" source="crawl.wacz" '
        f'url="{url}"></replay-web-page></body></html>'
    )


class Handler(http.server.SimpleHTTPRequestHandler):
    """Files under `root`, with single Range requests answered 206."""

    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)

    def log_message(self, *a):
        pass

    def send_head(self):
        rng = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not rng or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        first, _, last = rng.replace("bytes=", "").partition("-")
        if first:  # bytes=a-b or bytes=a-
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        else:  # bytes=-n: the last n bytes
            start, end = max(0, size - int(last)), size - 1
        f = open(path, "rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.remaining = end - start + 1
        return f

    def copyfile(self, source, outputfile):
        n = getattr(self, "remaining", None)
        if n is None:
            return super().copyfile(source, outputfile)
        outputfile.write(source.read(n))


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
origin = f"http://127.0.0.1:{server.server_address[1]}"

text = None
with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path=shutil.which("chromium") or "/usr/bin/chromium",
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # ReplayWeb.page's service worker, registered and activated before the embedding page
    # opens, as for a visitor who has been there before. The embed itself shows its replay
    # frame once the worker is registered, not active: a frame loaded before the worker
    # controls /replay/ gets this server's directory listing instead of the replay, and the
    # embed reloads it three times, 100 ms apart, then gives up (on a loaded machine the
    # worker's start takes longer). So the test waits for that state, not for a time.
    page.goto(f"{origin}/blank.html")
    page.evaluate(
        """async () => {
            const reg = await navigator.serviceWorker.register(
                "./replay/sw.js?serveIndex=1", { scope: "./replay/" });
            const sw = reg.installing || reg.waiting || reg.active;
            await new Promise((ok, fail) => {
                const check = () => {
                    if (sw.state === "activated") ok();
                    if (sw.state === "redundant") fail(new Error("the service worker failed to install"));
                };
                sw.addEventListener("statechange", check);
                check();
                // Only a bound on a hang: the state is what is waited for.
                setTimeout(() => fail(new Error("the service worker did not activate in 120 s")), 120000);
            });
        }"""
    )
    page.goto(f"{origin}/index.html")
    # The replayed page is a frame whose URL ends with the archived one (…/mp_/URL).
    deadline = 90_000
    step = 500
    waited = 0
    while waited < deadline:
        for frame in page.frames:
            if frame.url.endswith(url) and "mp_/" in frame.url:
                try:
                    body = frame.inner_text("body", timeout=1000)
                except Exception:
                    continue
                if body.strip():
                    text = body
                    break
        if text:
            break
        page.wait_for_timeout(step)
        waited += step
    page.screenshot(path=shot)
    frames = [f.url for f in page.frames]
    browser.close()
server.shutdown()
shutil.rmtree(root, ignore_errors=True)

if not text:
    print(f"no replayed frame of {url} rendered; frames: {frames}", file=sys.stderr)
    sys.exit(1)
print(text)
