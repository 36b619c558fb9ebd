"""viz.explainer: the data it writes (checked in Python) and the page itself (checked in headless Chromium).

The browser tests load the page from a ``file://`` URL in Debian's Chromium driven by Selenium;
they are skipped, with the reason printed, only where no browser is installed (``.ci/run`` installs
one).  The numbers the page shows are compared with tinygraph's own ``F.conv2d`` and
``F.softmax``, computed here independently of the page's data.
"""

from __future__ import annotations

import base64
import json
import re
from collections import OrderedDict

import numpy as np
import pytest
from _browser import browser, close

import tinygraph as tg
import tinygraph.functional as F
import viz
from viz.explainer_page import encode_maps, page_data

nn = tg.nn


def small_model():
    """Every layer kind the page knows, a residual block with a projection, and one it does not (Tanh)."""
    tg.manual_seed(0)
    model = nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(3, 4, 3, padding=1)),
                ("bn1", nn.BatchNorm2d(4)),
                ("relu1", nn.ReLU()),
                ("pool1", nn.MaxPool2d(2)),
                ("block", nn.BasicBlock(4, 6, stride=2)),
                ("tanh", nn.Tanh()),
                ("leaky", nn.LeakyReLU(0.1)),
                ("avg", nn.AvgPool2d(2, stride=1, padding=1)),
                ("gap", nn.AdaptiveAvgPool2d(1)),
                ("flatten", nn.Flatten()),
                ("drop", nn.Dropout(0.3)),
                ("fc", nn.Linear(6, 3)),
            ]
        )
    )
    for m in model.modules():  # running statistics that are not the identity, so BN's numbers mean something
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.data[...] = np.linspace(-0.2, 0.2, m.num_features)
            m.running_var.data[...] = np.linspace(0.5, 2.0, m.num_features)
    return model


def tiny_vgg(hidden=10, classes=10):
    """CNN Explainer's TinyVGG for 3x64x64 images (the shape of tg.models.TinyVGG)."""
    tg.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(3, hidden, 3), nn.ReLU(), nn.Conv2d(hidden, hidden, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(hidden, hidden, 3), nn.ReLU(), nn.Conv2d(hidden, hidden, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(hidden * 13 * 13, classes),
    )  # fmt: skip


def image(c=3, h=8, w=8, seed=0):
    return np.random.default_rng(seed).random((c, h, w), dtype=np.float32)


# ------------------------------------------------------------------ the data, in Python
def test_every_layer_is_a_column_in_order_with_the_block_and_its_skip():
    data = page_data(small_model(), image(), classes=["a", "b", "c"])
    cols = data["columns"]
    names = [c["name"] for c in cols]
    assert names[:5] == ["input", "conv1", "bn1", "relu1", "pool1"]
    assert names[-7:] == ["tanh", "leaky", "avg", "gap", "flatten", "drop", "fc"]
    kinds = {c["name"]: c["kind"] for c in cols}
    assert kinds["tanh"] == "other"  # drawn as a labelled box, not dropped
    assert kinds["block.conv1"] == "conv" and kinds["block.shortcut.0"] == "conv"
    assert kinds["relu before block.conv2"] == "relu"  # the out.relu() inside BasicBlock.forward
    assert kinds["block output"] == "block_out"
    (block,) = data["blocks"]
    assert block["skip"] and block["type"] == "BasicBlock"
    assert cols[block["source"]]["name"] == "pool1"  # the skip starts at the block's input
    assert [cols[i]["name"] for i in block["columns"]][-1] == "block output"
    # each layer reads the column before it, except the shortcut, which reads the block's input
    source = {c["name"]: cols[c["source"]]["name"] if c["source"] is not None else None for c in cols}
    assert source["block.shortcut.0"] == "pool1" and source["conv1"] == "input" and source["fc"] == "drop"


class Doubler(nn.Module):
    """Not a Sequential, and its forward computes something no module does (x * 2) and adds a bias after fc."""

    def __init__(self):
        super().__init__()
        self.conv, self.flatten, self.fc = nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(self.flatten(self.conv(x) * 2.0)) + 1.0


def test_tensors_made_in_forward_code_are_columns_too():
    tg.manual_seed(0)
    data = page_data(Doubler(), image(1, 6, 6))
    cols = [(c["name"], c["kind"], c["source"]) for c in data["columns"]]
    assert cols == [
        ("input", "input", None),
        ("conv", "conv", 0),
        ("before flatten", "forward", None),  # conv * 2
        ("flatten", "flatten", 2),
        ("fc", "linear", 3),
        ("output", "forward", None),  # fc + 1: the logits the softmax uses
    ]
    assert data["blocks"] == []


def test_logits_and_prediction_are_the_models():
    model, x = small_model(), image()
    data = page_data(model, x, classes=["a", "b", "c"])
    assert model.training  # page_data ran in eval mode and restored the mode it found
    model.eval()
    expected = model(tg.tensor(x[None])).detach().numpy()[0]
    np.testing.assert_allclose(data["logits"], expected, rtol=1e-6)
    assert data["predicted"] == int(np.argmax(expected)) and data["classes"] == ["a", "b", "c"]


def test_quantised_maps_decode_to_within_half_a_step():
    value = np.random.default_rng(2).normal(size=(3, 5, 7)).astype(np.float32) * [[[1.0]], [[10.0]], [[0.0]]]
    enc = encode_maps(value)
    q = np.frombuffer(base64.b64decode(enc["q"]), dtype=np.uint8).reshape(3, 5, 7)
    lo, hi = np.array(enc["lo"])[:, None, None], np.array(enc["hi"])[:, None, None]
    decoded = lo + q / 255.0 * (hi - lo)
    assert np.all(np.abs(decoded - value) <= (hi - lo) / 255 / 2 + 1e-6)
    assert enc["lo"][2] == enc["hi"][2] == 0.0  # a constant map decodes exactly
    assert enc["range"] == [float(value.min()), float(value.max())]


def test_large_layers_are_subsampled_with_a_note():
    from viz.explainer_page import MAX_MAPS, MAX_SIDE

    enc = encode_maps(np.zeros((MAX_MAPS + 8, 2 * MAX_SIDE + 1, 10), np.float32))
    assert enc["maps"] == MAX_MAPS and enc["shape"][0] == MAX_MAPS + 8
    assert enc["step"] == 3 and enc["h"] <= MAX_SIDE and enc["w"] == 4
    assert len(base64.b64decode(enc["q"])) == MAX_MAPS * enc["h"] * enc["w"]


def test_page_loads_nothing_and_ships_its_own_code(tmp_path):
    path = viz.explainer(small_model(), image(), save=tmp_path / "sub" / "page.html")
    html = path.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # the only URL in the page is the SVG namespace name, which is an identifier, not a request
    assert set(re.findall(r"(?:https?:)?//[\w.-]+\.\w+[^\s\"')]*", html)) <= {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)
    assert "function openConv" in html  # the JavaScript of viz/explainer.js is inline
    data = json.loads(re.search(r'id="explainer-data">(.*?)</script>', html, re.S).group(1).replace("<\\/", "</"))
    assert len(data["columns"]) == 20  # 19 layers and the input


def test_grad_cam_overlay_when_tg_explain_has_it():
    grad_cam = getattr(getattr(tg, "explain", None), "grad_cam", None)
    if grad_cam is None:
        pytest.skip("this tinygraph has no tg.explain.grad_cam; the page is written without the overlay")
    model, x = tiny_vgg(hidden=4), image(3, 64, 64)
    data = page_data(model, x)
    cam = data["gradcam"]
    assert cam["layer"] == "8"  # the ReLU after the last Conv2d
    expected = grad_cam(model, tg.tensor(x[None]), "8", target=data["predicted"])[0]
    q = np.frombuffer(base64.b64decode(cam["maps"]["q"]), dtype=np.uint8).reshape(64, 64)
    lo, hi = cam["maps"]["lo"][0], cam["maps"]["hi"][0]
    np.testing.assert_allclose(lo + q / 255 * (hi - lo), expected, atol=(hi - lo) / 255)


def test_grad_cam_looks_at_the_last_stage_not_a_shortcut():
    from viz.explainer_page import grad_cam_layer
    from viz.explainer_trace import trace

    tg.manual_seed(0)
    resnet = tg.models.SmallResNet(3, 10, widths=(4, 8, 8))
    assert grad_cam_layer(trace(resnet, tg.tensor(image(3, 16, 16)[None])).columns) == "stage3.0"
    assert grad_cam_layer(trace(small_model(), tg.tensor(image()[None])).columns) == "leaky"


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"viz.explainer: x must be one image \(C, H, W\), got shape \(8, 8\)"):
        viz.explainer(small_model(), np.zeros((8, 8), np.float32), save=tmp_path / "a.html")
    with pytest.raises(ValueError, match="classes has 2 names but the model outputs 3 logits"):
        viz.explainer(small_model(), image(), classes=["a", "b"], save=tmp_path / "a.html")
    with pytest.raises(TypeError, match="viz.explainer: model must be a tg.nn.Module"):
        viz.explainer(lambda t: t, image(), save=tmp_path / "a.html")


def test_tiny_vgg_page_is_at_most_5_mb(tmp_path):
    path = viz.explainer(tiny_vgg(), image(3, 64, 64), save=tmp_path / "vgg.html")
    assert path.stat().st_size <= 5 * 1024 * 1024


# ------------------------------------------------------------------ the page, in a browser
@pytest.fixture(scope="module")
def driver():
    d = browser()
    yield d
    close(d)


def open_page(driver, path):
    driver.get_log("performance")  # drop what came before (the browser's own start page)
    driver.get(path.resolve().as_uri())
    assert driver.find_element("tag name", "body").get_attribute("data-ready") == "1", driver.get_log("browser")


def requests_made(driver, url):
    """Every request the page at ``url`` made, from Chromium's network log (the page's own load excluded)."""
    made = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            req_url = msg["params"]["request"]["url"]
            if req_url != url and (msg["params"].get("documentURL") == url or req_url.startswith(("http", "ws"))):
                made.append(req_url)
    return made


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def blank_panels(driver):
    """Names of overview columns none of whose canvases has a drawn (non-transparent) pixel."""
    return driver.execute_script(
        """
        const blank = [];
        document.querySelectorAll('#stage .column').forEach(function (col) {
          const drawn = Array.from(col.querySelectorAll('canvas')).some(function (cv) {
            if (!cv.width || !cv.height || !cv.getBoundingClientRect().width) return false;
            const px = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
            for (let i = 3; i < px.length; i += 4) if (px[i] > 0) return true;
            return false;
          });
          const bars = col.querySelectorAll('.bar').length;  // the softmax column draws bars
          if (!drawn && !bars) blank.push(col.getAttribute('data-column'));
        });
        return blank;
        """
    )


def conv_input(model, layer, x):
    """What ``layer`` received during ``model(x)``, captured by a forward hook (independent of the page)."""
    seen = {}

    def hook(module, inputs, output):
        seen["x"] = inputs[0].detach().numpy().copy()  # returns None: the output stays as it is

    handle = layer.register_forward_hook(hook)
    model.eval()
    with tg.no_grad():
        model(tg.tensor(x[None]))
    handle.remove()
    return seen["x"]


def click_pixel(driver, canvas, i, j, h, w):
    """Click the centre of pixel (row i, column j) of a canvas drawn h x w."""
    from selenium.webdriver.common.action_chains import ActionChains

    rect = canvas.rect
    dx = (j + 0.5) * rect["width"] / w - rect["width"] / 2
    dy = (i + 0.5) * rect["height"] / h - rect["height"] / 2
    ActionChains(driver).move_to_element_with_offset(canvas, int(round(dx)), int(round(dy))).click().perform()


def test_the_request_log_sees_a_request_when_a_page_makes_one(driver, tmp_path):
    """The checks above could pass vacuously; here a page that does load something is caught by both."""
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><body data-ready="1"><img src="http://127.0.0.1:9/nothing.png"></body>')
    open_page(driver, page)
    assert requests_made(driver, page.resolve().as_uri()) == ["http://127.0.0.1:9/nothing.png"]
    assert console_errors(driver)  # the failed load is reported on the console


def test_page_in_chromium_numbers_equal_tinygraphs(driver, tmp_path):
    model, x = small_model(), image()
    path = viz.explainer(model, x, classes=["cat", "dog", "cow"], save=tmp_path / "page.html")
    open_page(driver, path)
    assert requests_made(driver, path.resolve().as_uri()) == []
    assert blank_panels(driver) == []
    n_columns = len(driver.find_elements("css selector", "#stage .column"))
    assert n_columns == 20 + 1  # every column and the softmax

    # Click output map 2 of block.conv1 (stride 2, 4 input channels) in the overview, then pixel (1, 0).
    cols = driver.execute_script("return tinygraphExplainer.columns.map(c => c.name)")
    ci = cols.index("block.conv1")
    driver.find_element("css selector", f'#stage canvas.map[data-column="{ci}"][data-map="2"]').click()
    detail = driver.find_element("id", "detail")
    assert detail.get_attribute("data-kind") == "conv" and detail.is_displayed()
    out_canvas = detail.find_element("css selector", f'canvas.map[data-column="{ci}"]')
    click_pixel(driver, out_canvas, 1, 0, 2, 2)
    result = detail.find_element("id", "conv-result")
    assert result.get_attribute("data-pixel") == "2,1,0"
    layer = model.block.conv1
    received = tg.tensor(conv_input(model, layer, x))
    expected = F.conv2d(received, layer.weight.detach(), None, layer.stride, layer.padding)
    expected = expected.numpy()
    assert float(result.get_attribute("data-value")) == pytest.approx(expected[0, 2, 1, 0], rel=1e-5, abs=1e-6)
    shown = float(re.search(r"=\s+(-?[\d.]+(?:e-?\d+)?)$", result.text).group(1))
    assert shown == pytest.approx(expected[0, 2, 1, 0], abs=1e-4)
    assert "✓ same" in detail.text

    # A pooling map, a ReLU map and the softmax.
    for name, kind in (("pool1", "maxpool"), ("relu1", "relu"), ("avg", "avgpool"), ("bn1", "batchnorm")):
        driver.execute_script("tinygraphExplainer.openDetail(arguments[0], 1)", cols.index(name))
        assert detail.get_attribute("data-kind") == kind
    assert "✗" not in detail.text
    detail.find_element("css selector", "button.close").click()
    assert not detail.is_displayed()
    driver.find_element("css selector", ".column.softmax").click()
    rows = detail.find_elements("css selector", "#softmax-table tr[data-prob]")
    model.eval()
    probs = F.softmax(model(tg.tensor(x[None])), dim=1).detach().numpy()[0]
    np.testing.assert_allclose([float(r.get_attribute("data-prob")) for r in rows], probs, rtol=1e-5)
    assert console_errors(driver) == []


def test_tiny_vgg_page_opens_quickly_and_every_panel_draws(driver, tmp_path):
    path = viz.explainer(tiny_vgg(), image(3, 64, 64, seed=3), save=tmp_path / "vgg.html")
    open_page(driver, path)
    ready_ms = driver.execute_script("return tinygraphExplainer.readyMs")
    print(f"TinyVGG page: {path.stat().st_size / 1e6:.2f} MB, drawn {ready_ms:.0f} ms after navigation")
    assert ready_ms < 2000
    assert blank_panels(driver) == []
    assert requests_made(driver, path.resolve().as_uri()) == []
    # every conv view's number for one pixel equals tinygraph's conv2d output
    driver.execute_script("tinygraphExplainer.openDetail(3, 4)")  # the second conv, output map 4
    assert "✓ same" in driver.find_element("id", "detail").text
    driver.find_element("css selector", "#detail button.close").click()
    toggles = driver.find_elements("id", "gradcam-toggle")
    if toggles:  # tg.explain.grad_cam exists: the overlay appears on the input when ticked
        overlay = driver.find_element("css selector", "#overview .camoverlay")
        assert not overlay.is_displayed()
        toggles[0].click()
        assert overlay.is_displayed()
    assert console_errors(driver) == []


def test_large_layers_show_their_subsampling_and_hover_and_scales_work(driver, tmp_path):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 40, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(40, 2))
    path = viz.explainer(model, image(1, 200, 200), save=tmp_path / "big.html")  # 40 x 198 x 198: over the budget
    open_page(driver, path)
    notes = [n.text for n in driver.find_elements("css selector", '#stage .column[data-column="1"] .note')]
    assert notes == ["showing 32 of 40 maps; drawn at 1/3 resolution; values 8-bit (~)"]
    assert blank_panels(driver) == []

    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("css selector", '#stage canvas.map[data-column="0"][data-map="0"]')
    ActionChains(driver).move_to_element_with_offset(canvas, 0, 0).perform()  # the centre: pixel (100, 100)
    tip = driver.find_element("id", "tip")
    assert tip.is_displayed()
    x = image(1, 200, 200)
    assert re.search(r"\((\d+), (\d+)\) = ([\d.]+)", tip.text), tip.text
    i, j, shown = re.search(r"\((\d+), (\d+)\) = ([\d.]+)", tip.text).groups()
    assert float(shown) == pytest.approx(x[0, int(i), int(j)], abs=1e-4)

    for mode in ("layer", "global", "unit"):
        driver.find_element("id", f"scale-{mode}").click()
        assert blank_panels(driver) == []
    assert "one scale for every layer" not in driver.find_element("id", "legend").text
    driver.find_element("id", "scale-global").click()
    assert "one scale for every layer" in driver.find_element("id", "legend").text
    driver.execute_script("tinygraphExplainer.openDetail(1, 39)")  # a map not drawn in the overview
    assert "output map 39 (not stored in this page" in driver.find_element("id", "detail").text
    driver.execute_script("tinygraphExplainer.openDetail(1, 0)")  # only 8-bit outputs: no claim of equality
    text = driver.find_element("id", "detail").text
    assert "compare by eye" in text and "✗" not in text
    assert console_errors(driver) == []
