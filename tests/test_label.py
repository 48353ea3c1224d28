"""`s2i label` driven in headless Chromium (Debian's chromium, through Playwright: the `browser` fixture)."""

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest

from pipeline.commands import label
from pipeline.evaluation import labelsets


def tiny_pool(n=6):
    rng = np.random.default_rng(0)
    classes = ["Baby cry", "Dog", "Rail transport", "Fireworks", "Water flowing", "Dog"][:n]
    records = pd.DataFrame({"image_id": [f"img{i:04d}abcdef01" for i in range(n)], "snapshot": [f"generator_{5 * (i % 2 + 1):05d}.pt" for i in range(n)], "class_name": classes})
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


def current_image(page):
    """The id of the image on screen once it has loaded."""
    return page.wait_for_function(
        "document.body.dataset.imageId && document.getElementById('image').complete && document.getElementById('image').naturalWidth === 96 && document.body.dataset.imageId"
    ).json_value()


def next_image(page, previous):
    return page.wait_for_function(f"document.body.dataset.imageId !== '{previous}' && document.body.dataset.imageId").json_value()


def wait_rows(path, n, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            rows = labelsets.read_labels(path)
            if len(rows) == n:
                return rows
        time.sleep(0.05)
    raise TimeoutError(f"{path} never had {n} rows")


def test_keys_clicks_undo_and_resume_in_chromium(server, browser):
    srv, session, csv_path = server
    host, port = srv.server_address[:2]
    assert host == "127.0.0.1"
    page = browser.new_page(viewport={"width": 900, "height": 800})
    page.goto(f"http://{host}:{port}/")
    shown = [current_image(page)]
    assert "generator" not in page.inner_text("body")  # blind to model and epoch
    classes = dict(zip(session.records["image_id"], session.records["class_name"]))
    assert page.text_content("#class") == f"Sound: {classes[shown[0]]}"

    page.keyboard.press("i")
    wait_rows(csv_path, 1)
    shown.append(next_image(page, shown[-1]))
    page.click("#not_informative")
    wait_rows(csv_path, 2)
    shown.append(next_image(page, shown[-1]))
    page.keyboard.press("s")
    wait_rows(csv_path, 3)
    next_image(page, shown[-1])
    page.keyboard.press("u")  # undo the skip: that image comes back
    wait_rows(csv_path, 2)
    page.wait_for_function(f"document.body.dataset.imageId === '{shown[-1]}'")
    page.click("#informative")
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
        req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
        return urllib.request.urlopen(req, timeout=5)

    first = session.next_item()["image_id"]
    for body in ({"image_id": "../../etc/passwd", "label": "informative"}, {"image_id": first, "label": "maybe"}, {"image_id": "unknown0000000000", "label": "skip"}):
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
