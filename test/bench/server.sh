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

# 2 MB huge pages for the shared memory: 4.3 GB, shared_buffers and the rest
bench_huge_pages=2200

# CRUX_BENCH_HUGE_PAGES=1 (as root): shared_buffers in 2 MB huge pages, as
# PostgreSQL recommends for large shared memory: the kernel reserves them for the
# run (vm.nr_hugepages), the server must use them (huge_pages=on), and the
# reservation is given back when the benchmark script exits.
if [ "${CRUX_BENCH_HUGE_PAGES:-0}" = 1 ]; then
    bench_previous_hugepages=$(cat /proc/sys/vm/nr_hugepages)
    sysctl -q -w vm.nr_hugepages=$bench_huge_pages
    trap 'sysctl -q -w vm.nr_hugepages=$bench_previous_hugepages' EXIT
    bench_server_options+=(-o huge_pages=on)
fi
