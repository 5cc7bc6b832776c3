#!/usr/bin/env python3
"""Creates many CLIENT_CREDENTIALS clients through Tessera's API, for bench/run.sh.

  many_clients.py BASE_URL ADMIN_KEY TENANT COUNT OUT_FILE [THREADS]

Creates the tenant, then COUNT clients over THREADS keep-alive connections (default 8),
writes one `Authorization: Basic` value per client to OUT_FILE (what bench/request.lua
reads with BENCH_AUTH_FILE) and prints "COUNT SECONDS" on stdout. Exits 1 on any answer
but 200.
"""

import base64
import http.client
import json
import sys
import threading
import time
import urllib.parse


def basic(client_id, secret):
    encode = lambda part: urllib.parse.quote_plus(part, safe="")
    pair = f"{encode(client_id)}:{encode(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def main():
    base, admin_key, tenant, count, out = sys.argv[1:6]
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 8
    count = int(count)
    url = urllib.parse.urlsplit(base)
    headers = {"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"}

    def connection():
        return http.client.HTTPConnection(url.hostname, url.port, timeout=30)

    first = connection()
    first.request("PUT", f"/api/v1/tenants/{tenant}", json.dumps({"name": tenant}), headers)
    answer = first.getresponse()
    answer.read()
    if answer.status not in (200, 201):
        sys.exit(f"PUT /api/v1/tenants/{tenant} answered {answer.status}")

    body = json.dumps({
        "tenantId": tenant, "name": "many", "description": "benchmark client",
        "accessTokenValiditySeconds": 3600, "grantTypes": ["CLIENT_CREDENTIALS"],
        "accessType": "ONLINE", "enabled": True,
    })
    auths = [None] * count
    failures = []
    next_index = iter(range(count))
    lock = threading.Lock()

    def work():
        conn = connection()
        while True:
            with lock:
                index = next(next_index, None)
            if index is None or failures:
                return
            conn.request("POST", "/api/v1/oauth-clients", body, headers)
            answer = conn.getresponse()
            text = answer.read()
            if answer.status != 200:
                failures.append(f"POST /api/v1/oauth-clients answered {answer.status}: {text[:300]!r}")
                return
            created = json.loads(text)
            auths[index] = basic(created["id"], created["secret"])

    start = time.monotonic()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - start
    if failures:
        sys.exit(failures[0])
    with open(out, "w") as file:
        file.write("\n".join(auths) + "\n")
    print(f"{count} {elapsed:.3f}")


if __name__ == "__main__":
    main()
