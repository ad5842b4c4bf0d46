/*
 * worker_main.c
 *		crux-export-worker: turns queued export jobs (crux.export_jobs) into CSV
 *		files and emails them to their requesters. This file owns the program:
 *		its options, logging, the connection that LISTENs on crux_orders_export,
 *		the main loop and its signals; the queue is worker_queue.c's.
 *
 * It sweeps for queued jobs when it starts, every --interval seconds and when
 * notified, since a notification sent while no worker listened is never
 * delivered. SIGTERM and SIGINT are taken only while it waits, so a job under way
 * is finished first.
 *
 * Connect as a superuser (or a role that may SET ROLE to every requester and
 * bypasses row-level security on crux.export_jobs).
 */
#define _GNU_SOURCE				/* asprintf */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

static volatile sig_atomic_t stop_requested = 0;
static char worker_name[128];

void
log_msg(const char *fmt,...)
{
	char		stamp[32];
	time_t		now = time(NULL);
	va_list		ap;

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(stderr, "%s crux-export-worker[%d]: ", stamp, (int) getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
handle_stop(int sig)
{
	(void) sig;
	stop_requested = 1;
}

static void
usage(void)
{
	printf("crux-export-worker turns queued crux_orders exports into CSV files and emails them.\n\n"
		   "Usage: crux-export-worker [OPTION]...\n\n"
		   "  -d, --dbname=CONNINFO      database to serve (default: the PG* variables); give it\n"
		   "                             once per database, e.g. per shard\n"
		   "      --read-dsn=CONNINFO    read the exports from this server, e.g. a hot standby\n"
		   "                             (default: the database above)\n"
		   "  -o, --output-dir=DIR       where CSV files go (default: .)\n"
		   "  -s, --smtp-url=URL         SMTP server, e.g. smtp://localhost:25 (default: no email)\n"
		   "  -f, --from=ADDRESS         sender address (default: crux-orders@localhost)\n"
		   "      --once                 drain the queue, then exit\n"
		   "      --interval=SECONDS     sweep for queued jobs this often (default: 30)\n"
		   "      --lease=SECONDS        how long a claimed job is ours (default: 600)\n"
		   "      --max-attempts=N       attempts before a job fails (default: 5)\n"
		   "      --attach-limit=BYTES   largest file attached to the email (default: 10485760)\n"
		   "      --backoff=SECONDS      wait before the first retry, doubling after each (default: 30)\n"
		   "  -j, --jobs=N               export a large selection in N slices in parallel,\n"
		   "                             one connection each, in one snapshot (default: 2)\n"
		   "      --slice-orders=N       fewest orders per slice (default: 20000)\n"
		   "      --work-mem=SIZE        work_mem of the exporting sessions, which holds the\n"
		   "                             tracking numbers in memory (default: 256MB;\n"
		   "                             empty: the server's setting)\n"
		   "      --keep-days=N          remove files older than N days and mark their jobs\n"
		   "                             expired (default: 0, keep them)\n"
		   "      --no-formula-escape    write text cells that begin with =, +, -, @, TAB or\n"
		   "                             CR as they are (default: with a leading ')\n"
		   "  -h, --help                 show this help, then exit\n");
}

/* Exits with status 2 when an option's value is out of range. */
static void
check_options(const Options *opt)
{
	if (opt->interval < 1 || opt->lease < 1 || opt->max_attempts < 1 ||
		opt->attach_limit < 0 || opt->backoff < 0 || opt->jobs < 1 || opt->jobs > MAX_JOBS ||
		opt->slice_orders < 1 || opt->keep_days < 0)
	{
		fprintf(stderr, "crux-export-worker: invalid arguments\n"
				"Try \"crux-export-worker --help\" for more information.\n");
		exit(2);
	}
	if (opt->n_databases > 1 && opt->read_dsn != NULL)
	{
		fprintf(stderr, "crux-export-worker: --read-dsn serves one database (one -d)\n");
		exit(2);
	}
	if (!address_is_plain(opt->from))
	{
		fprintf(stderr, "crux-export-worker: invalid --from \"%s\": not one plain address"
				" (local@domain)\n", opt->from);
		exit(2);
	}
}

/* The long options; the numbers stand for options without a short form. */
static const struct option long_options[] = {
	{"dbname", required_argument, NULL, 'd'},
	{"output-dir", required_argument, NULL, 'o'},
	{"smtp-url", required_argument, NULL, 's'},
	{"from", required_argument, NULL, 'f'},
	{"once", no_argument, NULL, 1},
	{"interval", required_argument, NULL, 2},
	{"lease", required_argument, NULL, 3},
	{"max-attempts", required_argument, NULL, 4},
	{"attach-limit", required_argument, NULL, 5},
	{"backoff", required_argument, NULL, 6},
	{"jobs", required_argument, NULL, 'j'},
	{"slice-orders", required_argument, NULL, 7},
	{"work-mem", required_argument, NULL, 8},
	{"keep-days", required_argument, NULL, 9},
	{"no-formula-escape", no_argument, NULL, 10},
	{"read-dsn", required_argument, NULL, 11},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0}
};

static void
parse_options(int argc, char **argv, Options *opt)
{
	int			c;

	*opt = (Options) {
		.conninfo = "", .output_dir = ".", .smtp_url = NULL,
		.from = "crux-orders@localhost", .once = false, .interval = 30,
		.lease = 600, .max_attempts = 5, .attach_limit = 10 * 1024 * 1024, .backoff = 30,
		.jobs = 2, .slice_orders = 20000, .work_mem = "256MB", .keep_days = 0,
		.formula_safe = true
	};
	while ((c = getopt_long(argc, argv, "d:o:s:f:j:h", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				if (opt->n_databases == MAX_DATABASES)
				{
					fprintf(stderr, "crux-export-worker: at most %d databases\n", MAX_DATABASES);
					exit(2);
				}
				opt->databases[opt->n_databases++] = optarg;
				break;
			case 'o':
				opt->output_dir = optarg;
				break;
			case 's':
				opt->smtp_url = optarg;
				break;
			case 'f':
				opt->from = optarg;
				break;
			case 1:
				opt->once = true;
				break;
			case 2:
				opt->interval = atoi(optarg);
				break;
			case 3:
				opt->lease = atoi(optarg);
				break;
			case 4:
				opt->max_attempts = atoi(optarg);
				break;
			case 5:
				opt->attach_limit = atol(optarg);
				break;
			case 6:
				opt->backoff = atoi(optarg);
				break;
			case 'j':
				opt->jobs = atoi(optarg);
				break;
			case 7:
				opt->slice_orders = atoll(optarg);
				break;
			case 8:
				opt->work_mem = optarg;
				break;
			case 9:
				opt->keep_days = atoi(optarg);
				break;
			case 10:
				opt->formula_safe = false;
				break;
			case 11:
				opt->read_dsn = optarg;
				break;
			case 'h':
				usage();
				exit(0);
			default:
				fprintf(stderr, "Try \"crux-export-worker --help\" for more information.\n");
				exit(2);
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "crux-export-worker: unexpected argument \"%s\"\n", argv[optind]);
		exit(2);
	}
	check_options(opt);
}
/* Runs a command with text parameters; returns the result or NULL after logging. */
PGresult *
run(PGconn *conn, ExecStatusType expected, const char *sql, int nparams,
	const char *const *params)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != expected)
	{
		log_msg("query failed: %s", PQerrorMessage(conn));
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Logs the notifications that arrived (their payload names the job). */
static void
consume_notifications(PGconn *conn)
{
	PGnotify   *n;

	PQconsumeInput(conn);
	while ((n = PQnotifies(conn)) != NULL)
	{
		json_object *payload = json_tokener_parse(n->extra);
		json_object *uuid;

		if (payload != NULL && json_object_object_get_ex(payload, "uuid", &uuid))
			log_msg("notified of export %s", json_object_get_string(uuid));
		json_object_put(payload);
		PQfreemem(n);
	}
}

/*
 * The output directory, created 0700 if missing; one that everyone may write
 * into (where others could plant or replace files) is refused.
 */
static bool
prepare_output_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
	{
		log_msg("could not create the output directory \"%s\": %s", dir, strerror(errno));
		return false;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
	{
		log_msg("the output directory \"%s\" is not a directory", dir);
		return false;
	}
	if (st.st_mode & S_IWOTH)
	{
		log_msg("the output directory \"%s\" is writable by everyone; exports hold customer"
				" data: use a directory only the worker's user can write (chmod o-w)", dir);
		return false;
	}
	return true;
}

static PGconn *
connect_and_listen(const Options *opt)
{
	PGconn	   *conn = PQconnectdb(opt->conninfo);
	PGresult   *res;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		log_msg("could not connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	res = run(conn, PGRES_COMMAND_OK, "SET application_name = 'crux-export-worker'", 0, NULL);
	PQclear(res);
	res = run(conn, PGRES_COMMAND_OK, "LISTEN crux_orders_export", 0, NULL);
	if (res == NULL)
	{
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

/*
 * Waits for a notification on any of the connections, a signal, or seconds; then
 * takes in the notifications that arrived.
 */
static void
wait_for_work(PGconn **conns, int n, int seconds, const sigset_t *wait_mask)
{
	fd_set		fds;
	int			max_fd = -1;
	struct timespec ts = {seconds, 0};

	FD_ZERO(&fds);
	for (int i = 0; i < n; i++)
		if (conns[i] != NULL)
		{
			FD_SET(PQsocket(conns[i]), &fds);
			max_fd = PQsocket(conns[i]) > max_fd ? PQsocket(conns[i]) : max_fd;
		}
	if (pselect(max_fd + 1, &fds, NULL, NULL, &ts, wait_mask) < 0 && errno != EINTR)
		log_msg("pselect failed: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		if (conns[i] != NULL)
			consume_notifications(conns[i]);
}

int
main(int argc, char **argv)
{
	Options		opt;
	Options		per_db[MAX_DATABASES];
	PGconn	   *conns[MAX_DATABASES] = {0};
	int			retry_delay = 1;
	struct sigaction sa = {0};
	sigset_t	stop_signals,
				wait_mask;

	parse_options(argc, argv, &opt);
	setvbuf(stderr, NULL, _IOLBF, 0);
	sa.sa_handler = handle_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/*
	 * A listening worker takes SIGTERM and SIGINT only while it waits (pselect
	 * unblocks them atomically), so a job under way is finished before it stops and
	 * a signal can never slip in between the check and the wait.
	 */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	if (!opt.once)
		sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask);
	signal(SIGPIPE, SIG_IGN);
	{
		char		host[64] = "";

		gethostname(host, sizeof(host) - 1);
		snprintf(worker_name, sizeof(worker_name), "%s:%d", host, (int) getpid());
		opt.name = worker_name;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	umask(077);					/* exports hold customer data: files 0600 */
	if (!prepare_output_dir(opt.output_dir))
		return 1;
	log_msg("starting; output in %s, %s", opt.output_dir,
			opt.smtp_url ? opt.smtp_url : "no email");

	if (opt.n_databases == 0)
		opt.databases[opt.n_databases++] = "";
	for (int i = 0; i < opt.n_databases; i++)
	{
		per_db[i] = opt;
		per_db[i].conninfo = opt.databases[i];
	}
	while (!stop_requested)
	{
		bool		any_down = false;

		for (int i = 0; i < opt.n_databases && !stop_requested; i++)
		{
			if (conns[i] == NULL && (conns[i] = connect_and_listen(&per_db[i])) == NULL)
			{
				if (opt.once)
					return 1;
				any_down = true;
				continue;
			}
			if (!sweep_queue(conns[i], &per_db[i], &stop_requested))
			{
				log_msg("connection lost; reconnecting");
				PQfinish(conns[i]);
				conns[i] = NULL;
				any_down = true;
			}
		}
		if (opt.once)
			break;
		/* a database away: try again soon, backing off; else at the next sweep */
		retry_delay = any_down ? (retry_delay < 30 ? retry_delay * 2 : 30) : 1;
		wait_for_work(conns, opt.n_databases, any_down ? retry_delay : opt.interval,
					  &wait_mask);
	}
	log_msg("stopping");
	for (int i = 0; i < opt.n_databases; i++)
		PQfinish(conns[i]);
	curl_global_cleanup();
	return 0;
}
