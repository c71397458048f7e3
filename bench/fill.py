#!/usr/bin/python3
"""Fills an etcd v3 endpoint (etcd or Conclave) with N distinct keys for memory measurements.

Usage: bench/fill.py HOST:PORT[,HOST:PORT...] [--keys 1000000] [--val-size 256] [--txn-ops 100] [--threads 4]
Keys are fill/000000000000 ... (16 bytes), each written once, in transactions of --txn-ops puts
(etcd's default --max-txn-ops is 128). Threads are spread over the endpoints. A failed transaction
(a leader change on a loaded machine) is retried on the next endpoint, up to 10 times with a
short pause: the puts are idempotent. Prints the elapsed time, the rate and the retries. Needs python3-etcd3 (scripts/install-test-deps.sh).
"""
import argparse
import sys
import threading
import time

import etcd3


def main():
    p = argparse.ArgumentParser()
    p.add_argument("endpoints")
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--val-size", type=int, default=256)
    p.add_argument("--txn-ops", type=int, default=100)
    p.add_argument("--threads", type=int, default=4)
    a = p.parse_args()
    endpoints = a.endpoints.split(",")
    value = b"v" * a.val_size
    txns = (a.keys + a.txn_ops - 1) // a.txn_ops
    next_txn = [0]
    lock = threading.Lock()
    errors = []

    retries = [0]

    def connect(n):
        host, port = endpoints[n % len(endpoints)].rsplit(":", 1)
        return etcd3.client(host=host, port=int(port), timeout=30)

    def worker(i):
        n = i
        client = connect(n)
        try:
            while True:
                with lock:
                    t = next_txn[0]
                    next_txn[0] += 1
                if t >= txns:
                    return
                first = t * a.txn_ops
                for attempt in range(11):
                    try:
                        puts = [client.transactions.put("fill/%011d" % k, value)
                                for k in range(first, min(first + a.txn_ops, a.keys))]
                        client.transaction(compare=[], success=puts, failure=[])
                        break
                    except Exception:  # noqa: BLE001 - retried, then reported
                        if attempt == 10:
                            raise
                        with lock:
                            retries[0] += 1
                        client.close()
                        time.sleep(0.5)
                        n += 1
                        client = connect(n)
        except Exception as e:  # noqa: BLE001 - reported and turned into the exit code
            errors.append(repr(e))
        finally:
            client.close()

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    if errors:
        print("fill: failed: " + errors[0], file=sys.stderr)
        return 1
    print("fill: %d keys of %d B in %.1f s (%.0f keys/s, %d retried transactions)"
          % (a.keys, a.val_size, elapsed, a.keys / elapsed, retries[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
