#!/usr/bin/env python3
"""Helpers of test/bench/run.sh (standard library only).

  benchlib.py pgbench-script SCENARIO STATEMENTS_C OUT.sql
        writes the pgbench baseline of a scenario (S1, S2 or S3) from the SQL text that
        lib/engine/statements.c holds right now, so the baseline follows the service's SQL
  benchlib.py reachable BASE_URL ORGS
        (with the admin key in $BENCH_KEY) asks the running service, for every organization, which storages it reaches
        (GET /v1/organizations/{id}/storages); prints the Postgres array literal of the
        storages every organization reaches, and on stderr how many differ from it
  benchlib.py wrk NAME CONNECTIONS WRK_OUTPUT CPU_FILE TIME_FILE RESULTS.jsonl
  benchlib.py pgbench NAME CONNECTIONS PGBENCH_OUTPUT CPU_FILE TIME_FILE RESULTS.jsonl
        parse one run's output and append a record to RESULTS.jsonl
  benchlib.py cpu SERVER_PID POSTMASTER_PID
        prints "server postgres machine_busy machine_total" in clock ticks (the server
        process; the postmaster with every child, live or reaped; /proc/stat): run.sh
        takes one sample before and one after each run, the difference is what the run
        cost; TIME_FILE holds the load generator's own CPU (/usr/bin/time -f '%U %S')
  benchlib.py perf-breakdown [RESULTS.jsonl NAME] < perf-script.txt
        the server's CPU by component, from `perf script` of a DWARF call-graph profile
  benchlib.py report RESULTS.jsonl OUT.json PEAK_RSS_KIB PEAK_RSS_CONNECTIONS POOL_SIZE
        prints the table and writes the JSON summary
  benchlib.py statement-sql STATEMENTS_C ST_NAME
        prints one statement's SQL text as lib/engine/statements.c holds it (balance.sh
        prepares ST_BALANCE in psql)
"""
import concurrent.futures
import json
import os
import re
import sys
import urllib.parse
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- statements.c

def _skip_space_and_comments(src, i):
    while i < len(src):
        if src[i].isspace():
            i += 1
        elif src.startswith("/*", i):
            i = src.index("*/", i) + 2
        elif src.startswith("//", i):
            i = src.index("\n", i)
        else:
            break
    return i


def _c_string(src, i):
    """Parses the C string literal starting at src[i] == '"'; returns (text, next index)."""
    assert src[i] == '"'
    i += 1
    out = []
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'"}
    while src[i] != '"':
        if src[i] == "\\":
            out.append(escapes[src[i + 1]])
            i += 2
        else:
            out.append(src[i])
            i += 1
    return "".join(out), i + 1


def _string_macros(src):
    """{NAME: text} of every `#define NAME "..." "..."` made of string literals only."""
    macros = {}
    # The body may start on the next line (clang-format breaks long ones after the name).
    for m in re.finditer(r"^#define\s+(\w+)[ \t]+(?:\\\n[ \t]*)?(\"(?:\\\n|[^\n])*)", src, re.M):
        body = m.group(2).replace("\\\n", " ")
        i, parts = 0, []
        while True:
            i = _skip_space_and_comments(body, i)
            if i >= len(body):
                break
            if body[i] != '"':
                parts = None
                break
            text, i = _c_string(body, i)
            parts.append(text)
        if parts is not None:
            macros[m.group(1)] = "".join(parts)
    return macros


def read_statements(path):
    """{name: sql} of every S(ST_NAME, "..." MACRO "...") entry made of string literals and
    string macros (#define NAME "...")."""
    src = open(path, encoding="utf-8").read()
    # The table's entries live in files included inside it (statements_*.inc): inline them.
    base = os.path.dirname(path)
    src = re.sub(r'^#include "(?:engine/)?(statements_\w+\.inc)"$',
                 lambda m: open(os.path.join(base, m.group(1)), encoding="utf-8").read(),
                 src, flags=re.M)
    macros = _string_macros(src)
    statements = {}
    for m in re.finditer(r"\bS\(\s*(ST_\w+)\s*,", src):
        i = m.end()
        parts = []
        plain = True
        while True:
            i = _skip_space_and_comments(src, i)
            if src[i] == '"':
                text, i = _c_string(src, i)
                parts.append(text)
            elif src[i] == ")":
                break
            else:
                word = re.match(r"\w+", src[i:])
                if word and word.group(0) in macros and not src[i + word.end():].lstrip().startswith("("):
                    parts.append(macros[word.group(0)])
                    i += word.end()
                    continue
                plain = False  # a function-like macro such as LIST_SQL(...): not needed here
                break
        if plain:
            statements[m.group(1)] = "".join(parts)
    return statements


def pgbench_sql(sql, variables):
    """The statement with $n replaced by pgbench :variables (variables[n - 1])."""
    if ":" in re.sub(r"::", "", sql):
        raise SystemExit("statement has a ':' that pgbench would take for a variable: " + sql)

    def sub(m):
        name = variables[int(m.group(1)) - 1]
        if name.startswith("{") and name.endswith("}"):
            # A one-element array of a per-transaction number ("{org}"): pgbench cannot
            # build text from numbers, so the statement does.
            return "('{' || :" + name[1:-1] + " || '}')"
        return ":" + name

    return re.sub(r"\$(\d+)", sub, sql) + ";"


def pgbench_script(scenario, statements_c, out_path):
    st = read_statements(statements_c)

    def q(name, *variables):
        if name not in st:
            raise SystemExit(f"{name} not found in {statements_c}")
        wanted = max((int(n) for n in re.findall(r"\$(\d+)", st[name])), default=0)
        if wanted != len(variables):
            raise SystemExit(f"{name} takes {wanted} parameters now, the {scenario} baseline "
                             f"passes {len(variables)}: update benchlib.py to the statement")
        return pgbench_sql(st[name], variables)

    lines = [f"-- pgbench baseline of {scenario}, generated by test/bench/benchlib.py from",
             "-- lib/engine/statements.c. One pipeline (one Sync) per round trip the service makes."]
    if scenario == "S1":
        # GET /v1/organizations/{id}/storages?waste_type=glass, its first page (limit 100):
        # one pipelined batch, no transaction (lib/api/storage_view.c): the type check, the
        # graph version, and the rows of the first 101 glass storages among the storages the
        # bounded search found nearest first. pgbench cannot run the search: each client
        # takes the first 101 glass storage ids once (see README.md, "Baseline
        # approximations") — the same 101 primary-key probes and rows the service reads when
        # the nearest storages accept glass.
        lines += [
            "\\set org random(1, :orgs)",
            "\\if :ready = 0",
            "SELECT '{' || string_agg(storage_id::text, ',') || '}' AS view_ids, false AS "
            "no_room_filter, 101 AS view_need FROM (SELECT storage_id FROM storage_waste WHERE "
            "waste_type = 'glass' ORDER BY storage_id LIMIT 101) s \\gset",
            "\\set ready 1",
            "\\endif",
            "\\startpipeline",
            q("ST_CHECK_TYPE", "wt", "wt_field"),
            q("ST_VIEW_HEAD", "org"),
            q("ST_VIEW_STORAGES", "view_ids", "wt", "no_room_filter", "view_need"),
            "\\endpipeline",
        ]
    elif scenario in ("S2", "S3"):
        # POST /v1/organizations/{id}/transfers {"waste": {"glass": n}}: two round trips
        # (lib/engine/transfer.c: the room read travels in round 1, the read-ahead). pgbench cannot build text from numbers inside a script, so
        # each client builds its shipment's array literals once, on its first transaction
        # (see README.md, "Baseline approximations").
        lines += [
            "\\set org random(1, :orgs)",
            "\\set n :n + 1",
            "\\set tid :tid_base + :client_id * 1000000000 + :n",
            "\\if :ready = 0",
            "\\set kg random(1, 3)",
            "\\set st :hot" if scenario == "S3" else "\\set st 1 + 3 * random(0, 66)",
            "\\set dist 1" if scenario == "S3" else "\\set dist random(1, 6000)",
            "SELECT '{' || :st::bigint || '}' AS st_arr, '{' || :dist::bigint || '}' AS dist_arr, "
            "'{' || :kg::bigint || '}' AS kg_arr, ARRAY[jsonb_build_object(:wt::text, "
            ":kg::bigint)::text]::text AS received_arr, ARRAY['{}']::text AS pending_arr, "
            "'{1}' AS one_arr, '{}' AS none_arr, '{f}' AS no_left_arr, '{0}' AS zero_arr, "
            "'key:1' AS actor \\gset",
            "\\set ready 1",
            "\\endif",
            # round 1: BEGIN; check the types and lock the organization; its waste rows; read
            # and lock the room of the one storage the plan ships to
            "\\startpipeline",
            "BEGIN;",
            q("ST_TR_LOCK_ORG", "org", "wt_arr"),
            q("ST_TR_ORG_WASTE", "org"),
            q("ST_TR_ROOMS", "st_arr", "wt_arr"),
            "\\endpipeline",
            # round 2: one statement writes ledger, totals and stock (everything is placed and
            # nothing was pending: no pending amount or pending_since changes, so the service
            # sends ST_TR_RECORD); COMMIT
            "\\startpipeline",
            # (the shipment's id is the transfer's: unique per client, as the service's block of
            # ids is; an automatic storage: not in transit, nothing held)
            q("ST_TR_RECORD", "{tid}", "{org}", "received_arr", "pending_arr", "trigger", "actor",
              "{tid}", "{tid}", "one_arr", "st_arr", "wt_arr", "kg_arr", "dist_arr", "no_left_arr",
              "st_arr", "wt_arr", "kg_arr", "zero_arr", "one"),
            "COMMIT;",
            "\\endpipeline",
        ]
    else:
        raise SystemExit("unknown scenario " + scenario)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------- reachability

def reachable(base_url, orgs):
    headers = {"Authorization": "Bearer " + os.environ["BENCH_KEY"]} if os.environ.get(
        "BENCH_KEY") else {}

    def fetch(org):
        # Every page of the view (it is paginated in v2; one page when it is not).
        ids, cursor = set(), None
        while True:
            url = f"{base_url}/v1/organizations/{org}/storages?limit=1000"
            if cursor:
                url += "&cursor=" + urllib.parse.quote(cursor, safe="")
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=30) as r:
                page = json.load(r)
            ids.update(i["id"] for i in page["items"] if i["distance_m"] is not None)
            cursor = page.get("next_cursor")
            if not cursor:
                return frozenset(ids)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        sets = list(pool.map(fetch, range(1, orgs + 1)))
    union = frozenset().union(*sets)
    differ = sum(1 for s in sets if s != union)
    print(f"reachable storages: {len(union)} in all; {differ} of {orgs} organizations reach "
          f"fewer", file=sys.stderr)
    print("{" + ",".join(str(i) for i in sorted(union)) + "}")


# ----------------------------------------------------------------------------- parsing

def _ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _cpu_delta(cpu_file):
    """CPU seconds between the two samples in the file: {"server", "postgres", "machine"
    (every process on the machine), "wall_cores" (elapsed seconds x cores)}."""
    with open(cpu_file) as f:
        samples = [list(map(int, line.split())) for line in f if line.strip()]
    if len(samples) < 2:
        return {}
    a, b = samples[0], samples[-1]
    d = [(y - x) / CLK_TCK for x, y in zip(a, b)]
    return {"server": d[0], "postgres": d[1], "machine": d[2], "wall_cores": d[3]}


def _client_cpu(time_file):
    """User + system seconds of the load generator (/usr/bin/time -f '%U %S')."""
    try:
        with open(time_file) as f:
            values = f.read().split()[-2:]
        return float(values[0]) + float(values[1])
    except (OSError, ValueError, IndexError):
        return None


def _cpu_fields(cpu, client_s, count):
    """Per-request CPU microseconds and the machine's other load in the run."""
    if not count or not cpu:
        return {}
    out = {
        "server_cpu_us": cpu["server"] * 1e6 / count,
        "pg_cpu_us": cpu["postgres"] * 1e6 / count,
        "client_cpu_us": client_s * 1e6 / count if client_s is not None else None,
    }
    ours = cpu["server"] + cpu["postgres"] + (client_s or 0.0)
    # Busy CPU of everything else on this shared machine, in % of all its cores.
    out["other_load_pct"] = max(0.0, (cpu["machine"] - ours) * 100.0 / cpu["wall_cores"])
    return out


def parse_wrk(name, connections, text, cpu_file, time_file):
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    requests = int(total.group(1)) if total else 0
    record = {
        "kind": "wrk", "name": name, "connections": connections,
        "rps": float(rps.group(1)) if rps else 0.0,
        "requests": requests,
        "p50_ms": _ms(p50.group(1)) if p50 else None,
        "p99_ms": _ms(p99.group(1)) if p99 else None,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
    }
    record.update(_cpu_fields(_cpu_delta(cpu_file), _client_cpu(time_file), requests))
    return record


def parse_pgbench(name, connections, text, cpu_file, time_file):
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    done = re.search(r"number of transactions actually processed: (\d+)", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    lat = re.search(r"latency average = ([\d.]+) ms", text)
    aborted = "Run was aborted" in text or "aborted in command" in text
    tx = int(done.group(1)) if done else 0
    record = {
        "kind": "pgbench", "name": name, "connections": connections,
        "tps": float(tps.group(1)) if tps else 0.0,
        "transactions": tx,
        "failed": int(failed.group(1)) if failed else 0,
        "aborted": aborted,
        "latency_avg_ms": float(lat.group(1)) if lat else None,
    }
    record.update(_cpu_fields(_cpu_delta(cpu_file), _client_cpu(time_file), tx))
    return record


def append(results, record):
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def cpu_sample(server_pid, postmaster_pid):
    def ticks(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0, 0
        # after the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
        return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])

    server = sum(ticks(server_pid)) if server_pid != "0" else 0
    own, reaped = ticks(postmaster_pid)
    postgres = own + reaped
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == postmaster_pid:
            postgres += int(fields[11]) + int(fields[12])
    with open("/proc/stat") as f:
        ticks_all = [int(x) for x in f.readline().split()[1:]]
    idle = ticks_all[3] + ticks_all[4]  # idle, iowait
    total = sum(ticks_all[:8])  # user..steal (guest time is inside user)
    print(server, postgres, total - idle, total)


# ------------------------------------------------------------------------------ report

def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def _sum(*values):
    return None if any(v is None for v in values) else sum(values)


def report(results_path, out_path, peak_rss_kib, peak_rss_connections, pool_size):
    records = [json.loads(line) for line in open(results_path, encoding="utf-8") if line.strip()]
    # Repeated runs: the best one counts (interference from the shared machine only ever
    # slows a run down); every run's rate is kept in *_runs.
    service, baseline, runs = {}, {}, {}
    for r in records:
        key = (r["name"], r["connections"])
        rate = r["rps"] if r["kind"] == "wrk" else r["tps"]
        runs.setdefault((r["kind"], key), []).append(round(rate, 1))
        best = service if r["kind"] == "wrk" else baseline
        if key not in best or rate > (best[key]["rps"] if r["kind"] == "wrk" else best[key]["tps"]):
            best[key] = r
    scenarios = []
    cpu_rows = []
    for name, conns in [("S0", 16), ("S0", 64), ("S1", 16), ("S1", 64), ("S2", 16), ("S2", 64),
                        ("S3", 16), ("S3", 64)]:
        s = service.get((name, conns))
        if s is None:
            continue
        b = baseline.get((name, conns))
        base_rps = b["tps"] if b else None
        scenarios.append({
            "name": name,
            "connections": conns,
            "service_rps": round(s["rps"], 1),
            "baseline_rps": round(base_rps, 1) if base_rps is not None else None,
            "ratio": round(s["rps"] / base_rps, 3) if base_rps else None,
            "p50_ms": _round(s["p50_ms"], 3),
            "p99_ms": _round(s["p99_ms"], 3),
            "non2xx": s["non2xx"],
            "socket_errors": s["socket_errors"],
            "baseline_failed": (b["failed"] + (1 if b["aborted"] else 0)) if b else None,
            "service_rps_runs": runs.get(("wrk", (name, conns))),
            "baseline_rps_runs": runs.get(("pgbench", (name, conns))),
            "cpu_us_per_request": {
                "server": _round(s.get("server_cpu_us")),
                "postgres": _round(s.get("pg_cpu_us")),
                "wrk": _round(s.get("client_cpu_us")),
                "other_load_pct": _round(s.get("other_load_pct")),
            },
            "baseline_cpu_us_per_tx": {
                "postgres": _round(b.get("pg_cpu_us")),
                "pgbench": _round(b.get("client_cpu_us")),
                "other_load_pct": _round(b.get("other_load_pct")),
            } if b else None,
        })
        cpu_rows.append((name, conns, s, b))
    at_pool = []
    for name in ("S1", "S2", "S3"):
        b = baseline.get((name + "-atpool", pool_size))
        s = service.get((name, 64))
        if b:
            at_pool.append({"name": name, "connections": pool_size, "baseline_rps": round(b["tps"], 1),
                            "ratio_service_64": round(s["rps"] / b["tps"], 3) if s and b["tps"] else None})
    sweep = [{"pool_size": int(r["name"].split("pool")[1]), "connections": r["connections"],
              "service_rps": round(r["rps"], 1), "p50_ms": _round(r["p50_ms"], 3),
              "p99_ms": _round(r["p99_ms"], 3), "non2xx": r["non2xx"],
              "service_rps_runs": runs.get(("wrk", (r["name"], r["connections"]))),
              "other_load_pct": _round(r.get("other_load_pct"))}
             for (name, _), r in sorted(service.items()) if name.startswith("S2-pool")]
    summary = {"scenarios": scenarios, "peak_rss_kib": int(peak_rss_kib),
               "peak_rss_connections": int(peak_rss_connections)}
    if sweep:
        summary["pool_sweep"] = sweep
    if at_pool:
        summary["baseline_at_pool_size"] = at_pool
    rss = service.get(("S1-rss", int(peak_rss_connections)))
    if rss:
        summary["peak_rss_run"] = {"name": "S1", "connections": rss["connections"],
                                   "service_rps": round(rss["rps"], 1), "non2xx": rss["non2xx"],
                                   "socket_errors": rss["socket_errors"]}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

    header = (f"{'scenario':<8} {'conns':>5} {'service/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'non2xx':>7} {'sockerr':>7} {'pgbench/s':>10} {'ratio':>6}  all runs (service | pgbench)")
    print(header)
    print("-" * len(header))
    for s in scenarios:
        print(f"{s['name']:<8} {s['connections']:>5} {s['service_rps']:>10.1f} "
              f"{_fmt(s['p50_ms'], '.2f'):>8} {_fmt(s['p99_ms'], '.2f'):>8} {s['non2xx']:>7} "
              f"{s['socket_errors']:>7} {_fmt(s['baseline_rps'], '.1f'):>10} "
              f"{_fmt(s['ratio'], '.2f'):>6}  "
              f"{' '.join(f'{x:.0f}' for x in s['service_rps_runs'])}"
              f"{' | ' + ' '.join(f'{x:.0f}' for x in s['baseline_rps_runs']) if s['baseline_rps_runs'] else ''}")
    for r in records:
        if r["kind"] == "pgbench" and (r["failed"] or r["aborted"]):
            print(f"WARNING: pgbench {r['name']} c={r['connections']}: {r['failed']} failed"
                  f"{', run aborted' if r['aborted'] else ''}")
    print()
    print("CPU per request in microseconds, in the counted runs (service: server + postgres + "
          "wrk; baseline: postgres + pgbench); other% = busy CPU of the rest of this shared "
          "machine during the run, in % of all its cores")
    header = (f"{'scenario':<8} {'conns':>5} {'server':>7} {'pg':>6} {'wrk':>6} {'total':>6} "
              f"{'other%':>6} | {'pg':>6} {'pgbench':>7} {'total':>6} {'other%':>6}")
    print(header)
    print("-" * len(header))
    for name, conns, s, b in cpu_rows:
        total = _sum(s.get("server_cpu_us"), s.get("pg_cpu_us"), s.get("client_cpu_us"))
        line = (f"{name:<8} {conns:>5} {_fmt(s.get('server_cpu_us'), '.0f'):>7} "
                f"{_fmt(s.get('pg_cpu_us'), '.0f'):>6} {_fmt(s.get('client_cpu_us'), '.0f'):>6} "
                f"{_fmt(total, '.0f'):>6} {_fmt(s.get('other_load_pct'), '.0f'):>6} |")
        if b:
            btotal = _sum(b.get("pg_cpu_us"), b.get("client_cpu_us"))
            line += (f" {_fmt(b.get('pg_cpu_us'), '.0f'):>6} {_fmt(b.get('client_cpu_us'), '.0f'):>7}"
                     f" {_fmt(btotal, '.0f'):>6} {_fmt(b.get('other_load_pct'), '.0f'):>6}")
        print(line)
    if at_pool:
        print()
        print(f"pgbench at the service's pool size ({pool_size} connections, for reference): " +
              ", ".join(f"{a['name']} {a['baseline_rps']:.0f} tx/s (service at 64 / this: "
                        f"{_fmt(a['ratio_service_64'], '.2f')})" for a in at_pool))
    if sweep:
        print()
        print("S2 at 64 connections by WASTEFLOW_POOL_SIZE (best run; all runs): " + ", ".join(
            f"{p['pool_size']} -> {p['service_rps']:.0f} req/s (p99 {_fmt(p['p99_ms'], '.1f')} ms,"
            f" non-2xx {p['non2xx']}; {p['service_rps_runs']})" for p in sweep))
        best = max(sweep, key=lambda p: p["service_rps"])
        print(f"best pool size for S2 at 64 connections: {best['pool_size']}")
    print()
    print(f"server peak RSS (VmHWM) after a {peak_rss_connections}-connection run: "
          f"{int(peak_rss_kib)} KiB ({int(peak_rss_kib) / 1024:.1f} MiB)"
          + (f"; that run: {rss['rps']:.0f} req/s, {rss['non2xx']} non-2xx, "
             f"{rss['socket_errors']} socket errors" if rss else ""))
    print()
    print("targets:")
    by = {(s["name"], s["connections"]): s for s in scenarios}
    for name, want in [("S1", 0.7), ("S2", 0.8), ("S3", 0.8)]:
        for conns in (16, 64):
            s = by.get((name, conns))
            if s and s["ratio"] is not None:
                print(f"  {name} c={conns}: ratio {s['ratio']:.2f} (target >= {want}) "
                      f"{'MET' if s['ratio'] >= want else 'NOT MET'}")
    bad = [s for s in scenarios if s["connections"] == 64 and (s["non2xx"] or s["socket_errors"])]
    print(f"  zero non-2xx at 64 connections: {'MET' if not bad else 'NOT MET'}"
          + "".join(f" [{s['name']}: {s['non2xx']} non-2xx, {s['socket_errors']} socket errors]"
                    for s in bad))
    rss_ok = int(peak_rss_kib) < 32 * 1024
    print(f"  peak RSS < 32 MiB at {peak_rss_connections} connections: "
          f"{'MET' if rss_ok else 'NOT MET'}")


# ------------------------------------------------------------------------------ perf

# (component, pattern) tried from the sampled leaf frame towards main: the first frame that
# matches names the component. Leaf helpers such as memmove, strlen or kernel frames match
# nothing and are charged to the caller that matches.
PERF_COMPONENTS = [
    ("shortest paths: graph_shortest_from, its heap, graph_path (lib/core/graph.c)",
     r"(graph_|heap_push|heap_pop)"),
    ("reading result fields: db_int64 -> strtoll, db_text, PQgetvalue (lib/db/pool.c)",
     r"(db_int64|db_text|db_is_null|db_rows|PQgetvalue|PQgetisnull|PQntuples|PQgetlength"
     r"|__GI_____strtoll_l_internal|__GI_____strtol_l_internal|strtoll)$"),
    ("building JSON text: strbuf_* (lib/util/strbuf.c)", r"strbuf_"),
    ("sorting and allocation plan (lib/core/alloc.c, qsort)",
     r"(alloc_|msort|__GI___qsort|qsort)"),
    ("handler code itself (render, plan, finish, ...)",
     r"(render|quantity_map|first_round|with_graph|plan|finish|lock_candidates|locked"
     r"|merge_types|response_json|pg_array|quantity_json|job_spec|read_request"
     r"|handle_\w+|api_\w+)$"),
    ("malloc/free", r"(malloc|_int_malloc|_int_free|__libc_malloc|__libc_calloc|__libc_free"
     r"|__GI___libc_free|calloc|realloc|_int_realloc|__libc_realloc|free|cfree"
     r"|malloc_consolidate|unlink_chunk)"),
    ("writing HTTP responses to sockets (writev)", r"(__GI___writev|writev|evbuffer_write)"),
    ("HTTP reply assembly (http_reply_*, evhttp_send)", r"(http_reply|evhttp_send|http_add_header)"),
    ("libpq: receiving and parsing results (conn_io_cb, PQconsumeInput, PQgetResult)",
     r"(conn_io_cb|conn_read_results|PQconsumeInput|PQgetResult|pqParseInput|pqReadData"
     r"|PQisBusy|batch_complete|__libc_recv|recv)"),
    ("libpq: sending queries (PQsendQueryPrepared, PQpipelineSync)",
     r"(PQsendQuery\w*|PQpipelineSync|PQflush|pqFlush|pqSendSome|db_conn_send|pump_cb"
     r"|__libc_send|send)$"),
    ("HTTP request reading, parsing, routing (evhttp, router, request_cb)",
     r"(evhttp_|request_cb|router_|bufferevent_|http_|json_|cJSON_|__libc_read|read)"),
    ("event loop and timers (epoll_wait, libevent)", r"(epoll_wait|event_|evmap_|timeout_)"),
]


def perf_breakdown(stream, results_path=None, name=None):
    """Reads `perf script` text of the server and prints each component's share of the
    samples (and microseconds per request, when the profiled run's record is given)."""
    patterns = [(label, re.compile(pattern)) for label, pattern in PERF_COMPONENTS]
    counts = {}
    total = 0
    block = []

    def account(frames):
        nonlocal total
        if not frames:
            return
        total += 1
        for frame in frames:
            if "[kernel.kallsyms]" in frame:
                continue
            symbol = frame.split()[1] if len(frame.split()) > 1 else ""
            symbol = symbol.split("+")[0]
            for label, regex in patterns:
                if regex.match(symbol):
                    counts[label] = counts.get(label, 0) + 1
                    return
        counts["other (kernel-only stacks, libc, libevent internals)"] = counts.get(
            "other (kernel-only stacks, libc, libevent internals)", 0) + 1

    for line in stream:
        if not line.strip():
            account(block[1:])
            block = []
        else:
            block.append(line.strip())
    account(block[1:])
    us = None
    if results_path and name:
        for line in open(results_path, encoding="utf-8"):
            record = json.loads(line)
            if record.get("name") == name and record.get("server_cpu_us"):
                us = record["server_cpu_us"]
    if us:
        print(f"  (server CPU in that run: {us:.0f} us per request; {total} samples)")
    else:
        print(f"  ({total} samples)")
    for label, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        share = 100.0 * count / total if total else 0.0
        extra = f"  ~{us * share / 100:.0f} us/req" if us else ""
        print(f"  {share:5.1f}%{extra}  {label}")


def _round(value, digits=1):
    return None if value is None else round(value, digits)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "pgbench-script":
        pgbench_script(argv[2], argv[3], argv[4])
    elif cmd == "reachable":
        reachable(argv[2], int(argv[3]))
    elif cmd in ("wrk", "pgbench"):
        name, conns, output, cpu_file, time_file, results = argv[2:8]
        text = open(output, encoding="utf-8", errors="replace").read()
        parse = parse_wrk if cmd == "wrk" else parse_pgbench
        append(results, parse(name, int(conns), text, cpu_file, time_file))
    elif cmd == "cpu":
        cpu_sample(argv[2], argv[3])
    elif cmd == "perf-breakdown":
        perf_breakdown(sys.stdin, *(argv[2:4]))
    elif cmd == "report":
        report(argv[2], argv[3], argv[4], argv[5], int(argv[6]))
    elif cmd == "statement-sql":
        print(read_statements(argv[2])[argv[3]])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
