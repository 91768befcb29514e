"""The caregiver dashboard in real headless Chromium, fed by a real device over real mosquitto."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from affectedge.dashboard.server import make_server, page_config
from publish_fixtures import DEVICE, PREFIX, Observer, fused_windows, pki, secure_broker  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are not installed: run tools/setup/install_system_deps.sh as root")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,800", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


@pytest.fixture
def dashboard(secure_broker):
    config = page_config(f"ws://127.0.0.1:{secure_broker.ws_port}", PREFIX, "dashboard",
                         secure_broker.password_file("dashboard"))
    server = make_server("127.0.0.1", 0, config)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_dashboard_shows_zone_trend_confidence_sensors_and_offline(secure_broker, dashboard, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.get(dashboard)
    wait.until(lambda d: "connected" in d.find_element(By.ID, "connection").text)

    obs = Observer(secure_broker)
    cfg = secure_broker.publish_config(tmp_path)
    (tmp_path / "device.json").write_text(json.dumps(cfg))
    n = 5 * 95  # 95 s of windows -> 19 summaries at 5 s, sweeping through the zones
    device = subprocess.Popen([sys.executable, str(Path(__file__).with_name("device_process.py")),
                               str(tmp_path / "device.json"), str(n)], stdout=subprocess.PIPE, text=True)
    try:
        assert device.stdout.readline().strip() == "drained"
        last = json.loads(obs.on(f"{PREFIX}/{DEVICE}/summary")[-1])
        card = f"#device-{DEVICE}"
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"{card} .status").text == "online")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, card).get_attribute("data-points") == "19")
        zone = browser.find_element(By.CSS_SELECTOR, f"{card} .zone")
        assert zone.get_attribute("data-zone") == last["zone"]
        colour = zone.value_of_css_property("background-color")
        expected = {"blue": "rgba(47, 111, 223, 1)", "green": "rgba(46, 158, 79, 1)",
                    "yellow": "rgba(230, 194, 41, 1)", "red": "rgba(216, 58, 52, 1)"}[last["zone"]]
        assert colour == expected
        assert browser.find_element(By.CSS_SELECTOR, f"{card} .confidence").text == f"confidence {last['confidence']:.2f}"
        live = {c.get_attribute("data-modality"): "live" in c.get_attribute("class")
                for c in browser.find_elements(By.CSS_SELECTOR, f"{card} .sensor")}
        assert live == {"face": False, "voice": False, "physiology": True}
        # the chart drew the two series: some pixels of each colour on the canvas
        drawn = browser.execute_script("""
            const c = document.querySelector(arguments[0] + ' canvas.trend');
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let v = 0, a = 0;
            for (let i = 0; i < px.length; i += 4) {
              if (px[i] === 0x7b && px[i+1] === 0x3f && px[i+2] === 0xbf) v++;
              if (px[i] === 0xe0 && px[i+1] === 0x7b && px[i+2] === 0x00) a++;
            }
            return [v, a];""", card)
        assert drawn[0] > 100 and drawn[1] > 100, drawn
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    finally:
        device.kill()  # no DISCONNECT: the broker publishes the last will
        device.wait()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"#device-{DEVICE} .status").text == "offline")
    assert "offline" in browser.find_element(By.CSS_SELECTOR, f"#device-{DEVICE}").get_attribute("class")
    assert obs.on(f"{PREFIX}/{DEVICE}/status")[-1] == b"offline"
    browser.save_screenshot(str(ARTIFACTS / "dashboard-offline.png"))
    obs.close()


def _demo_with_dashboard(demo_session, out: Path, *pace: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "affectedge", "demo", "--dashboard", *pace, "--out", str(out),
                             "--session", str(demo_session.root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _dashboard_address(proc: subprocess.Popen) -> tuple[str, str]:
    """The page's URL and its feed, from the line the demo prints."""
    import re

    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
        m = re.search(r"dashboard at (http://127\.0\.0\.1:\d+/) \(feed (ws://127\.0\.0\.1:\d+)\)", line)
        if m:
            return m.group(1), m.group(2)


def test_demo_dashboard_shows_the_replay_with_scale_words_and_no_missing_files(browser, demo_session, tmp_path):
    """`affectedge demo --dashboard`: the embedded broker gets a WebSocket listener, the page's URL is
    printed, and the page shows the replay with a value scale, a span that fits the data, the events
    in words (a recording that ended is not a lost sensor) and an emotion line that says why it is
    empty; no request of the page fails (the favicon once did)."""
    import re
    import urllib.request

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    proc = _demo_with_dashboard(demo_session, tmp_path / "demo", "--pace", "fast", "--linger", "25")
    try:
        url, feed = _dashboard_address(proc)
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: d.find_element(By.ID, "connection").text == f"connected to {feed}")
        card = "#device-affectedge-demo"
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, card))
        wait.until(lambda d: "recording ended" in d.find_element(By.CSS_SELECTOR, f"{card} .events").text)
        events = browser.find_element(By.CSS_SELECTOR, f"{card} .events").text
        assert " lost" not in events, events
        # Read the span and its words together: a summary arriving between two reads moves both.
        span, words = browser.execute_script(
            "const c = document.querySelector(arguments[0]);"
            "return [c.dataset.span, c.querySelector('.legend .span').textContent];", card)
        span = float(span)
        assert 30 <= span < 300  # the session fills the chart instead of its right third
        assert words == f"last {round(span)} s"
        assert browser.find_element(By.CSS_SELECTOR, f"{card} .top").text.startswith("emotion: ")
        # The value scale: grey tick labels drawn at the left edge of the chart.
        grey = browser.execute_script("""
            const c = document.querySelector(arguments[0] + ' canvas.trend');
            const px = c.getContext('2d').getImageData(0, 0, 30, c.height).data;
            let n = 0;
            for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 200 && px[i] < 140) n++;
            return n;""", card)
        assert grey > 50, grey
        # The crying span at the end of the session: the card says what was heard (issue 26).
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"{card} .heard").get_attribute("data-heard") == "distress")
        heard = browser.find_element(By.CSS_SELECTOR, f"{card} .heard").text
        assert re.fullmatch(r"heard crying or screaming \(\d+\.\d s, score 0\.\d\d\)", heard), heard
        with urllib.request.urlopen(url + "favicon.svg") as r:
            assert r.status == 200 and b"<svg" in r.read()
        failed = [e for e in browser.get_log("browser") if "Failed to load resource" in e.get("message", "")]
        assert failed == [], failed
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "dashboard-demo.png"))
    finally:
        proc.kill()
        proc.wait()


def test_the_page_says_which_broker_it_tries_and_why_it_fails(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = make_server("127.0.0.1", 0, page_config("ws://127.0.0.1:1", PREFIX, None, None))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        WebDriverWait(browser, 20).until(lambda d: "retrying" in d.find_element(By.ID, "connection").text)
        text = browser.find_element(By.ID, "connection").text
        assert "ws://127.0.0.1:1" in text and "WebSocket listener" in text, text
    finally:
        server.shutdown()
        server.server_close()


def test_site_overview_with_fifty_devices_puts_offline_and_heightened_first(browser, demo_session, tmp_path):
    """50 devices publish real summaries (the privacy gate's payloads, from the demo session's
    physiology) to a real mosquitto; one vanishes without a goodbye (the broker sends its last
    will). The page's site overview has a tile per device, offline first, then the yellow zone,
    and shows one device's card at a time."""
    import paho.mqtt.client as mqtt
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from affectedge.publish.local_broker import MosquittoBroker
    from affectedge.publish.privacy import gate_status, summary_payload
    from affectedge_tools.bench.bench_fleet import real_summaries

    summaries = real_summaries(60)
    yellow = [i for i, s in enumerate(summaries) if s.zone == "yellow"]
    green = [i for i, s in enumerate(summaries) if s.zone == "green"]
    assert yellow and green, "the demo's physiology has both zones"
    broker = MosquittoBroker(tmp_path / "broker", websockets=True).start()
    server = make_server("127.0.0.1", 0, page_config(f"ws://127.0.0.1:{broker.ws_port}", "affectedge", None, None))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    clients = []
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: d.find_element(By.ID, "connection").text.startswith("connected"))
        for i in range(50):
            dev = f"room-{i:02d}"
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=dev)
            c.will_set(f"affectedge/{dev}/status", gate_status("offline").text, qos=1, retain=True)
            c.connect("127.0.0.1", broker.port, keepalive=5)
            c.loop_start()
            c.publish(f"affectedge/{dev}/status", gate_status("online").text, qos=1, retain=True)
            s = summaries[yellow[0] if i % 10 == 3 else green[i % len(green)]]
            c.publish(f"affectedge/{dev}/summary", summary_payload(s, device=dev, seq=1, subject=None).text, qos=1).wait_for_publish(5)
            clients.append(c)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tiles .tile[data-zone]:not([data-zone='none'])")) == 50)
        clients[7]._sock.close()  # room-07 vanishes: no DISCONNECT, so the broker publishes its last will
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".tile[data-device='room-07']").get_attribute("data-status") == "offline")
        order = browser.find_element(By.ID, "tiles").get_attribute("data-order").split(",")
        assert len(order) == 50 and order[0] == "room-07"
        heightened = [f"room-{i:02d}" for i in range(50) if i % 10 == 3]
        assert sorted(order[1:1 + len(heightened)]) == heightened  # the yellow ones next
        assert browser.find_element(By.ID, "fleet-count").text == "50 devices"
        visible = [e for e in browser.find_elements(By.CSS_SELECTOR, "section.device") if e.is_displayed()]
        assert visible == []  # with many devices, a card shows when its tile is chosen
        browser.find_element(By.CSS_SELECTOR, ".tile[data-device='room-13']").click()
        wait.until(lambda d: d.find_element(By.ID, "device-room-13").is_displayed())
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "dashboard-site.png"))
    finally:
        for c in clients:
            c.loop_stop()
        server.shutdown()
        server.server_close()
        broker.stop()


def test_a_label_pressed_on_the_demos_caregiver_page_lands_in_the_session_log(browser, demo_session, tmp_path):
    """Issue 24: the caregiver page's label buttons (real Chromium) publish to the device's label
    topic; the device stores the label with its session time in the session log and acknowledges
    it, and the page says so. The demo replays at the recording's pace so the press falls inside
    the running session."""
    import signal

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from affectedge.review.log_reader import read_log

    out = tmp_path / "demo"
    proc = _demo_with_dashboard(demo_session, out, "--pace", "realtime")
    try:
        url, _ = _dashboard_address(proc)
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        card = "#device-affectedge-demo"
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"{card} .label-button[data-label='yellow']"))
        browser.find_element(By.CSS_SELECTOR, f"{card} .label-button[data-label='yellow']").click()
        status = f"{card} .label-status"
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, status).get_attribute("data-status") == "stored")
        assert browser.find_element(By.CSS_SELECTOR, status).text == "label stored (1 this session)"
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "dashboard-label.png"))
        time.sleep(1.0)  # the label rides in the next window's transaction (one per 200 ms)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    labels = read_log(out / "session.sqlite").labels
    assert len(labels) == 1, labels
    (label,) = labels
    assert label["label"] == "yellow" and label["origin"] == "live"
    assert 0 <= label["start"] < label["end"] <= demo_session.duration_s and label["end"] - label["start"] <= 10.0
