#!/usr/bin/env python3
"""Helpers of test/bench/scale.sh (standard library only). Every HTTP request carries
"Authorization: Bearer $BENCH_KEY". Results are one JSON object on stdout.

  scale.py latency BASE KIND ORGS [--count N] [--budget S] [--timeout S] [--seed N]
        KIND view: GET /v1/organizations/{random}/storages?limit=100, one client, one
        request after another; KIND transfer: POST /v1/organizations/{random}/transfers
        {"waste": {"<random type>": 1..3}}. Stops after N requests or S seconds, whichever
        comes first (a step never hangs: a request longer than --timeout counts as an
        error). p50/p99 over the 2xx answers; every answer's status is counted.
  scale.py metric BASE NAME [NAME...]
        the sum over every series of each counter in /metrics (null when absent)
  scale.py route-visible BASE_A BASE_B ROUTE ORG STORAGE [--changes N] [--cap S]
        PATCHes the road ROUTE (organization ORG's direct road to STORAGE) on instance A to
        1 m, 2 m, 1 m, ... and after each PATCH polls instance B until STORAGE shows the new
        distance from ORG: GET /v1/organizations/ORG/storages/STORAGE when B has that
        endpoint, else the view's first page (STORAGE is then its nearest). Milliseconds
        from sending the PATCH to the answer that shows it.
  scale.py fresh-view BASE ORG READY_MS [--timeout S]
        for an instance that has just answered /readyz (READY_MS after its spawn, or null
        when it never did): times its first view of ORG and a second one
  scale.py start-routes BASE ORG STORAGES [--changes N] [--seed S]
        for an instance that has just answered /readyz: N times a new road from ORG to a
        random storage (POST /v1/routes), then ORG's first page; the views' milliseconds
  scale.py plans BASE ORGS [--sizes N,N] [--timeout S] [--max-kg K] [--seed S]
        POST /v1/plans once per size: N distinct random organizations (N capped at ORGS),
        one random type each, 1..K kg (as plans_scale.sh); seconds, placed kg and kg*m of
        both plans and the ratio the service reports, per size
  scale.py assemble DIR ORGS STORAGES ROUTES SEED_SECONDS|null
        one world's record (the fields of OUT.json) from the raw outputs in DIR
  scale.py report OUT.json WORLD.json...
        writes {"worlds": [...]} and prints the table with growth and targets
"""
import argparse
import http.client
import json
import os
import random
import re
import statistics
import sys
import time
import urllib.parse

TYPES = ("bio", "glass", "plastic")


def _auth():
    key = os.environ.get("BENCH_KEY", "")
    return {"Authorization": "Bearer " + key} if key else {}


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects after an error."""

    def __init__(self, base, timeout):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, keep=1 << 30):
        """(status, the first `keep` bytes of the body, seconds); status 0 on a transport
        error or timeout. The whole body is always read (and timed), only kept in part."""
        headers = dict(_auth())
        if body is not None:
            headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            kept = bytearray()
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                if len(kept) < keep:
                    kept += chunk[: keep - len(kept)]
            elapsed = time.perf_counter() - start
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, bytes(kept), elapsed
        except (OSError, http.client.HTTPException):
            self.close()
            return 0, b"", time.perf_counter() - start

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    # nearest rank
    rank = max(1, int(-(-p * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def latency(args):
    rng = random.Random(args.seed)
    client = Client(args.base, args.timeout)
    ok_ms, statuses, shipped_all, shipments = [], {}, 0, 0
    started = time.monotonic()
    count = 0
    while count < args.count and time.monotonic() - started < args.budget:
        org = rng.randint(1, args.orgs)
        if args.kind == "view":
            status, body, seconds = client.request(
                "GET", f"/v1/organizations/{org}/storages?limit=100", keep=0)
        else:
            waste_type = rng.choice(TYPES)
            body_text = json.dumps({"waste": {waste_type: rng.randint(1, 3)}})
            status, body, seconds = client.request(
                "POST", f"/v1/organizations/{org}/transfers", body=body_text)
            if status == 201:
                transfer = json.loads(body)
                shipments += len(transfer.get("shipments", []))
                if not transfer.get("pending", {}).get(waste_type):
                    shipped_all += 1
        count += 1
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if 200 <= status < 300:
            ok_ms.append(seconds * 1000.0)
    elapsed = time.monotonic() - started
    client.close()
    ok = len(ok_ms)
    result = {
        "kind": args.kind, "requests": count, "ok": ok, "statuses": statuses,
        "seconds": round(elapsed, 2),
        # The step ran out of time before its N requests: the percentiles rest on fewer.
        "capped": count < args.count,
        "p50_ms": _round(_percentile(ok_ms, 50), 3),
        "p99_ms": _round(_percentile(ok_ms, 99), 3),
        "mean_ms": _round(statistics.fmean(ok_ms), 3) if ok_ms else None,
        "max_ms": _round(max(ok_ms), 3) if ok_ms else None,
    }
    if args.kind == "transfer":
        result["shipped_all_share"] = round(shipped_all / ok, 3) if ok else None
        result["shipments_per_transfer"] = round(shipments / ok, 3) if ok else None
    print(json.dumps(result))


def plans(args):
    rng = random.Random(args.seed)
    client = Client(args.base, args.timeout)
    results = []
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        size = min(size, args.orgs)
        if size < 1:
            continue
        batch = [{"organization_id": org, "waste": {rng.choice(TYPES): rng.randint(1, args.max_kg)}}
                 for org in rng.sample(range(1, args.orgs + 1), size)]
        status, body, seconds = client.request("POST", "/v1/plans",
                                               body=json.dumps({"hand_overs": batch}))
        record = {"size": size, "status": status, "seconds": round(seconds, 3)}
        if status == 200:
            answer = json.loads(body)
            nearest, min_cost = answer["nearest"], answer["min_cost"]
            record.update({"ratio": answer["ratio"], "nearest_kg_m": nearest["kg_m"],
                           "min_cost_kg_m": min_cost["kg_m"],
                           "nearest_placed_kg": nearest["placed_kg"],
                           "min_cost_placed_kg": min_cost["placed_kg"]})
        else:
            record["body"] = body[:300].decode("utf-8", "replace")
        results.append(record)
    client.close()
    print(json.dumps({"batches": results}))


def read_metrics(base, names, timeout=30):
    client = Client(base, timeout)
    status, body, _ = client.request("GET", "/metrics")
    client.close()
    sums = {name: None for name in names}
    if status != 200:
        return sums, status
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m and m.group(1) in sums:
            sums[m.group(1)] = (sums[m.group(1)] or 0.0) + float(m.group(3))
    return sums, status


def metric(args):
    sums, status = read_metrics(args.base, args.names)
    print(json.dumps({"status": status, "values": sums}))


def _distance_in(body, storage, single):
    """The distance the answer shows for the storage, or None when it does not show it."""
    text = body.decode("utf-8", "replace")
    if single:
        try:
            return json.loads(text).get("distance_m")
        except ValueError:
            return None
    # The view's first item (its nearest storage); only a prefix of the body is kept.
    items = text.find('"items":[')
    if items < 0:
        return None
    first_id = re.search(r'"id":(\d+)', text[items:])
    first_distance = re.search(r'"distance_m":(null|\d+)', text[items:])
    if not first_id or not first_distance or int(first_id.group(1)) != storage:
        return None
    value = first_distance.group(1)
    return None if value == "null" else int(value)


def route_visible(args):
    a = Client(args.base_a, args.cap)
    b = Client(args.base_b, args.cap)
    single_path = f"/v1/organizations/{args.org}/storages/{args.storage}"
    probe, _, _ = b.request("GET", single_path)
    single = probe == 200
    path = single_path if single else f"/v1/organizations/{args.org}/storages?limit=100"
    visible_ms, patch_ms, polls, problems = [], [], [], []
    for change in range(args.changes):
        distance = 1 + change % 2
        started = time.perf_counter()
        status, _, seconds = a.request("PATCH", f"/v1/routes/{args.route}",
                                       body=json.dumps({"distance_m": distance}))
        if status != 200:
            problems.append(f"PATCH answered {status}")
            break
        patch_ms.append(seconds * 1000.0)
        count = 0
        while True:
            status, body, _ = b.request("GET", path, keep=1 << 16)
            count += 1
            now = time.perf_counter()
            if status == 200 and _distance_in(body, args.storage, single) == distance:
                visible_ms.append((now - started) * 1000.0)
                break
            if now - started > args.cap:
                problems.append(f"change {change + 1}: not visible after {args.cap} s "
                                f"(last status {status})")
                break
            time.sleep(0.005)
        polls.append(count)
        if problems:
            break
    a.close()
    b.close()
    print(json.dumps({
        "endpoint": "one storage" if single else "view (first page)",
        "visible_ms": [round(x, 1) for x in visible_ms],
        "median_ms": _round(statistics.median(visible_ms), 1) if visible_ms else None,
        "patch_ms": [round(x, 1) for x in patch_ms], "polls": polls,
        "capped": bool(problems), "problems": problems,
    }))


def fresh_view(args):
    """The first and second view of an instance that has just become ready."""
    client = Client(args.base, args.timeout)
    result = {"ready_ms": None if args.ready_ms == "null" else float(args.ready_ms)}
    if result["ready_ms"] is not None:
        path = f"/v1/organizations/{args.org}/storages?limit=100"
        status, _, seconds = client.request("GET", path, keep=0)
        result["first_view_status"] = status
        result["first_view_ms"] = _round(seconds * 1000.0, 1)
        status, _, seconds = client.request("GET", path, keep=0)
        result["second_view_status"] = status
        result["second_view_ms"] = _round(seconds * 1000.0, 1)
    client.close()
    print(json.dumps(result))


def start_routes(args):
    """Right after an instance became ready: a new road from ORG to a random storage, then
    ORG's first page, CHANGES times; milliseconds of each view (and of each POST)."""
    client = Client(args.base, args.timeout)
    rnd = random.Random(args.seed)
    view_ms, post_ms, problems = [], [], []
    path = f"/v1/organizations/{args.org}/storages?limit=100"
    for change in range(args.changes):
        status = 0
        for _ in range(50):  # a storage the organization has a road to already: 409
            body = json.dumps({"from": {"organization_id": args.org},
                               "to": {"storage_id": rnd.randint(1, args.storages)},
                               "distance_m": rnd.randint(1, 50)})
            status, _, seconds = client.request("POST", "/v1/routes", body=body)
            if status == 201:
                break
        if status != 201:
            problems.append(f"change {change + 1}: POST /v1/routes answered {status}")
            break
        post_ms.append(_round(seconds * 1000.0, 1))
        status, _, seconds = client.request("GET", path, keep=0)
        if status != 200:
            problems.append(f"change {change + 1}: the view answered {status}")
            break
        view_ms.append(_round(seconds * 1000.0, 1))
    client.close()
    print(json.dumps({"view_ms": view_ms, "median_ms": statistics.median(view_ms) if view_ms
                      else None, "max_ms": max(view_ms) if view_ms else None,
                      "post_ms": post_ms, "problems": problems}))


def _round(value, digits=1):
    return None if value is None else round(value, digits)


# ------------------------------------------------------------------------------ report

# (field, label, unit) of the table's rows, in order.
ROWS = [
    ("view_p50_ms", "view first page p50", "ms"),
    ("view_p99_ms", "view first page p99", "ms"),
    ("transfer_p50_ms", "transfer p50 (1 client)", "ms"),
    ("transfer_p99_ms", "transfer p99 (1 client)", "ms"),
    ("transfer16_rps", "transfers/s (16 clients)", "/s"),
    ("rows_locked_per_transfer", "rows locked per transfer", ""),
    ("shipments_per_transfer", "shipments per transfer", ""),
    ("route_visible_ms", "route change visible on 2nd", "ms"),
    ("graph_load_ms", "fresh instance: first view", "ms"),
    ("start_route_view_ms", "view after a new road at start", "ms"),
    ("fresh_ready_ms", "fresh instance: spawn->ready", "ms"),
    ("rss_mib", "server VmHWM", "MiB"),
    ("dispatch_burst_s", "dispatch burst", "s"),
    ("pg_cpu_us_per_transfer", "PostgreSQL CPU / transfer", "us"),
    ("service_cpu_us_per_transfer", "service CPU / transfer", "us"),
    ("plans_s", "plans: largest batch", "s"),
    ("plans_batch", "plans: hand-overs in it", ""),
    ("plans_ratio", "plans: nearest / min-cost kg*m", ""),
    ("plans_rss_mib", "plans instance VmHWM", "MiB"),
    ("seed_s", "seeding", "s"),
]


def _cell(world, field):
    value = world.get(field)
    if value is None:
        return "null"
    flags = world.get("capped", {})
    prefix = ">" if flags.get(field) else ""
    if isinstance(value, float):
        text = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    else:
        text = str(value)
    return prefix + text


def _world_name(w):
    return f"{w['organizations']}x{w['storages']}x{w['routes']}"


def report(args):
    worlds = []
    for path in args.worlds:
        with open(path, encoding="utf-8") as f:
            worlds.append(json.load(f))
    worlds.sort(key=lambda w: w["routes"])
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"worlds": worlds}, f, indent=2)
        f.write("\n")

    first, last = worlds[0], worlds[-1]
    names = [_world_name(w) for w in worlds]
    width = max(12, *(len(n) for n in names))
    header = f"{'':<30}" + "".join(f"{n:>{width + 1}}" for n in names) + f"{'growth':>9}"
    print(header)
    print("-" * len(header))
    for field, label, unit in ROWS:
        if all(w.get(field) is None for w in worlds):
            if field not in ("rows_locked_per_transfer",):
                continue
        growth = ""
        a, b = first.get(field), last.get(field)
        if len(worlds) > 1 and isinstance(a, (int, float)) and isinstance(b, (int, float)) and a:
            growth = f"{b / a:.1f}x"
        line = f"{label + (' (' + unit + ')' if unit else ''):<30}" + "".join(
            f"{_cell(w, field):>{width + 1}}" for w in worlds) + f"{growth:>9}"
        print(line)
    print("('>' marks a step cut short at its time cap: the value is a lower bound; "
          "null: not measured, see the notes)")

    print()
    print("targets:")
    both = len(worlds) > 1 and first["storages"] < last["storages"]

    def ratio_target(field, label):
        a, b = first.get(field), last.get(field)
        if not both:
            return f"  {label}: n/a (needs the smallest and a larger world)"
        if a is None or b is None:
            return f"  {label}: SHORT (not measured: {_world_name(first)} {a}, " \
                   f"{_world_name(last)} {b})"
        ratio = b / a if a else float("inf")
        capped = last.get("capped", {}).get(field)
        verdict = "met" if ratio <= 3 and not capped else "SHORT"
        return (f"  {label} at {_world_name(last)} within 3x of {_world_name(first)}: "
                f"{ratio:.1f}x{' (at least: capped)' if capped else ''} -> {verdict}")

    for field, label in [("view_p50_ms", "view page p50"), ("view_p99_ms", "view page p99"),
                         ("transfer_p50_ms", "transfer p50"), ("transfer_p99_ms", "transfer p99"),
                         ("route_visible_ms", "route visibility")]:
        print(ratio_target(field, label))
    for w in worlds:
        name = _world_name(w)
        rss = w.get("rss_mib")
        print(f"  RSS <= 512 MiB at {name}: "
              + ("null -> SHORT" if rss is None else
                 f"{rss:.0f} MiB -> {'met' if rss <= 512 else 'SHORT'}"))
    for w in worlds:
        name = _world_name(w)
        burst = w.get("dispatch_burst_s")
        capped = w.get("capped", {}).get("dispatch_burst_s")
        pending = ((w.get("details") or {}).get("burst") or {}).get("organizations")
        print(f"  dispatch burst <= 5 s at {name} ({pending} organizations): "
              + ("null -> SHORT" if burst is None else
                 f"{'>' if capped else ''}{burst:.1f} s -> "
                 f"{'met' if burst <= 5 and not capped else 'SHORT'}"))
    for w in worlds:
        name = _world_name(w)
        locked, ships = w.get("rows_locked_per_transfer"), w.get("shipments_per_transfer")
        if locked is None:
            print(f"  rows locked <= shipments + 2 at {name}: unknown (the server has no "
                  f"wasteflow_transfer_rows_locked_total yet; today's code locks every "
                  f"reachable candidate row of the type: ~"
                  f"{w.get('details', {}).get('candidate_rows_per_type', '?')} here)")
        else:
            print(f"  rows locked <= shipments + 2 at {name}: {locked:.1f} vs "
                  f"{ships:.2f} + 2 -> {'met' if locked <= ships + 2 else 'SHORT'}")
    middle = [w for w in worlds if w["storages"] == 10000] or worlds[len(worlds) // 2:][:1]
    for w in middle:
        pg, svc = w.get("pg_cpu_us_per_transfer"), w.get("service_cpu_us_per_transfer")
        if pg is not None:
            print(f"  PostgreSQL CPU per transfer <= 400 us at {_world_name(w)} (16 clients): "
                  f"{pg:.0f} us -> {'met' if pg <= 400 else 'SHORT'}")
        if svc is not None:
            print(f"  service CPU per transfer <= 150 us at {_world_name(w)} (16 clients): "
                  f"{svc:.0f} us -> {'met' if svc <= 150 else 'SHORT'}")
    for w in worlds:
        secs, size = w.get("plans_s"), w.get("plans_batch")
        if size is None or size < 10000:
            continue
        print(f"  plans of {size} hand-overs <= 5 s at {_world_name(w)}: "
              + ("null -> SHORT" if secs is None else
                 f"{secs:.2f} s -> {'met' if secs <= 5 else 'SHORT'}")
              + (f" (instance VmHWM {w['plans_rss_mib']:.0f} MiB)"
                 if w.get("plans_rss_mib") is not None else ""))
    notes = [n for w in worlds for n in w.get("notes", [])]
    if notes:
        print()
        print("notes:")
        for n in notes:
            print("  " + n)


# ---------------------------------------------------------------------------- assemble

def _load(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _wrk_ok_rps(text):
    """Requests/s that got a 2xx/3xx answer: (requests - non-2xx) / the run's seconds."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", text)
    if not total:
        return None, None
    seconds = float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    bad = int(non2xx.group(1)) if non2xx else 0
    requests = int(total.group(1))
    return (requests - bad) / seconds if seconds else None, {"requests": requests, "non2xx": bad}


def assemble(args):
    """One world's record from the raw outputs scale.sh left in its directory."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import benchlib  # noqa: E402  (the suite's CPU sampling, reused)

    d = args.dir
    notes, capped, details = [], {}, {}
    name = f"{args.organizations}x{args.storages}x{args.routes}"
    world = {"organizations": args.organizations, "storages": args.storages,
             "routes": args.routes}

    def latency_fields(prefix, step):
        record = _load(os.path.join(d, step + ".json"))
        details[step] = record
        if record is None:
            notes.append(f"{name}: {step} step left no result")
            world[prefix + "_p50_ms"] = world[prefix + "_p99_ms"] = None
            return None
        world[prefix + "_p50_ms"] = record["p50_ms"]
        world[prefix + "_p99_ms"] = record["p99_ms"]
        bad = record["requests"] - record["ok"]
        if bad or record["ok"] < 20:
            capped[prefix + "_p50_ms"] = capped[prefix + "_p99_ms"] = True
            notes.append(f"{name}: {step}: {record['ok']} of {record['requests']} requests "
                         f"answered 2xx in {record['seconds']} s (statuses {record['statuses']}); "
                         f"the step's time cap or request timeout cut it short")
        return record

    for side in ("a", "b"):
        details["warm_" + side] = _load(os.path.join(d, f"warm-{side}.json"))
    latency_fields("view", "view")
    transfer = latency_fields("transfer", "transfer1")

    rps, wrk = _wrk_ok_rps(_read(os.path.join(d, "wrk16.txt")))
    world["transfer16_rps"] = _round(rps, 1)
    details["wrk16"] = wrk
    if wrk and wrk["non2xx"]:
        notes.append(f"{name}: 16 clients: {wrk['non2xx']} of {wrk['requests']} transfers "
                     f"answered non-2xx (not counted in transfer16_rps)")
    ledger = _read(os.path.join(d, "wrk16-ledger.txt")).strip().split("|")
    committed = int(ledger[0]) if ledger and ledger[0].isdigit() else 0
    shipped = int(ledger[1]) if len(ledger) > 1 and ledger[1].isdigit() else 0
    world["shipments_per_transfer"] = round(shipped / committed, 3) if committed else (
        transfer or {}).get("shipments_per_transfer")
    cpu = benchlib._cpu_delta(os.path.join(d, "wrk16.cpu")) if os.path.exists(
        os.path.join(d, "wrk16.cpu")) else {}
    if committed and cpu:
        world["pg_cpu_us_per_transfer"] = round(cpu["postgres"] * 1e6 / committed, 1)
        world["service_cpu_us_per_transfer"] = round(cpu["server"] * 1e6 / committed, 1)
        wrk_cpu = benchlib._client_cpu(os.path.join(d, "wrk16.time"))
        ours = cpu["server"] + cpu["postgres"] + (wrk_cpu or 0.0)
        details["cpu16"] = {"transfers": committed, "server_s": cpu["server"],
                            "postgres_s": cpu["postgres"], "wrk_s": wrk_cpu,
                            "other_load_pct": round(max(0.0, (cpu["machine"] - ours) * 100.0
                                                        / cpu["wall_cores"]), 1)}
    else:
        world["pg_cpu_us_per_transfer"] = world["service_cpu_us_per_transfer"] = None

    before = _load(os.path.join(d, "metrics-before.json")) or {"values": {}}
    after = _load(os.path.join(d, "metrics-after.json")) or {"values": {}}
    locked_a = before["values"].get("wasteflow_transfer_rows_locked_total")
    locked_b = after["values"].get("wasteflow_transfer_rows_locked_total")
    made = (after["values"].get("wasteflow_transfers_total") or 0) - (
        before["values"].get("wasteflow_transfers_total") or 0)
    if locked_a is None or locked_b is None:
        world["rows_locked_per_transfer"] = None
        notes.append(f"{name}: rows_locked_per_transfer is null: A's /metrics has no "
                     f"wasteflow_transfer_rows_locked_total (status {after.get('status')})")
    else:
        world["rows_locked_per_transfer"] = round((locked_b - locked_a) / made, 2) if made else None
    candidates = _read(os.path.join(d, "candidate-rows.txt")).strip()
    details["candidate_rows_per_type"] = int(candidates) if candidates.isdigit() else None

    route = _load(os.path.join(d, "route.json"))
    details["route"] = route
    world["route_visible_ms"] = route.get("median_ms") if route else None
    if route and route.get("capped"):
        capped["route_visible_ms"] = True
        if route.get("visible_ms"):
            world["route_visible_ms"] = max(route["visible_ms"])
        notes.append(f"{name}: route visibility: {'; '.join(route['problems'])}")

    fresh = _load(os.path.join(d, "fresh.json"))
    details["fresh_instance"] = fresh
    # After the instance is ready: the load its first view triggers (ready_ms shows a load
    # done before /readyz answers).
    world["graph_load_ms"] = fresh.get("first_view_ms") if fresh else None
    world["fresh_ready_ms"] = fresh.get("ready_ms") if fresh else None
    if not fresh or fresh.get("first_view_status") != 200:
        capped["graph_load_ms"] = True
        notes.append(f"{name}: the fresh instance's first view: {fresh}")
    start = _load(os.path.join(d, "start-routes.json"))
    details["route_changes_after_start"] = start
    world["start_route_view_ms"] = start.get("median_ms") if start else None
    if start and start.get("problems"):
        capped["start_route_view_ms"] = True
        notes.append(f"{name}: route changes after start: {'; '.join(start['problems'])}")
    log = _read(os.path.join(d, "graph-log.txt")).splitlines()
    details["graph_load_log"] = log[:5]
    for line in log:
        m = re.search(r'"(\w*(?:ms|duration)\w*)":"?([\d.]+)', line)
        if m:
            details["graph_load_log_ms"] = float(m.group(2))
            break

    def rss(side):
        values = _read(os.path.join(d, f"rss-{side}.txt")).split()
        return [int(v) / 1024.0 for v in values if v.isdigit()]

    a = rss("a")
    world["rss_mib"] = round(a[0], 1) if a else None
    details["rss_mib"] = {"a_vmhwm_vmrss": [round(x, 1) for x in a],
                          "b_vmhwm_vmrss": [round(x, 1) for x in rss("b")],
                          "fresh_c_vmhwm_vmrss": [round(x, 1) for x in rss("c")]}

    burst = _load(os.path.join(d, "burst.json"))
    details["burst"] = burst
    world["dispatch_burst_s"] = round(float(burst["seconds"]), 2) if burst else None
    if burst and burst.get("capped"):
        capped["dispatch_burst_s"] = True
        notes.append(f"{name}: dispatch burst capped: {burst['left_kg']} of "
                     f"{burst['pending_kg']} kg still pending after {burst['seconds']} s")

    plan = _load(os.path.join(d, "plans.json"))
    details["plans"] = plan
    batches = (plan or {}).get("batches") or []
    world["plans_s"] = world["plans_batch"] = world["plans_ratio"] = None
    if batches:
        largest = max(batches, key=lambda b: b["size"])
        world["plans_batch"] = largest["size"]
        if largest["status"] == 200:
            world["plans_s"] = largest["seconds"]
            world["plans_ratio"] = round(largest["ratio"], 4)
        for b in batches:
            if b["status"] != 200:
                notes.append(f"{name}: plans of {b['size']} hand-overs answered {b['status']} "
                             f"after {b['seconds']} s: {b.get('body', '')[:200]}")
    elif os.path.exists(os.path.join(d, "plans.json")):
        notes.append(f"{name}: the plans step left no result")
    plans_rss = rss("plans")
    world["plans_rss_mib"] = round(plans_rss[0], 1) if plans_rss else None

    world["seed_s"] = None if args.seed_s == "null" else round(float(args.seed_s), 1)
    audit = [l for l in _read(os.path.join(d, "audit.txt")).splitlines() if l.strip()]
    errors = [l for l in _read(os.path.join(d, "server-errors.txt")).splitlines() if l.strip()]
    details["audit_violations"] = len(audit)
    details["server_error_lines"] = len(errors)
    if audit:
        notes.append(f"{name}: sql/audit.sql: {len(audit)} lines, first: {audit[0]}")
    if errors:
        notes.append(f"{name}: {len(errors)} error lines in the server logs, first: "
                     f"{errors[0][:300]}")
    world["capped"] = capped
    world["details"] = details
    world["notes"] = notes
    print(json.dumps(world, indent=2))


# The subcommands: name, function, positional arguments ("name", "name:int", "name:a|b" for a
# choice, "name+" for one or more) and options with their defaults (typed as the default).
COMMANDS = [
    ("latency", latency, ["base", "kind:view|transfer", "orgs:int"],
     {"count": 300, "budget": 20.0, "timeout": 60.0, "seed": 1}),
    ("metric", metric, ["base", "names+"], {}),
    ("route-visible", route_visible, ["base_a", "base_b", "route:int", "org:int", "storage:int"],
     {"changes": 5, "cap": 60.0}),
    ("fresh-view", fresh_view, ["base", "org:int", "ready_ms"], {"timeout": 120.0}),
    ("start-routes", start_routes, ["base", "org:int", "storages:int"],
     {"changes": 5, "seed": 3, "timeout": 120.0}),
    ("plans", plans, ["base", "orgs:int"],
     {"sizes": "1000,10000", "timeout": 60.0, "max-kg": 1000, "seed": 4}),
    ("assemble", assemble, ["dir", "organizations:int", "storages:int", "routes:int", "seed_s"], {}),
    ("report", report, ["out", "worlds+"], {}),
]


def add_command(sub, name, fn, positional, options):
    p = sub.add_parser(name)
    for spec in positional:
        arg, _, kind = spec.partition(":")
        if arg.endswith("+"):
            p.add_argument(arg[:-1], nargs="+")
        elif kind == "int":
            p.add_argument(arg, type=int)
        elif kind:
            p.add_argument(arg, choices=kind.split("|"))
        else:
            p.add_argument(arg)
    for option, default in options.items():
        p.add_argument(f"--{option}", type=type(default), default=default)
    p.set_defaults(fn=fn)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        add_command(sub, *command)
    args = parser.parse_args(argv[1:])
    args.fn(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
