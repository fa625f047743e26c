#!/usr/bin/python3
"""The officer console in a real browser: headless Chromium driven over
WebDriver (Debian's chromium, chromium-driver and python3-selenium), against
a live lane agent whose truck is held. Written from issue 19's test, not
from the console's code: what a person at the booth does and sees.

  console_browser.py URL OFFICER PASSWORD PLATE SHOTS_DIR

1. Opens the console, measures the time to first render (first contentful
   paint) and the page weight (every byte the browser fetched for the login
   view), takes `login.png`.
2. Logs in; waits for the idle lane, prints `READY` (the test then puts the
   truck on the arrival loop) and notes when the screen first shows it;
   waits for the held truck (state `hold`, a hold banner with its reasons,
   the plate camera's photo loaded); takes `held.png`.
3. Types the right plate and a reason into the manual entry, sends it;
   waits for the lane's new decision (`release`); takes `released.png`.
4. Waits for the truck to pass (the test drives it): the recent passages
   list shows it with its photo; takes `passed.png`.

Prints `READY` then one JSON object on stdout: what it saw and measured. Exits 1 with
the reason on stderr when a step cannot be done (a screenshot of that
moment is left as `failed.png`).
"""

import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

WAIT_S = 20


def main():
    url, officer, password, plate, shots = sys.argv[1:6]
    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1280,1100",
              "--lang=zh-CN", "--force-device-scale-factor=1"):
        opts.add_argument(a)
    opts.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    out = {}
    try:
        run(driver, url, officer, password, plate, shots, out)
    except Exception as e:  # the reason, and a picture of that moment
        try:
            driver.save_screenshot(f"{shots}/failed.png")
        except Exception:
            pass
        print(f"console_browser: {type(e).__name__}: {e}", file=sys.stderr)
        print(json.dumps(out, ensure_ascii=False), flush=True)
        driver.quit()
        sys.exit(1)
    driver.quit()
    print(json.dumps(out, ensure_ascii=False))


def visible(driver, css):
    return WebDriverWait(driver, WAIT_S).until(
        EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def text_in(driver, css, wanted):
    WebDriverWait(driver, WAIT_S).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), wanted))
    return driver.find_element(By.CSS_SELECTOR, css).text


def run(driver, url, officer, password, plate, shots, out):
    driver.get(url)
    visible(driver, "#login-form")
    # First render and weight of what the browser loaded for this view.
    paint = driver.execute_script(
        "const p = performance.getEntriesByName('first-contentful-paint')[0];"
        "return p ? p.startTime : null;")
    weight = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "const r = performance.getEntriesByType('resource');"
        "return {document: n.encodedBodySize, transferred: n.transferSize"
        " + r.reduce((a, e) => a + e.transferSize, 0),"
        " decoded: n.decodedBodySize + r.reduce((a, e) => a + e.decodedBodySize, 0),"
        " requests: 1 + r.length};")
    out["first_contentful_paint_ms"] = paint
    out["page_weight"] = weight
    driver.save_screenshot(f"{shots}/login.png")

    driver.find_element(By.ID, "officer").send_keys(officer)
    driver.find_element(By.ID, "password").send_keys(password)
    t0 = time.monotonic()
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    visible(driver, "#console")
    out["who"] = driver.find_element(By.ID, "who").text
    text_in(driver, "#state", "idle")
    out["login_to_live_ms"] = round((time.monotonic() - t0) * 1000)

    # Ready for the truck: note when the lane state on screen first leaves
    # `idle` (wall clock, to compare with the moment the test puts the
    # truck on the arrival loop), then tell the test.
    driver.execute_script(
        "window.__firstChange = null;"
        "new MutationObserver(() => {"
        "  if (window.__firstChange === null && document.getElementById('state').textContent !== 'idle')"
        "    window.__firstChange = Date.now();"
        "}).observe(document.getElementById('state'), {childList: true, characterData: true, subtree: true});")
    print("READY", flush=True)

    # The held truck: state, the banner with the reasons, the photo.
    text_in(driver, "#state", "hold")
    out["first_change_unix_ms"] = driver.execute_script("return window.__firstChange;")
    out["hold_banner"] = visible(driver, "#hold").text
    out["passage"] = driver.find_element(By.ID, "passage").text
    WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#photos img')]"
        ".some(i => i.complete && i.naturalWidth > 0);"))
    out["photos"] = driver.execute_script(
        "return [...document.querySelectorAll('#photos img')]"
        ".map(i => ({camera: i.alt, width: i.naturalWidth, height: i.naturalHeight}));")
    driver.save_screenshot(f"{shots}/held.png")

    # The officer types the plate read by eye, with a reason, and sends it.
    driver.find_element(By.ID, "reason").send_keys("车牌污损，人工核对 plate dirty, checked by eye")
    driver.find_element(By.ID, "e-plate").send_keys(plate)
    t1 = time.monotonic()
    driver.find_element(By.CSS_SELECTOR, "#act button[data-kind=entry]").click()
    out["action_answer"] = text_in(driver, "#msg", "✓")
    text_in(driver, "#state", "release")
    out["entry_to_release_ms"] = round((time.monotonic() - t1) * 1000)
    out["passage_after"] = driver.find_element(By.ID, "passage").text
    driver.save_screenshot(f"{shots}/released.png")

    # The truck passes (driven by the test): the recent passages list
    # shows it, with its photo.
    WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#recent img')]"
        ".some(i => i.complete && i.naturalWidth > 0);"))
    text_in(driver, "#state", "idle")
    out["recent"] = driver.find_element(By.ID, "recent").text
    driver.save_screenshot(f"{shots}/passed.png")


if __name__ == "__main__":
    main()
