"""The front explorer in a real browser: Debian's headless Chromium driven by Playwright.

A real ``epim serve`` on a SQLite file holds two finished cost-only studies (run by the CLI);
the browser may reach only that server, so the pages and ``/docs`` are shown to work offline.
Screenshots go to ``$EPIM_SCREENSHOT_DIR`` (default: the test's temp dir) and are checked for
drawn charts.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import yaml
from PIL import Image
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from epim.nn import load
from epim.space import design_from_dict
from epim.workloads import get_network

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "studies"
STUDY = """
name: {name}
network: {network}
hardware: mnsim
space:
  epitome: {{channel_ratios: [1, 2, 4], spatial: false, pim_aligned: true}}
  weight_bits: [2, 3, 4, 6, 8]
  activation_bits: 8
  frozen: [first, last]
objectives: {objectives}
constraints: [{{metric: crossbar_area_reduction, min: 4}}]
baseline_bits: 16
sampler: {sampler}
budget: {{n_trials: {trials}}}
batch_size: 16
executor: {{kind: local}}
"""
#: The explorer's study: proxy accuracy (20 steps on scikit-learn's digits) against costs.
ACCURACY = ("\naccuracy: {dataset: digits, steps: 20, pretrain_steps: 60, width: 0.25, "
            "batch_size: 32, eval_samples: 300}\n")
THREE = "[{metric: crossbar_area_m2}, {metric: latency_s}, {metric: accuracy}]"
TWO = "[{metric: crossbar_area_m2}, {metric: latency_s}]"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _epim(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "epim.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``epim serve`` with three finished studies of ResNet-20: 1 (NSGA-II, area, latency and
    proxy accuracy), 2 (random, cost only), 3 (hardware co-search, cost only)."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it"
    root = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{root / 'epim.db'}"
    env = {**os.environ, "EPIM_DATABASE_URL": url, "EPIM_HEARTBEAT_S": "0.5"}
    specs = [("explorer", "resnet20", THREE, "{name: nsga2, seed: 0, population_size: 16}",
              16, ACCURACY),
             ("cost-only", "resnet20", TWO, "{name: random, seed: 3}", 300, "")]
    for name, network, objectives, sampler, trials, accuracy in specs:
        spec = root / f"{name}.yaml"
        spec.write_text(STUDY.format(name=name, network=network, objectives=objectives,
                                     sampler=sampler, trials=trials) + accuracy)
        _epim(["study", "run", str(spec)], env)
    cosearch = yaml.safe_load((EXAMPLES / "hardware-cosearch.yaml").read_text())
    cosearch.update(budget={"n_trials": 40}, batch_size=20,  # what the page draws, not the engine
                    sampler={"name": "nsga2", "seed": 0, "population_size": 20})
    (root / "cosearch.yaml").write_text(yaml.safe_dump(cosearch))
    _epim(["study", "run", str(root / "cosearch.yaml")], env)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "epim.cli", "serve", "--port",
                                str(port)], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError("epim serve did not come up")
        shots = Path(os.environ.get("EPIM_SCREENSHOT_DIR") or root / "shots")
        shots.mkdir(parents=True, exist_ok=True)
        yield {"base": base, "url": url, "shots": shots, "root": root, "env": env}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: dict[str, Any]) -> Iterator[Page]:
    """A page that may reach the server only (any other host is refused) and fails on JS
    errors."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000},
                                  accept_downloads=True)
    offsite: list[str] = []
    errors: list[str] = []

    def only_the_server(route: Route) -> None:
        host = urlparse(route.request.url).hostname
        if host == "127.0.0.1" or route.request.url.startswith("data:"):
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not offsite, f"pages asked the internet for {offsite}"
    assert not errors, f"JavaScript errors: {errors}"


def _api(server: dict[str, Any], path: str) -> Any:
    return httpx.get(server["base"] + path, timeout=30).json()


def _chart_pixels(path: Path, box: dict[str, float]) -> tuple[int, int]:
    """(non-white pixels, distinct colours) inside an element's box of a screenshot."""
    image = Image.open(path).convert("RGB")
    crop = image.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]),
                       int(box["y"] + box["height"])))
    pixels = list(crop.getdata())
    return sum(1 for p in pixels if p != (255, 255, 255)), len(set(pixels))


def test_study_page_shows_the_front_with_units_and_the_best_design(
        page: Page, server: dict[str, Any]) -> None:
    study = _api(server, "/studies/1")
    trials = _api(server, "/studies/1/trials?limit=1000")["items"]
    page.goto(f"{server['base']}/ui/studies/1")
    page.wait_for_selector("#layers tbody tr")
    assert page.locator("circle.pt").count() == sum(t["state"] == "complete" for t in trials)
    assert page.locator("circle.pt.front").count() == study["progress"]["front_size"]
    assert page.locator("#front tbody tr").count() == study["progress"]["front_size"]
    assert "mm²" in (page.text_content("#chart .x-label") or "")
    assert "(ms)" in (page.text_content("#chart .y-label") or "")
    assert page.locator("#chart .x-tick").count() >= 3
    assert page.locator("#colour").input_value() == "accuracy"  # the third objective
    assert "proxy accuracy" in page.inner_text("#legend") and "%" in page.inner_text("#legend")
    # the references: the dense baseline and the uniform hand designs
    assert page.locator("#chart .ref.dense").count() == 1
    refs = _api(server, "/studies/1/references")
    assert page.locator("#chart .ref.uniform").count() == len(refs["uniform"])
    # the dense design, far larger than every trial, is pinned with an arrow and its values
    largest = max(t["values"]["crossbar_area_m2"] for t in trials if t["state"] == "complete")
    assert refs["dense"]["metrics"]["crossbar_area_m2"] > 1.5 * largest
    cue = page.text_content("#chart .off-scale-label") or ""
    assert cue.startswith("dense 16-bit off the chart: ") and "mm²" in cue
    assert page.locator("#chart .off-scale path").count() == 1  # the arrowhead
    # the best design (the knee of the front) is selected on load, per layer
    assert "knee" in page.inner_text("#selected-label")
    compute = len(get_network("resnet20").compute_layers)
    assert page.locator("#layers tbody tr").count() == compute
    widths = page.eval_on_selector_all("#layers .bar", "bars => bars.map(b => b.offsetWidth)")
    assert len(widths) == compute and max(widths) >= 100 and min(widths) >= 0
    assert "µJ" in page.inner_text("#layers")  # per-layer energy, SI-prefixed
    shot = server["shots"] / "study.png"
    page.screenshot(path=str(shot), full_page=True)
    box = page.locator("#chart").bounding_box()
    assert box is not None
    drawn, colours = _chart_pixels(shot, box)
    assert drawn > 0.03 * box["width"] * box["height"] and colours > 20
    history = page.locator("#history").bounding_box()
    assert history is not None and page.locator("#history path.series").count() == 1
    assert _chart_pixels(shot, history)[0] > 500


def test_clicking_a_point_shows_its_design_and_downloads(page: Page,
                                                         server: dict[str, Any]) -> None:
    trials = {t["number"]: t for t in _api(server, "/studies/1/trials?limit=1000")["items"]}
    page.goto(f"{server['base']}/ui/studies/1")
    page.wait_for_selector("#layers tbody tr")
    # a point no other point overlaps (a click lands on it, as a person's would)
    alone = page.eval_on_selector_all("circle.pt", """circles => {
        const at = circles.map(c => [+c.getAttribute("cx"), +c.getAttribute("cy")]);
        return circles.filter((c, i) => !c.classList.contains("front") && at.every(
          ([x, y], j) => j === i || Math.hypot(x - at[i][0], y - at[i][1]) > 9))
          .map(c => Number(c.dataset.number));
      }""")
    chosen = next(trials[n] for n in alone if trials[n]["feasible"])
    point = page.locator(f'circle.pt[data-number="{chosen["number"]}"]')
    point.hover()
    assert page.locator("#tip").is_visible() and f"trial {chosen['number']}" in \
        page.inner_text("#tip")
    point.click(force=True)
    expect(page.locator("#selected-label")).to_contain_text(f"trial {chosen['number']}")
    assert page.locator("circle.pt.selected").get_attribute("data-number") == \
        str(chosen["number"])
    with page.expect_download() as download_info:
        page.click("#design-yaml")
    design_path = server["root"] / "chosen.yaml"
    download_info.value.save_as(design_path)
    document = yaml.safe_load(design_path.read_text())
    assert document == chosen["design"]
    design_from_dict(document, get_network("resnet20"))  # a valid design file
    with page.expect_download() as download_info:
        page.click("#model-link")
    model_path = server["root"] / "chosen.pt"
    download_info.value.save_as(model_path)
    model = load(model_path, device="cpu")
    assert sum(p.numel() for n, p in model.named_parameters() if n.endswith("epitome")) == \
        sum(c["epitome_in"] * c["epitome_out"] * c["epitome_h"] * c["epitome_w"]
            for c in document["layers"].values())
    page.screenshot(path=str(server["shots"] / "selected.png"), full_page=True)


def test_front_table_sorts_and_axes_change(page: Page, server: dict[str, Any]) -> None:
    page.goto(f"{server['base']}/ui/studies/1")
    page.wait_for_selector("#front tbody tr")
    header = page.locator("#front th", has_text="latency")
    header.click()
    numbers = [int(n) for n in page.eval_on_selector_all(
        "#front tbody tr", "rows => rows.map(r => r.dataset.number)")]
    front = {t["number"]: t for t in _api(server, "/studies/1/pareto")["trials"]}
    latencies = [front[n]["values"]["latency_s"] for n in numbers]
    assert latencies == sorted(latencies)
    header.click()
    numbers = [int(n) for n in page.eval_on_selector_all(
        "#front tbody tr", "rows => rows.map(r => r.dataset.number)")]
    assert [front[n]["values"]["latency_s"] for n in numbers] == sorted(latencies, reverse=True)
    page.select_option("#y", "accuracy")
    expect(page.locator("#chart .y-label")).to_contain_text("proxy accuracy (%)")
    # one error bar per trial that carries a standard error of its accuracy
    trials = _api(server, "/studies/1/trials?limit=1000")["items"]
    assert page.locator("#chart .error-bar").count() == sum(
        t["state"] == "complete" and "accuracy_se" in t["values"] for t in trials)
    page.select_option("#show", "front")
    assert page.locator("circle.pt").count() == len(front)
    # a metric that is not an objective is an axis too
    page.select_option("#show", "all")
    page.select_option("#x", "energy_j")
    expect(page.locator("#chart .x-label")).to_contain_text(re.compile(r"^energy \((µ|m)J\)"))
    assert page.get_attribute("#pdf-link", "href") == \
        "/studies/1/pareto.pdf?x=energy_j&y=accuracy"
    page.select_option("#colour", "feasibility")
    assert "grey = infeasible" in page.inner_text("#legend")


def test_compare_two_studies(page: Page, server: dict[str, Any]) -> None:
    page.goto(f"{server['base']}/ui/")
    assert page.locator("#studies tbody tr").count() == 3
    page.goto(f"{server['base']}/ui/compare")  # no studies named: a picker, not a 422
    page.select_option("#pick-a", "1")
    page.select_option("#pick-b", "2")
    page.click("#pick button")
    page.wait_for_selector("#summary tbody tr")
    fronts = [_api(server, f"/studies/{i}/pareto?x=crossbar_area_m2&y=latency_s")
              for i in (1, 2)]
    assert page.locator("circle.study-1").count() == len(fronts[0]["trials"])
    assert page.locator("circle.study-2").count() == len(fronts[1]["trials"])
    assert page.locator("#history path.series").count() == 2
    page.screenshot(path=str(server["shots"] / "compare.png"), full_page=True)


def test_live_updates_while_a_study_runs(page: Page, server: dict[str, Any]) -> None:
    spec = yaml.safe_load(STUDY.format(name="live", network="resnet18", objectives=TWO,
                                       sampler="{name: nsga2, seed: 5}", trials=1500))
    created = httpx.post(f"{server['base']}/studies", json=spec, timeout=30).json()
    page.goto(f"{server['base']}/ui/studies/{created['id']}")
    expect(page.locator("#status")).to_contain_text(re.compile("queued|running"))
    first = page.inner_text("#status")
    # the references are known from the spec: drawn before the study has a baseline or trials
    assert page.locator("#chart .ref.uniform").count() == \
        len(_api(server, f"/studies/{created['id']}/references")["uniform"]) > 0
    expect(page.locator("#status")).to_have_text(re.compile("^completed"), timeout=240_000)
    assert page.inner_text("#status") != first
    assert page.locator("circle.pt").count() == 1500  # redrawn without a reload


def test_docs_render_offline(page: Page, server: dict[str, Any]) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{page.url}: {m.text}")
            if m.type == "error" else None)
    page.goto(f"{server['base']}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() >= 10
    assert "EPIM Search" in page.inner_text(".info")
    page.screenshot(path=str(server["shots"] / "docs.png"))
    page.goto(f"{server['base']}/redoc")
    page.wait_for_selector("h1", timeout=30_000)
    assert "EPIM Search" in page.inner_text("h1")
    assert page.locator("text=Submit a study").count() >= 1
    page.wait_for_selector("text=API docs by Redocly")  # where its CDN logo was refused
    page.wait_for_timeout(300)
    assert not console, console


def test_hardware_cosearch_colours_points_by_a_gene(page: Page,
                                                    server: dict[str, Any]) -> None:
    trials = _api(server, "/studies/3/trials?limit=1000")["items"]
    page.goto(f"{server['base']}/ui/studies/3")
    page.wait_for_selector("#hardware tr")
    assert page.locator("#colour").input_value() == "hw/xbar_size"
    genes = page.eval_on_selector_all(
        "circle.pt", "cs => cs.map(c => [Number(c.dataset.number), c.dataset.gene])")
    by_number = {t["number"]: t for t in trials}
    assert genes and all(str(by_number[n]["design"]["hardware"]["xbar_size"]) == g
                         for n, g in genes)
    values = sorted({g for _, g in genes})
    legend = page.inner_text("#legend")
    assert all(f"xbar_size = {v}" in legend for v in values) and "grey = infeasible" in legend
    fills: dict[str, set[str]] = {g: set() for g in values}
    for n, g in genes:
        if by_number[n]["feasible"]:
            fills[g].add(page.get_attribute(f'circle.pt[data-number="{n}"]', "fill") or "")
    assert all(len(f) == 1 for f in fills.values() if f)  # one colour per value
    assert len(set().union(*fills.values())) == sum(1 for f in fills.values() if f)
    # the selected design's hardware and weight copies
    number = int(page.inner_text("#selected-label").split()[1])
    hardware = by_number[number]["design"]["hardware"]
    rows = page.eval_on_selector_all(
        "#hardware tr", "rs => rs.map(r => [r.cells[0].innerText, r.cells[1].innerText])")
    assert dict(rows) == {k: str(v) for k, v in hardware.items()}
    copies = page.eval_on_selector_all("#layers tbody tr",
                                       "rs => rs.map(r => r.cells[8].innerText)")
    layers = by_number[number]["design"]["layers"]
    assert copies == [str(layers[name].get("replication", 1)) for name in layers]

