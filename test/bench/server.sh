# Sourced by the benchmark scripts: the server settings every benchmark runs with
# (a 2-core, 24 GiB machine; memory sized so 1M orders stay cached), as
# pg_virtualenv -o options.
bench_server_options=(
    -o shared_buffers=4GB
    -o work_mem=256MB
    -o maintenance_work_mem=1GB
    -o max_wal_size=20GB
    -o checkpoint_timeout=30min
    -o synchronous_commit=off
    -o wal_level=minimal
    -o max_wal_senders=0
)
