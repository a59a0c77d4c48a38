#!/usr/bin/env python3
"""How fast the web console's pages are on a big company: 500 employees, 100,000 call records.

Starts the exchange (release build) on a fresh SQLite database, adds the employees over the
API, writes the call records straight into the database (as the exchange writes them), logs in
to the console as the operator and times each page (median and 95th percentile of 20 loads,
and the page's size). Everything on loopback; the database is deleted afterwards.

    cargo build --release -p switchboard && python3 tests/load/console.py
"""

import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

EMPLOYEES = 500
CALLS = 100_000
LOADS = 20
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("SWITCHBOARD_BIN", os.path.join(ROOT, "target", "release", "switchboard"))


def start(directory):
    db = os.path.join(directory, "load.db")
    child = subprocess.Popen(
        [BINARY, "serve", "--http-listen", "127.0.0.1:0", "--sip-listen", "127.0.0.1:0",
         "--database", f"sqlite://{db}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=directory)
    base = token = None
    while token is None:
        line = child.stdout.readline()
        if not line:
            sys.exit("the exchange did not start")
        if m := re.search(r"http=(http://[0-9.:]+)", line):
            base = m.group(1)
        if line.startswith("API token"):
            token = line.split(": ", 1)[1].strip()
    return child, base, token, db


def api(base, token, method, path, body=None):
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as r:
        return json.loads(r.read() or b"null")


def seed(base, token, db):
    departments = ["sales", "support"]
    logins = []
    for i in range(EMPLOYEES):
        login = f"e{i:03d}"
        api(base, token, "POST", "/employees", {
            "login": login, "password": "correct-horse", "extension": str(1000 + i),
            "name": f"Employee {i}", "position": random.choice(["Sales", "Support", "Accounts"])})
        logins.append(login)
    for department in departments:
        members = random.sample(logins, 40)
        extension = "600" if department == "sales" else "601"
        api(base, token, "PUT", f"/departments/{department}", {
            "name": department.title(), "extension": extension, "strategy": "in_turn", "members": members})
    api(base, token, "PUT", "/numbers/+15550100100", {})
    now = int(time.time() * 1000)
    rows = []
    results = ["answered"] * 6 + ["missed", "voicemail", "abandoned", "self-service"]
    for i in range(CALLS):
        started = now - (CALLS - i) * 25_000  # one call every 25 s: about a month
        result = random.choice(results)
        employee = random.choice(logins)
        answered = started + 8000 if result == "answered" else None
        trace = [
            {"at_ms": 0, "event": "flow 620dfda6b709 starts"},
            {"at_ms": 2, "event": "answer → ok"},
            {"at_ms": 6100, "event": "collect (prompt ivr-greeting, max 1, first digit 5000 ms) → 1"},
            {"at_ms": 6100, "event": "dial [Department(\"sales\")@0ms] timeout 60000 ms → "
                                    + ("Answered" if answered else "NoAnswer")},
        ]
        legs = [{"to": f"employee:{employee}", "employee": employee, "started_at": started + 6100,
                 "answered_at": answered, "ended_at": started + 60000,
                 "result": "answered" if answered else "no-answer"}]
        rows.append((f"{i:016x}", 1, f"load-{i}@127.0.0.1", f"+1555{random.randrange(10**7):07d}",
                     "+15550100100", None, started, answered, employee if answered else None,
                     started + 90_000, "completed", json.dumps(trace), json.dumps(legs), result,
                     json.dumps(["department:sales"]), None if answered else "department:sales",
                     8000 if answered else 60000))
    # Who took part in each call, as the exchange writes it beside the record: the employee rung.
    parties = [(1, f"login:{json.loads(row[12])[0]['employee']}", row[6], row[0]) for row in rows]
    with sqlite3.connect(db, timeout=30) as conn:
        conn.executemany(
            "INSERT INTO call_parties (company_id, party, started_at, call_id) VALUES (?, ?, ?, ?)", parties)
        conn.executemany(
            "INSERT INTO call_records (id, company_id, sip_call_id, caller, dialled, flow_sha256, started_at,"
            " answered_at, answered_by, ended_at, outcome, trace, legs, result, offered_to, ended_in, wait_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return rows[CALLS // 2][0], rows[CALLS // 2][6]


def measure(browser, base, name, path):
    """Loads the page LOADS times; prints the median, the 95th percentile and its size."""
    times, size = [], 0
    for _ in range(LOADS):
        start_at = time.perf_counter()
        with browser.open(base + path) as r:
            size = len(r.read())
            assert r.status == 200, (path, r.status)
        times.append((time.perf_counter() - start_at) * 1000)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"{name:45} {statistics.median(times):7.1f}ms {p95:7.1f}ms {size / 1024:7.1f}KiB", flush=True)


def main():
    with tempfile.TemporaryDirectory() as directory:
        child, base, token, db = start(directory)
        try:
            t0 = time.time()
            middle_id, middle_at = seed(base, token, db)
            print(f"seeded {EMPLOYEES} employees and {CALLS} call records in {time.time() - t0:.0f} s")
            browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
            form = urllib.parse.urlencode({"login": "operator", "password": token, "next": "/console/"})
            browser.open(base + "/console/login", data=form.encode()).read()
            pages = [
                ("dashboard", "/console/"),
                ("employees (500)", "/console/employees"),
                ("directory (500)", "/console/directory"),
                ("department (40 members, 500 to pick from)", "/console/departments/sales"),
                ("calls, first page", "/console/calls"),
                ("calls, a page a month back", f"/console/calls?before={middle_at}"),
                ("calls, missed only", "/console/calls?result=missed"),
                ("calls, by caller", "/console/calls?caller=%2B15550000001"),
                ("one call", f"/console/calls/{middle_id}"),
                ("numbers", "/console/numbers"),
                ("number with its route map", "/console/numbers/%2B15550100100"),
            ]
            print(f"{'page':45} {'median':>8} {'p95':>8} {'size':>9}")
            for name, path in pages:
                measure(browser, base, name, path)
            # An employee's own calls: one who answered about 1 in 800 of them, and one who
            # took part in none (the query reads every record of the company to find none).
            api(base, token, "POST", "/employees", {"login": "newcomer", "password": "correct-horse",
                                                    "extension": "1999"})
            for login, label in [("e001", "my calls (one of 500 employees)"), ("newcomer", "my calls (none among 100,000)")]:
                employee = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
                form = urllib.parse.urlencode({"login": login, "password": "correct-horse", "next": "/console/"})
                employee.open(base + "/console/login", data=form.encode()).read()
                measure(employee, base, label, "/console/me/calls")
            for i in range(200):
                api(base, token, "POST", "/contacts", {"phone": f"+1555020{i:04d}", "name": f"Contact {i}",
                                                       "employee": f"e{i % 500:03d}"})
            for name, path in [("contacts (200) and callbacks", "/console/contacts"),
                               ("schedules", "/console/schedules"), ("companies", "/console/companies"),
                               ("voicemail", "/console/voicemail")]:
                measure(browser, base, name, path)
        finally:
            child.terminate()
            child.wait()


if __name__ == "__main__":
    main()
