"""A process's private memory, as the kernel counts it (for test/memory/run.py and
test/bench/export-memory.py)."""


def rss_anon_kb(pid):
    """RssAnon of /proc/PID/status in kB: the process's anonymous resident memory
    (for a backend: its memory contexts and its own mappings, not shared buffers)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0
