"""`s2i label` driven in headless Chromium (Debian's /usr/bin/chromium) over the DevTools pipe."""
import json
import os
import shutil
import subprocess
import threading
import time

import numpy as np
import pandas as pd
import pytest

from pipeline import label, labelsets

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed (apt-get install chromium)")


class Browser:
    """A tiny Chrome DevTools Protocol client over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, profile):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "--no-first-run", "--window-size=900,800", "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer, self._next_id = b"", 0
        target = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]

    def send(self, method, session=None, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_child, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def page(self, method, **params):
        return self.send(method, session=self.session, **params)

    def js(self, expression):
        return self.page("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(expression)

    def key(self, char):
        for kind in ("keyDown", "keyUp"):
            self.page("Input.dispatchKeyEvent", type=kind, key=char, code=f"Key{char.upper()}", text=char if kind == "keyDown" else "",
                      windowsVirtualKeyCode=ord(char.upper()))

    def click(self, selector):
        box = self.js(f"(() => {{const r = document.querySelector('{selector}').getBoundingClientRect();"
                      f"return [r.x + r.width / 2, r.y + r.height / 2];}})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)


def tiny_pool(n=6):
    rng = np.random.default_rng(0)
    classes = ["Baby cry", "Dog", "Rail transport", "Fireworks", "Water flowing", "Dog"][:n]
    records = pd.DataFrame({"image_id": [f"img{i:04d}abcdef01" for i in range(n)],
                            "snapshot": [f"generator_{5 * (i % 2 + 1):05d}.pt" for i in range(n)],
                            "class_name": classes})
    return records, rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)


@pytest.fixture
def server(tmp_path):
    records, images = tiny_pool()
    session = label.LabelSession(records, images, tmp_path / "labels" / "informativity.csv", "tester", seed=1)
    srv = label.make_server(session)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, session, tmp_path / "labels" / "informativity.csv"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


def current_image(browser):
    return browser.wait_for("document.body.dataset.imageId && document.getElementById('image').complete "
                            "&& document.getElementById('image').naturalWidth === 96 && document.body.dataset.imageId")


def wait_rows(path, n, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            rows = labelsets.read_labels(path)
            if len(rows) == n:
                return rows
        time.sleep(0.05)
    raise TimeoutError(f"{path} never had {n} rows")


@needs_chromium
def test_keys_clicks_undo_and_resume_in_chromium(server, browser):
    srv, session, csv_path = server
    host, port = srv.server_address[:2]
    assert host == "127.0.0.1"
    browser.page("Page.navigate", url=f"http://{host}:{port}/")
    shown = [current_image(browser)]
    assert "generator" not in browser.js("document.body.innerText")        # blind to model and epoch
    classes = dict(zip(session.records["image_id"], session.records["class_name"]))
    assert browser.js("document.getElementById('class').textContent") == f"Sound: {classes[shown[0]]}"

    browser.key("i")
    wait_rows(csv_path, 1)
    shown.append(browser.wait_for(f"document.body.dataset.imageId !== '{shown[-1]}' && document.body.dataset.imageId"))
    browser.click("#not_informative")
    wait_rows(csv_path, 2)
    shown.append(browser.wait_for(f"document.body.dataset.imageId !== '{shown[-1]}' && document.body.dataset.imageId"))
    browser.key("s")
    wait_rows(csv_path, 3)
    browser.wait_for(f"document.body.dataset.imageId !== '{shown[-1]}'")
    browser.key("u")                                # undo the skip: that image comes back
    wait_rows(csv_path, 2)
    assert browser.wait_for(f"document.body.dataset.imageId === '{shown[-1]}'")
    browser.click("#informative")
    rows = wait_rows(csv_path, 3)
    assert list(rows["image_id"]) == shown
    assert list(rows["label"]) == ["informative", "not_informative", "informative"]
    assert set(rows["rater"]) == {"tester"}
    assert list(rows["class_name"]) == [classes[i] for i in shown]
    assert labelsets.resolved_labels(rows) == {shown[0]: 1, shown[1]: 0, shown[2]: 1}

    # a new session on the same CSV resumes: labelled images never come back
    again = label.LabelSession(session.records, session.images, csv_path, "tester", seed=1)
    left = []
    item = again.next_item()
    while not item["done"]:
        left.append(item["image_id"])
        item = again.answer(item["image_id"], "skip")
    assert sorted(left + shown) == sorted(session.records["image_id"]) and not set(left) & set(shown)


def test_server_rejects_bad_input(server):
    import urllib.error
    import urllib.request

    srv, session, _ = server
    base = "http://127.0.0.1:%d" % srv.server_address[1]

    def post(path, body):
        req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        return urllib.request.urlopen(req, timeout=5)

    first = session.next_item()["image_id"]
    for body in ({"image_id": "../../etc/passwd", "label": "informative"},
                 {"image_id": first, "label": "maybe"},
                 {"image_id": "unknown0000000000", "label": "skip"}):
        with pytest.raises(urllib.error.HTTPError) as err:
            post("/label", body)
        assert err.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/image/..%2f..%2fsecret.png", timeout=5)
    assert err.value.code == 404
    assert json.load(post("/label", {"image_id": first, "label": "informative"}))["labelled"] == 1


def test_labels_csv_errors_name_file_and_line(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("image_id,snapshot,class_name,label,rater,time\nabc,s,Dog,perhaps,me,t\n")
    with pytest.raises(ValueError, match=r"labels.csv: line 2: label 'perhaps'"):
        labelsets.read_labels(path)
    path.write_text("image_id,class_name\n")
    with pytest.raises(ValueError, match="lacks columns"):
        labelsets.read_labels(path)
