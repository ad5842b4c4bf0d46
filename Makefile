# crux_orders: PGXS build. `make && make install` builds and installs the extension
# and the export worker; `make installcheck` runs the pg_regress suite (sql/ and
# expected/) against a running server; test/run.sh runs everything.

EXTENSION = crux_orders crux_orders_proxy
MODULE_big = crux_orders
OBJS = src/crux_orders.o src/request.o src/formats.o src/query.o src/totals.o src/index_count.o src/count_ranges.o src/pages.o src/org_walks.o src/cursor_merge.o src/tenancy.o src/output.o src/export.o src/summaries.o src/counts.o src/tracking.o src/csv.o src/csv_cells.o src/export_columns.o src/versions.o src/timeout.o src/merge.o src/details.o src/skus.o src/pending_summaries.o
DATA = $(wildcard src/crux_orders--*.sql) $(wildcard src/crux_orders_proxy--*.sql)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=crux_orders

PG_CPPFLAGS = -Isrc
# -Wno-unused-parameter: PostgreSQL's own headers have unused parameters.
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the shared header
$(OBJS): src/crux_orders.h src/query.h src/csv.h src/count_ranges.h

# The export worker, a client program: its own build rule, installed next to
# PostgreSQL's programs (pg_config --bindir).
# The test build, crux-export-worker-test, adds the hooks the worker's tests use
# (CRUX_WORKER_TEST_HOOKS); it is built here and never installed.
WORKER = src/crux-export-worker
WORKER_TEST = src/crux-export-worker-test
EXTRA_CLEAN = $(WORKER) $(WORKER_TEST)
all: $(WORKER) $(WORKER_TEST)
WORKER_SRCS = src/worker_main.c src/worker_queue.c src/worker_export.c src/worker_lease.c \
	src/worker_mail.c src/worker_output.c src/worker_merge.c src/worker_config.c \
	src/worker_status.c
WORKER_BUILD = $(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-I$(shell $(PG_CONFIG) --includedir) $(WORKER_SRCS) \
	-L$(shell $(PG_CONFIG) --libdir) -lpq -ljson-c -lcurl -pthread
$(WORKER): $(WORKER_SRCS) src/worker.h src/worker_output.h
	$(WORKER_BUILD) -o $@
$(WORKER_TEST): $(WORKER_SRCS) src/worker.h src/worker_output.h
	$(WORKER_BUILD) -DCRUX_WORKER_TEST_HOOKS -o $@
install: install-worker
install-worker: $(WORKER)
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) $(WORKER) '$(DESTDIR)$(bindir)/crux-export-worker'
.PHONY: install-worker
