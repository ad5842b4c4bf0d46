#!/usr/bin/env python3
"""Backend memory contexts over many calls (issue #4), printed as a psql script:
ROUNDS rounds (default 20000) of the request shapes of memory.sh (three requests and
one bad request caught in a DO block), each call its own statement, with the sum of
pg_backend_memory_contexts (bytes in use, bytes allocated, contexts) echoed after a
warm-up of 500 rounds and then every quarter. Run by memory.sh:
    python3 test/bench/memory-contexts.py [ROUNDS] | psql -X -q
"""
import sys

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
requests = [
    '{"line_item_status": ["allocated", "delivered"], "status_conjunction": "and", "limit": 5}',
    '{"term": "SKU000123", "sort": {"key": "sku_id", "dir": "asc"}}',
    '{"start": 100, "limit": 110, "start_date": "2017-01-01",'
    ' "org_uuids": ["71f82408-0503-1caf-aec6-98e6445b893a"]}',
]
bad = ("DO $$ BEGIN PERFORM crux_get_orders('{\"status_conjunction\": \"xor\"}');"
       " EXCEPTION WHEN invalid_parameter_value THEN NULL; END $$;")


def calls(n):
    for _ in range(n):
        for r in requests:
            print("SELECT crux_get_orders('%s') IS NULL;" % r)
        print(bad)


def snapshot(done):
    print("\\o")
    print("SELECT sum(total_bytes - free_bytes) AS used, sum(total_bytes) AS allocated,"
          " count(*) AS contexts FROM pg_catalog.pg_backend_memory_contexts \\gset")
    print("\\echo memory contexts after %d rounds: :used bytes in use, :allocated allocated,"
          " :contexts contexts" % done)
    print("\\o /dev/null")


print("\\o /dev/null")
calls(500)
snapshot(500)
quarter = max(rounds // 4, 1)
done = 500
while done < 500 + rounds:
    calls(quarter)
    done += quarter
    snapshot(done)
