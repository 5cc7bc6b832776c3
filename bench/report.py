#!/usr/bin/env python3
"""Helpers for bench/run.sh and bench/soak.sh: read wrk's --latency report, and print the
results tables.

  report.py parse WRK_OUTPUT_FILE
      prints one tab-separated line: requests/s, p50 ms, p99 ms, non-2xx/3xx count,
      socket errors, requests, and the status counts of bench/request.lua as
      "401=N,429=M" (or "-")
  report.py table RESULTS_TSV
      prints the Markdown table of every row run.sh recorded
  report.py targets RESULTS_TSV
      prints each target of issue 6 with what was measured: met, missed, or not yet
      measurable
  report.py count5xx STATUSES
      prints how many of parse's status counts ("200=N,503=M" or "-") are 5xx
  report.py samples SAMPLES_CSV WARMUP_SECONDS
      bench/soak.sh's samples (phase,seconds,rss_kib,fds,threads,database_kib; phase
      "before" the traffic, "soak" during it, "after" it): prints one tab-separated line:
      of the "soak" samples from WARMUP_SECONDS on, their count, RSS min, max (KiB) and
      least-squares slope (KiB/min), fds min, max and slope (per min), threads min and
      max; then RSS, fds and the database's size (KiB) before and after the traffic
  report.py soak-traffic RESULTS_TSV
      prints the Markdown table of bench/soak.sh's traffic rows
  report.py soak-memory MEMORY_TSV WARMUP_SECONDS
      prints the Markdown table of bench/soak.sh's samples, one row per database
"""

import re
import sys

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def to_ms(text):
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * UNITS_MS[match.group(2)]


def parse(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if not rps:
        sys.exit(f"report.py: no 'Requests/sec' in {path}")
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", text, re.M))
    total = re.search(r"^\s+(\d+) requests in", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    statuses = re.findall(r"^status (\d+): (\d+)$", text, re.M)
    fields = [
        f"{float(rps.group(1)):.0f}",
        f"{to_ms(percentiles['50']):.3f}" if "50" in percentiles else "nan",
        f"{to_ms(percentiles['99']):.3f}" if "99" in percentiles else "nan",
        non2xx.group(1) if non2xx else "0",
        str(sum(int(n) for n in socket.groups())) if socket else "0",
        total.group(1) if total else "0",
        ",".join(f"{code}={count}" for code, count in sorted(statuses)) or "-",
    ]
    print("\t".join(fields))


def read_rows(path):
    """Rows: scenario, database, rps, p50, p99, errors, rss MiB, note (tab-separated)."""
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n").split("\t") for line in handle if line.strip()]


def healthz_rates(rows):
    return {r[1]: float(r[2]) for r in rows if r[0] == "healthz" and r[2] != "-"}


def number(text):
    return f"{int(text):,}" if text.isdigit() else text


def markdown(header, rows, numeric):
    """Prints a Markdown table; the columns of `numeric` (indexes) right-aligned."""
    out = [header] + rows
    widths = [max(len(row[i]) for row in out) for i in range(len(header))]
    for index, row in enumerate(out):
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print("| " + " | ".join(cells) + " |")
        if index == 0:
            rule = [
                "-" * (widths[i] + 1) + ":" if i in numeric else "-" * (widths[i] + 2)
                for i in range(len(header))
            ]
            print("|" + "|".join(rule) + "|")


def table(path):
    rows = read_rows(path)
    baseline = healthz_rates(rows)
    header = [
        "scenario",
        "database",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "vs /healthz",
        "peak RSS MiB",
        "note",
    ]
    out = []
    for scenario, database, rps, p50, p99, errors, rss, note in rows:
        if rps == "-":
            ratio = "-"
        elif database in baseline and baseline[database] > 0:
            ratio = f"{float(rps) / baseline[database]:.2f}"
        else:
            ratio = "?"
        out.append([scenario, database, number(rps), p50, p99, number(errors), ratio, rss, note])
    markdown(header, out, {2, 3, 4, 5, 6, 7})


# Issue 6's targets: (scenario row, what, check on (rps, p99, ratio, rss), wanted).
TARGETS = [
    ("client_credentials ES256", "requests/s", lambda m: m["rps"] >= 40_000, ">= 40,000"),
    ("client_credentials ES256", "p99", lambda m: m["p99"] <= 5.0, "<= 5 ms"),
    ("client_credentials ES256", "ratio to /healthz", lambda m: m["ratio"] >= 0.45, ">= 0.45"),
    # 100 MB = 95.4 MiB; the row's RSS is the server's VmHWM after the scenario.
    ("client_credentials ES256", "peak RSS", lambda m: m["rss"] <= 100e6 / 2**20, "<= 100 MB"),
    ("client_credentials RS256", "requests/s", lambda m: m["rps"] >= 3_500, ">= 3,500"),
    ("introspect ES256", "requests/s", lambda m: m["rps"] >= 20_000, ">= 20,000"),
    ("jwks", "requests/s", lambda m: m["rps"] >= 80_000, ">= 80,000"),
    (
        "flood: good clients B+C, during flood",
        "share of their rate alone",
        lambda m: m["share"] >= 0.5,
        ">= 50%",
    ),
    ("flood: good clients B+C, during flood", "peak RSS during the flood", None, "bounded"),
    # Issue 9.
    ("many clients: creation through the API", "clients/s", lambda m: m["rps"] >= 1_000, ">= 1,000"),
    (
        "client_credentials ES256, many clients, fresh start",
        "share of the one-client rate",
        lambda m: m["one_client_share"] >= 0.9,
        ">= 90%",
    ),
    # Issue 10.
    (
        "refresh ES256",
        "requests/s",
        lambda m: m["rps"] >= (5_000 if m["database"] == "sqlite" else 3_000),
        ">= 5,000 (SQLite), >= 3,000 (PostgreSQL)",
    ),
    ("refresh ES256", "p99", lambda m: m["p99"] <= 20.0, "<= 20 ms"),
]


def targets(path):
    rows = read_rows(path)
    baseline = healthz_rates(rows)
    by_key = {(r[0], r[1]): r for r in rows}
    databases = list(dict.fromkeys(r[1] for r in rows))
    out = [["target", "database", "wanted", "measured", "verdict"]]
    for scenario, what, check, wanted in TARGETS:
        for database in databases:
            row = by_key.get((scenario, database))
            label = f"{scenario}: {what}"
            if row is None:
                out.append([label, database, wanted, "-", "not run"])
                continue
            if row[2] == "-":
                why = (
                    "not yet measurable: endpoint not implemented"
                    if "not implemented" in row[7]
                    else row[7]
                )
                out.append([label, database, wanted, "-", why])
                continue
            alone = by_key.get(("flood: good clients B+C, alone", database))
            one_client = by_key.get(("client_credentials ES256", database))
            m = {
                "database": database,
                "rps": float(row[2]),
                "p99": float(row[4]) if row[4] != "-" else 0.0,
                "ratio": float(row[2]) / baseline[database] if baseline.get(database) else 0.0,
                "rss": float(row[6]) if row[6] != "-" else 0.0,
                "one_client_share": float(row[2]) / float(one_client[2])
                if one_client and one_client[2] not in ("-", "0")
                else 0.0,
                "share": float(row[2]) / float(alone[2]) if alone and alone[2] not in ("-", "0") else 0.0,
            }
            shown = {
                "requests/s": f"{m['rps']:,.0f}",
                "p99": f"{m['p99']:.2f} ms",
                "ratio to /healthz": f"{m['ratio']:.2f}",
                "peak RSS": f"{m['rss']:.1f} MiB",
                "share of their rate alone": f"{100 * m['share']:.0f}%",
                "peak RSS during the flood": f"{m['rss']:.1f} MiB",
                "clients/s": f"{m['rps']:,.0f}",
                "share of the one-client rate": f"{100 * m['one_client_share']:.0f}%",
            }[what]
            if check is None:
                verdict = "see value (no number in issue 6)"
            else:
                verdict = "met" if check(m) else "MISSED"
            out.append([label, database, wanted, shown, verdict])
    widths = [max(len(row[i]) for row in out) for i in range(5)]
    for index, row in enumerate(out):
        print("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if index == 0:
            print("|-" + "-|-".join("-" * w for w in widths) + "-|")


def count5xx(statuses):
    pairs = [pair.split("=") for pair in statuses.split(",") if "=" in pair]
    print(sum(int(count) for code, count in pairs if 500 <= int(code) <= 599))


def slope_per_minute(points):
    """Least-squares slope of (seconds, value) points, per minute; nan under 3 points."""
    if len(points) < 3:
        return float("nan")
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    if var_x == 0:
        return float("nan")
    cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return 60.0 * cov / var_x


def samples(path, warmup):
    with open(path, encoding="utf-8") as handle:
        rows = [line.strip().split(",") for line in handle.readlines()[1:] if line.strip()]

    def column(index, rows):
        return [(float(r[1]), float(r[index])) for r in rows if len(r) > index and r[index] != ""]

    def value(points, pick):
        return f"{pick(y for _, y in points):.0f}" if points else "nan"

    def only(phase):
        return [r for r in rows if r[0] == phase]

    kept = [r for r in only("soak") if float(r[1]) >= float(warmup)]
    rss, fds, threads = column(2, kept), column(3, kept), column(4, kept)
    before, after = only("before"), only("after")
    fields = [
        str(len(kept)),
        value(rss, min),
        value(rss, max),
        f"{slope_per_minute(rss):.1f}",
        value(fds, min),
        value(fds, max),
        f"{slope_per_minute(fds):.2f}",
        value(threads, min),
        value(threads, max),
        value(column(2, before), min),
        value(column(2, after), min),
        value(column(3, before), min),
        value(column(3, after), min),
        value(column(5, before), min),
        value(column(5, after), min),
    ]
    print("\t".join(fields))


def soak_traffic(path):
    """Rows: database, traffic, connections, requests, rps, p50, p99, non-2xx, 5xx,
    socket errors, statuses."""
    header = [
        "database",
        "traffic",
        "conns",
        "requests",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "5xx",
        "socket errors",
        "statuses",
    ]
    rows = []
    for row in read_rows(path):
        database, traffic, conns, requests, rps, p50, p99, non2xx, fives, socket, statuses = row
        rows.append(
            [database, traffic, conns, number(requests), number(rps), p50, p99,
             number(non2xx), number(fives), number(socket), statuses]
        )
    markdown(header, rows, {2, 3, 4, 5, 6, 7, 8, 9})


def soak_memory(path, warmup):
    header = [
        "database",
        "samples",
        "RSS min–max MiB",
        "RSS slope KiB/min",
        "fds min–max",
        "fds slope /min",
        "threads",
        "RSS before → after MiB",
        "fds before → after",
        "database before → after MiB",
    ]

    def mib(kib):
        return "nan" if kib == "nan" else f"{float(kib) / 1024:.1f}"

    rows = []
    for row in read_rows(path):
        (database, count, rss_min, rss_max, rss_slope, fds_min, fds_max, fds_slope,
         threads_min, threads_max, rss_before, rss_after, fds_before, fds_after,
         db_before, db_after) = row
        rows.append([
            database,
            count,
            f"{mib(rss_min)}–{mib(rss_max)}",
            rss_slope,
            f"{fds_min}–{fds_max}",
            fds_slope,
            threads_min if threads_min == threads_max else f"{threads_min}–{threads_max}",
            f"{mib(rss_before)} → {mib(rss_after)}",
            f"{fds_before} → {fds_after}",
            f"{mib(db_before)} → {mib(db_after)}",
        ])
    markdown(header, rows, {1, 3, 5})
    print()
    print(f"min, max and slopes: the samples during the traffic from {warmup} s on (the"
          " warm-up left out); before and after: a sample before the traffic starts and"
          " one a second after it ends")


if __name__ == "__main__":
    commands = {
        "parse": (parse, 1),
        "table": (table, 1),
        "targets": (targets, 1),
        "count5xx": (count5xx, 1),
        "samples": (samples, 2),
        "soak-traffic": (soak_traffic, 1),
        "soak-memory": (soak_memory, 2),
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    command, arity = commands[sys.argv[1]]
    if len(sys.argv) != 2 + arity:
        sys.exit(__doc__)
    command(*sys.argv[2:])
