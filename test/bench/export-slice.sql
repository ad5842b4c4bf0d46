-- One 200,000-order slice of an export of everything, inside the server (run with
-- test/bench/backend-cpu.py against a database of 1,000,000 orders): COPY of the SQL
-- function (what the worker ran up to 1.4) against crux.export_csv (1.5 on), both
-- sending their CSV to the client (psql throws it away).
SET work_mem = '256MB';
SET jit = off;
-- copy_rows
COPY (SELECT * FROM crux.export_rows('{}', 0, 200000)) TO STDOUT (FORMAT csv, HEADER) \g /dev/null
-- export_csv
SELECT (crux.export_csv('{}', 0, 200000, true)).csv \g /dev/null
