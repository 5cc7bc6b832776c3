#!/usr/bin/env python3
"""Helpers for bench/run.sh: read wrk's --latency report, and print the results table.

  report.py parse WRK_OUTPUT_FILE
      prints one tab-separated line: requests/s, p50 ms, p99 ms, non-2xx/3xx count,
      socket errors, requests, and the status counts of bench/request.lua as
      "401=N,429=M" (or "-")
  report.py table RESULTS_TSV
      prints the Markdown table of every row run.sh recorded
  report.py targets RESULTS_TSV
      prints each target of issue 6 with what was measured: met, missed, or not yet
      measurable
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
    out = [header]
    for scenario, database, rps, p50, p99, errors, rss, note in rows:
        if rps == "-":
            ratio = "-"
        elif database in baseline and baseline[database] > 0:
            ratio = f"{float(rps) / baseline[database]:.2f}"
        else:
            ratio = "?"
        out.append([scenario, database, number(rps), p50, p99, number(errors), ratio, rss, note])
    widths = [max(len(row[i]) for row in out) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6, 7}
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


if __name__ == "__main__":
    commands = {"parse": parse, "table": table, "targets": targets}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2])
