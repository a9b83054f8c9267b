#!/usr/bin/env python3
"""The web page end to end, in Debian's Chromium driven by Playwright.

Run by `scoremate/tests/web_page.rs` against a real `scoremate serve` (embedded SQLite and
S3, real PDF processing); the Rust test seeds the 1,000-score library and reads the report.
Every page is scanned with axe-core (vendored) and must show no serious or critical
violation; the browser console must show no Content-Security-Policy violation. Figures
(first-load bytes, time to the first thumbnail grid, long tasks while scrolling 1,000
scores) are reported, never asserted as times.
"""

import argparse
import json
import re
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

HERE = Path(__file__).resolve().parent
AXE = HERE / "vendor" / "axe-4.14.1.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a long enough password"
# Processing (info and thumbnail, in the debug build under test) may take a while.
PROCESSING_TIMEOUT_MS = 120_000


class Failure(AssertionError):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Run:
    """One browser, the pages' console, and the report."""

    def __init__(self, args, browser):
        self.args = args
        self.base = args.base.rstrip("/")
        self.browser = browser
        self.report = {"axe": {}, "screenshots": []}
        self.console_problems = []
        self.screenshots = Path(args.screenshots) if args.screenshots else None

    def new_page(self, width=1280, height=900):
        context = self.browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.on("console", lambda message: self._console(message))
        page.on("pageerror", lambda error: self.console_problems.append(f"page error: {error}"))
        return page

    def _console(self, message):
        text = message.text
        if message.type == "error" and (
            "Content Security Policy" in text or "Refused to" in text
        ):
            self.console_problems.append(f"CSP: {text}")

    def axe(self, page: Page, name):
        """Scans the page as it is now; serious and critical violations fail the run."""
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            # Evaluated through the DevTools protocol: the page's CSP does not apply to it,
            # and the page itself never loads the script.
            page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
        results = page.evaluate(
            """async () => {
                const results = await axe.run(document, {resultTypes: ['violations']});
                return results.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
                }));
            }"""
        )
        serious = [v for v in results if v["impact"] in ("serious", "critical")]
        self.report["axe"][name] = {
            "violations": len(results),
            "serious": len(serious),
            "ids": sorted({v["id"] for v in results}),
        }
        check(not serious, f"axe found serious violations on {name}: {json.dumps(serious, indent=1)}")

    def shoot(self, page: Page, name):
        if self.screenshots is None:
            return
        self.screenshots.mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        path = self.screenshots / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=False)
        self.report["screenshots"].append(path.name)

    def api(self, method, path, token=None, body=None, headers=None):
        """The public API straight from the test (another device of the same user)."""
        request = urllib.request.Request(
            f"{self.base}/api/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"content-type": "application/json", **(headers or {})},
        )
        if token:
            request.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, dict(response.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, dict(error.headers), json.loads(raw) if raw else None

    def login_api(self, email):
        status, _, body = self.api("POST", "/auth/login", body={"email": email, "password": PASSWORD})
        check(status == 200, f"login of {email} answered {status}")
        return body["access"]


def items_of(page: Page, list_name):
    return page.get_by_role("list", name=list_name).get_by_role("listitem")


def wait_for_thumbnails(page: Page, count):
    """Until `count` grid images are loaded (the processors made the thumbnails)."""
    page.wait_for_function(
        """count => {
            const images = [...document.querySelectorAll('ul[aria-label="Scores"] img')];
            return images.filter(i => i.complete && i.naturalWidth > 0).length >= count;
        }""",
        arg=count,
        timeout=PROCESSING_TIMEOUT_MS,
    )


def first_load(run: Run):
    """The page's first load, cold: what it transfers, and the log-in page it shows."""
    page = run.new_page()
    page.goto(run.base + "/")
    expect(page.get_by_role("heading", name="Log in", level=1)).to_be_visible()
    page.wait_for_load_state("networkidle")
    transferred, decoded, files = page.evaluate(
        """() => {
            const entries = [...performance.getEntriesByType('navigation'),
                             ...performance.getEntriesByType('resource')];
            const sum = field => entries.reduce((total, e) => total + (e[field] || 0), 0);
            return [sum('transferSize'), sum('decodedBodySize'), entries.length];
        }"""
    )
    run.report["first_load"] = {"bytes": transferred, "decoded_bytes": decoded, "requests": files}
    check(transferred < 200_000, f"the first load transferred {transferred} bytes")
    headers = page.request.get(run.base + "/").headers
    policy = headers.get("content-security-policy", "")
    check("script-src 'self'" in policy and "unsafe-inline" not in policy, f"CSP: {policy!r}")
    check(headers.get("x-content-type-options") == "nosniff", "nosniff missing")
    check("frame-ancestors 'none'" in policy, "frame-ancestors missing")
    run.axe(page, "login")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create account", level=1)).to_be_visible()
    run.axe(page, "register")
    page.context.close()


def register(page: Page, run: Run, email):
    page.goto(run.base + "/#/register")
    expect(page.get_by_role("heading", name="Create account", level=1)).to_be_visible()
    email_input = page.get_by_label("Email")
    check(email_input.get_attribute("type") == "email", "the email input is not type=email")
    password_input = page.get_by_label("Password", exact=True)
    check(password_input.get_attribute("type") == "password", "the password input is not type=password")
    email_input.fill(email)
    password_input.fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Library", level=1)).to_be_visible()


def upload_two(page: Page, run: Run, pdfs):
    run.axe(page, "library (empty)")
    page.get_by_label("Choose PDF files").set_input_files(pdfs)
    uploads = items_of(page, "Uploads")
    expect(uploads).to_have_count(2)
    for pdf in pdfs:
        progress = page.get_by_role("progressbar", name=f"Upload progress for {Path(pdf).name}")
        expect(progress).to_be_visible()
        expect(progress).to_have_js_property("value", 100, timeout=30_000)
    # Prefilled from "Composer - Title.pdf".
    first = Path(pdfs[0]).name
    expect(page.get_by_label(f"Composer for {first}")).to_have_value("J. S. Bach")
    expect(page.get_by_label(f"Title for {first}")).to_have_value("Cello Suite No 1")
    add = page.get_by_role("button", name="Add to library")
    expect(add).to_be_enabled()
    add.click()
    expect(items_of(page, "Scores")).to_have_count(2)
    wait_for_thumbnails(page, 2)


def search(page: Page):
    page.get_by_label("Search").fill("clair")
    expect(items_of(page, "Scores")).to_have_count(1)
    expect(items_of(page, "Scores").first).to_contain_text("Clair de lune")
    page.get_by_label("Search").fill("")
    expect(items_of(page, "Scores")).to_have_count(2)


def edit_composer(page: Page, run: Run, email):
    page.get_by_role("link", name=re.compile("Clair de lune")).click()
    expect(page.get_by_role("heading", name="Clair de lune", level=1)).to_be_visible()
    thumbnail = page.get_by_role("img", name="First page of Clair de lune")
    expect(thumbnail).to_be_visible(timeout=PROCESSING_TIMEOUT_MS)
    page.wait_for_function(
        "() => [...document.images].some(i => i.alt.startsWith('First page') && i.naturalWidth > 0)"
    )
    run.axe(page, "score")
    run.shoot(page, "score")
    page.get_by_label("Composer", exact=True).fill("Claude Debussy")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    page.reload()
    expect(page.get_by_label("Composer", exact=True)).to_have_value("Claude Debussy")

    # Another device changes the score: the page must not overwrite that change.
    score_id = page.url.rsplit("/", 1)[-1]
    token = run.login_api(email)
    status, _, _ = run.api("PATCH", f"/scores/{score_id}", token, {"genre": "Impressionism"})
    check(status == 200, f"the other device's edit answered {status}")
    page.get_by_label("Title", exact=True).fill("Clair de lune (my edit)")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("changed elsewhere")
    expect(page.get_by_label("Title", exact=True)).to_have_value("Clair de lune (my edit)")
    _, _, current = run.api("GET", f"/scores/{score_id}", token)
    check(current["title"] == "Clair de lune", f"the conflicting save went through: {current['title']}")
    page.get_by_role("button", name="Load latest version").click()
    expect(page.get_by_label("Genre")).to_have_value("Impressionism")
    expect(page.get_by_label("Title", exact=True)).to_have_value("Clair de lune")
    return score_id


def item_titles(page: Page):
    return [
        text.strip()
        for text in page.get_by_role("list", name="Items").locator(":scope > li").evaluate_all(
            "items => items.map(i => i.dataset.title || i.getAttribute('aria-label') || i.textContent)"
        )
    ]


def expect_order(page: Page, titles):
    deadline = time.monotonic() + 10
    while True:
        seen = item_titles(page)
        if all(title in entry for title, entry in zip(titles, seen, strict=False)) and len(seen) == len(titles):
            return
        if time.monotonic() > deadline:
            raise Failure(f"items in order {seen}, expected {titles}")
        time.sleep(0.1)


def setlist(page: Page, run: Run):
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Setlists").click()
    expect(page.get_by_role("heading", name="Setlists", level=1)).to_be_visible()
    page.get_by_label("Name").fill("Friday gig")
    page.get_by_role("button", name="Create setlist").click()
    expect(page.get_by_role("heading", name="Friday gig", level=1)).to_be_visible()
    for title in ("Cello Suite No 1", "Clair de lune"):
        page.get_by_label("Score", exact=True).select_option(label=title)
        page.get_by_role("button", name="Add to setlist").click()
    expect(items_of(page, "Items")).to_have_count(2)
    expect_order(page, ["Cello Suite No 1", "Clair de lune"])
    run.axe(page, "setlist")
    run.shoot(page, "setlist")

    # By drag and drop: the second item dropped on the first.
    items = page.get_by_role("list", name="Items").locator(":scope > li")
    with page.expect_response(lambda r: r.url.endswith("/items/order") and r.ok):
        items.nth(1).drag_to(items.nth(0))
    expect_order(page, ["Clair de lune", "Cello Suite No 1"])
    page.reload()
    expect(page.get_by_role("heading", name="Friday gig", level=1)).to_be_visible()
    expect_order(page, ["Clair de lune", "Cello Suite No 1"])

    # By keyboard: the second item moved up with Alt+ArrowUp; focus stays on it.
    items = page.get_by_role("list", name="Items").locator(":scope > li")
    items.nth(1).focus()
    with page.expect_response(lambda r: r.url.endswith("/items/order") and r.ok):
        page.keyboard.press("Alt+ArrowUp")
    expect_order(page, ["Cello Suite No 1", "Clair de lune"])
    check(
        "Cello Suite No 1" in page.evaluate("() => document.activeElement.textContent"),
        "focus left the moved item",
    )
    page.reload()
    expect(page.get_by_role("heading", name="Friday gig", level=1)).to_be_visible()
    expect_order(page, ["Cello Suite No 1", "Clair de lune"])

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Setlists").click()
    expect(page.get_by_role("list", name="Setlists")).to_contain_text("Friday gig")
    run.axe(page, "setlists")


def log_out(page: Page, run: Run):
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in", level=1)).to_be_visible()
    check(
        page.evaluate("() => Object.keys(sessionStorage).length") == 0,
        "a token stayed in sessionStorage after logging out",
    )
    page.goto(run.base + "/#/library")
    expect(page.get_by_role("heading", name="Log in", level=1)).to_be_visible()


def second_user(run: Run, first_score_id, stamp):
    """Another musician sees nothing of the first, and an upload over quota is refused."""
    page = run.new_page()
    register(page, run, f"second-{stamp}@example.com")
    expect(page.get_by_text("No scores yet")).to_be_visible()
    expect(items_of(page, "Scores")).to_have_count(0)
    page.goto(run.base + f"/#/scores/{first_score_id}")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_text("Clair de lune")).to_have_count(0)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Setlists").click()
    expect(page.get_by_role("heading", name="Setlists", level=1)).to_be_visible()
    expect(page.get_by_text("Friday gig")).to_have_count(0)

    # Dropped on the drop zone, bigger than the whole quota: refused before any byte moves.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    expect(page.get_by_role("heading", name="Library", level=1)).to_be_visible()
    size = run.args.quota_bytes + 1_000_000
    page.evaluate(
        """size => {
            const transfer = new DataTransfer();
            const bytes = new Uint8Array(size);
            bytes.set(new TextEncoder().encode('%PDF-1.7\\n'));
            transfer.items.add(new File([bytes], 'Huge score.pdf', {type: 'application/pdf'}));
            const zone = document.querySelector('[data-dropzone]')
                || document.querySelector('input[type=file]').closest('section');
            for (const type of ['dragenter', 'dragover', 'drop']) {
                zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
            }
        }""",
        size,
    )
    alert = items_of(page, "Uploads").get_by_role("alert")
    expect(alert).to_contain_text(re.compile("quota", re.IGNORECASE))
    run.report["quota_message"] = alert.inner_text()
    page.context.close()


FIRST_SCREEN = 8


def bare_first_screen_ms(run: Run):
    """The baseline of the same run: what the first screen costs without the app, in a
    fresh browser context (cold caches, like the app's): one fetch of the first page of
    the list with its thumbnail links, then the first screen's images, loaded at once."""
    token = run.login_api(run.args.big_email)
    page = run.new_page()
    page.goto(run.base + "/app/favicon.svg")
    return page.evaluate(
        """async ([token, count]) => {
            const started = performance.now();
            const answer = await fetch('/api/v1/scores?page_size=50&cursor=&thumbnail_urls=true',
                {headers: {authorization: 'Bearer ' + token}});
            const list = await answer.json();
            await Promise.all(list.results.slice(0, count).map(score => new Promise((done, fail) => {
                const image = new Image();
                image.onload = done;
                image.onerror = fail;
                image.src = score.thumbnail.url;
            })));
            return performance.now() - started;
        }""",
        [token, FIRST_SCREEN],
    )


COLD_OPENS = 5


def open_library_cold(run: Run):
    """A tab reopened with its session (the refresh token the page keeps in
    sessionStorage) on the library: cold caches, one refresh, the app's own files, the
    list, the first screen of thumbnails. The page, and the browser's time from the
    navigation's start to the first animation frame that found the screen full."""
    status, _, tokens = run.api(
        "POST", "/auth/login", body={"email": run.args.big_email, "password": PASSWORD}
    )
    check(status == 200, f"login answered {status}")
    page = run.new_page()
    page.goto(run.base + "/app/favicon.svg")
    page.evaluate("token => sessionStorage.setItem('scoremate.refresh', token)", tokens["refresh"])
    page.goto(run.base + "/#/library")
    expect(page.get_by_role("heading", name="Library", level=1)).to_be_visible()
    first_grid_ms = page.wait_for_function(
        """count => {
            const images = [...document.querySelectorAll('ul[aria-label="Scores"] img')];
            const visible = images.filter(i => i.getBoundingClientRect().top < innerHeight);
            const full = visible.length >= count && visible.every(i => i.complete && i.naturalWidth > 0);
            return full && performance.now();
        }""",
        arg=FIRST_SCREEN,
        timeout=60_000,
        polling="raf",
    ).json_value()
    return page, first_grid_ms


def big_library(run: Run):
    """1,000 scores: the time to the first grid of thumbnails (against the bare baseline,
    taken in turns), then scrolling to the end."""
    app_ms, bare_ms = [], []
    for _ in range(COLD_OPENS):
        bare_ms.append(bare_first_screen_ms(run))
        page, first_grid_ms = open_library_cold(run)
        app_ms.append(first_grid_ms)
        page.context.close()
    page, first_grid_ms = open_library_cold(run)
    app_ms.append(first_grid_ms)
    # Where the last cold open's time went: each request's path, start and end (ms from
    # the navigation's start), the thumbnails as one span.
    requests = page.evaluate(
        """() => [...performance.getEntriesByType('navigation'),
                  ...performance.getEntriesByType('resource')]
            .map(e => [e.initiatorType === 'img' ? 'img' : new URL(e.name).pathname,
                       Math.round(e.startTime), Math.round(e.responseEnd)])"""
    )
    thumbnails = [r for r in requests if r[0] == "img" and r[1] > 0]
    requests = [r for r in requests if r[0] != "img"]
    if thumbnails:
        requests.append(["thumbnails", min(r[1] for r in thumbnails), max(r[2] for r in thumbnails)])
    page.evaluate(
        """() => {
            window.__longTasks = [];
            new PerformanceObserver(list => window.__longTasks.push(
                ...list.getEntries().map(e => e.duration))).observe({type: 'longtask'});
        }"""
    )
    started = time.monotonic()
    grid = items_of(page, "Scores")
    deadline = time.monotonic() + 180
    while grid.count() < 1000:
        check(time.monotonic() < deadline, f"only {grid.count()} of 1,000 scores after scrolling")
        page.mouse.wheel(0, 4000)
        page.wait_for_timeout(50)
    scroll_all_ms = (time.monotonic() - started) * 1000
    long_tasks = page.evaluate("() => window.__longTasks")
    app_ms.sort()
    bare_ms.sort()
    run.report["library_1000"] = {
        "first_grid_ms": [round(ms) for ms in app_ms],
        "bare_first_screen_ms": [round(ms) for ms in bare_ms],
        "first_grid_p50_vs_bare_p50": round(
            statistics.median(app_ms) / statistics.median(bare_ms), 2
        ),
        "scroll_to_1000_ms": round(scroll_all_ms),
        "long_tasks": len(long_tasks),
        "longest_task_ms": round(max(long_tasks, default=0)),
        "last_open_requests": requests,
    }
    run.axe(page, "library (1,000 scores)")
    page.context.close()


def layouts(run: Run, email, score_id, setlist_url):
    """The library, score and setlist pages at 1280 px, 768 px and 640 px (200% zoom of
    1280): nothing wider than the window."""
    for width in (1280, 768, 640):
        page = run.new_page(width=width, height=1000)
        page.goto(run.base + "/#/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Library", level=1)).to_be_visible()
        wait_for_thumbnails(page, 2)
        views = [
            ("library", "/#/library", "Library"),
            ("score", f"/#/scores/{score_id}", "Clair de lune"),
            ("setlist", setlist_url, "Friday gig"),
        ]
        for name, path, heading in views:
            page.goto(run.base + path)
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            check(overflow <= 0, f"{name} at {width} px is {overflow} px wider than the window")
            if width != 640:
                run.shoot(page, name)
        page.context.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="http://host:port of the server")
    parser.add_argument("--pdf", action="append", required=True, help="two PDFs to upload")
    parser.add_argument("--big-email", required=True, help="a user holding 1,000 scores")
    parser.add_argument("--quota-bytes", type=int, required=True, help="every user's quota")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", help="folder for the screenshots (none if unset)")
    parser.add_argument("--report", required=True, help="where the JSON report goes")
    args = parser.parse_args()
    stamp = int(time.time() * 1000)
    email = f"first-{stamp}@example.com"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
        )
        run = Run(args, browser)
        try:
            first_load(run)
            page = run.new_page()
            register(page, run, email)
            upload_two(page, run, args.pdf)
            run.shoot(page, "library")
            search(page)
            score_id = edit_composer(page, run, email)
            setlist(page, run)
            page.get_by_role("link", name=re.compile("Friday gig")).click()
            expect(page.get_by_role("heading", name="Friday gig", level=1)).to_be_visible()
            setlist_url = "/" + page.url.split("/", 3)[3]
            log_out(page, run)
            page.context.close()
            second_user(run, score_id, stamp)
            layouts(run, email, score_id, setlist_url)
            big_library(run)
            check(not run.console_problems, "console: " + "\n".join(run.console_problems))
        finally:
            Path(args.report).write_text(json.dumps(run.report, indent=1))
            browser.close()
    print(json.dumps(run.report))


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
