/*
 * worker.c
 *		crux-export-worker: turns queued export jobs (crux.export_jobs) into CSV
 *		files and emails them to their requesters.
 *
 * It LISTENs on crux_orders_export and also sweeps for queued jobs when it starts
 * and every --interval seconds, since a notification sent while no worker listened
 * is never delivered. A job is claimed with FOR UPDATE SKIP LOCKED and a lease,
 * which a heartbeat renews while the job runs (worker_lease.c); a job whose lease
 * lapsed (its worker died) is claimed again, up to --max-attempts claims. An
 * attempt that no longer owns its job (cancelled, or claimed by another attempt)
 * is stopped, and is fenced before its file is put in place, before its email and
 * at completion: it keeps no file and sends nothing.
 *
 * Each export runs as the job's requester (SET ROLE, and its JWT claims), so it
 * holds exactly what the requester could see, and only while the requester still
 * acts for the job's organization. The CSV is streamed into a temporary file of
 * the attempt's own (worker_export.c), private to the worker's user, renamed into
 * place when complete, then sent to the job's address if it is one plain address
 * (worker_mail.c). Failed attempts are retried with exponential backoff; after
 * --max-attempts the job is failed with the reason. With --keep-days, files older
 * than that are removed and their jobs marked expired.
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
#include "worker_output.h"


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
		   "  -d, --dbname=CONNINFO      database to connect to (default: the PG* variables)\n"
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
	if (!address_is_plain(opt->from))
	{
		fprintf(stderr, "crux-export-worker: invalid --from \"%s\": not one plain address"
				" (local@domain)\n", opt->from);
		exit(2);
	}
}

static void
parse_options(int argc, char **argv, Options *opt)
{
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
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
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
				opt->conninfo = optarg;
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

static char *
dup_or_null(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? NULL : strdup(PQgetvalue(res, 0, col));
}

static void
free_job(Job *job)
{
	free(job->request);
	free(job->requested_by);
	free(job->claims);
	free(job->email);
	free(job->organization);
}

/*
 * Fails the jobs whose lease lapsed --max-attempts times: their worker died (or
 * lost its connection) at every attempt.
 */
static void
fail_abandoned_jobs(PGconn *conn, const Options *opt)
{
	char		max_attempts[16];
	const char *params[1] = {max_attempts};
	PGresult   *res;

	snprintf(max_attempts, sizeof(max_attempts), "%d", opt->max_attempts);
	res = run(conn, PGRES_TUPLES_OK,
			  "UPDATE crux.export_jobs"
			  "   SET status = 'failed', finished_at = now(), lease_until = NULL,"
			  "       error = format('its worker stopped before the end in each of its %s attempts"
			  " (the last on %s)', attempts, worker)"
			  " WHERE status = 'running' AND lease_until < now() AND attempts >= $1::int"
			  " RETURNING uuid",
			  1, params);
	for (int i = 0; res != NULL && i < PQntuples(res); i++)
		log_msg("export %s failed: its worker stopped in each of its attempts",
				PQgetvalue(res, i, 0));
	PQclear(res);
}

/*
 * Claims the oldest job that is queued and due, or running with a lapsed lease.
 * Returns false when there is none.
 */
static bool
claim_job(PGconn *conn, const Options *opt, Job *job)
{
	char		lease[32];
	const char *params[2] = {lease, worker_name};
	PGresult   *res;

	fail_abandoned_jobs(conn, opt);
	snprintf(lease, sizeof(lease), "%d seconds", opt->lease);
	res = run(conn, PGRES_TUPLES_OK,
			  "UPDATE crux.export_jobs j"
			  "   SET status = 'running', attempts = j.attempts + 1,"
			  "       started_at = now(), lease_until = now() + $1::interval, worker = $2"
			  " WHERE j.uuid = (SELECT q.uuid FROM crux.export_jobs q"
			  "                  WHERE q.status IN ('queued', 'running')"
			  "                    AND (q.lease_until IS NULL OR q.lease_until < now())"
			  "                  ORDER BY q.created_at"
			  "                  FOR UPDATE SKIP LOCKED LIMIT 1)"
			  " RETURNING j.uuid, j.attempts, j.request::text,"
			  "   j.requested_by, j.claims::text, j.email, j.organization_uuid::text",
			  2, params);
	if (res == NULL || PQntuples(res) == 0)
	{
		PQclear(res);
		return false;
	}
	memset(job, 0, sizeof(*job));
	snprintf(job->uuid, sizeof(job->uuid), "%s", PQgetvalue(res, 0, 0));
	job->attempt = atoi(PQgetvalue(res, 0, 1));
	job->request = dup_or_null(res, 2);
	job->requested_by = dup_or_null(res, 3);
	job->claims = dup_or_null(res, 4);
	job->email = dup_or_null(res, 5);
	job->organization = dup_or_null(res, 6);
	PQclear(res);
	return true;
}

/* Marks our attempt done; false if the lease lapsed and another attempt owns it. */
static bool
finish_job(PGconn *conn, const Job *job, long rows, long bytes, const char *path)
{
	char		attempt[16],
				rows_s[32],
				bytes_s[32];
	const char *params[5] = {job->uuid, attempt, rows_s, bytes_s, path};
	PGresult   *res;
	bool		ours;

	snprintf(attempt, sizeof(attempt), "%d", job->attempt);
	snprintf(rows_s, sizeof(rows_s), "%ld", rows);
	snprintf(bytes_s, sizeof(bytes_s), "%ld", bytes);
	res = run(conn, PGRES_COMMAND_OK,
			  "UPDATE crux.export_jobs SET status = 'done', finished_at = now(),"
			  "       row_count = $3, bytes = $4, file_path = $5, lease_until = NULL, error = NULL"
			  " WHERE uuid = $1 AND attempts = $2 AND status = 'running'",
			  5, params);
	ours = res != NULL && strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	return ours;
}

/*
 * Records a failed attempt: queued again after a backoff, or failed when its
 * attempts are spent or the reason is one no retry can change (for_good).
 */
static void
fail_attempt(PGconn *conn, const Options *opt, const Job *job, const char *error,
			 bool for_good)
{
	char		attempt[16],
				max_attempts[16],
				backoff[32];
	const char *params[6] = {job->uuid, attempt, error, max_attempts, backoff,
	for_good ? "true" : "false"};
	long		delay = (long) opt->backoff << (job->attempt < 12 ? job->attempt - 1 : 11);
	PGresult   *res;

	snprintf(attempt, sizeof(attempt), "%d", job->attempt);
	snprintf(max_attempts, sizeof(max_attempts), "%d", opt->max_attempts);
	snprintf(backoff, sizeof(backoff), "%ld seconds", delay < 3600 ? delay : 3600);
	res = run(conn, PGRES_COMMAND_OK,
			  "UPDATE crux.export_jobs"
			  "   SET status = CASE WHEN attempts >= $4::int OR $6 THEN 'failed' ELSE 'queued' END,"
			  "       finished_at = CASE WHEN attempts >= $4::int OR $6 THEN now() END,"
			  "       lease_until = CASE WHEN attempts >= $4::int OR $6 THEN NULL"
			  "                          ELSE now() + $5::interval END,"
			  "       error = $3"
			  " WHERE uuid = $1 AND attempts = $2 AND status = 'running'",
			  6, params);
	PQclear(res);
	log_msg("export %s attempt %d failed: %s", job->uuid, job->attempt, error);
}

/* The attempt's temporary file; with attempt 0, the job's file. */
static char *
job_file(const Options *opt, const Job *job, int attempt)
{
	char	   *path;

	if ((attempt > 0 ?
		 asprintf(&path, "%s/.crux-orders-%s-%d.csv.tmp", opt->output_dir, job->uuid, attempt) :
		 asprintf(&path, "%s/crux-orders-%s.csv", opt->output_dir, job->uuid)) < 0)
		abort();
	return path;
}

/*
 * Removes what earlier attempts of the job, whose workers died, left behind:
 * their temporary files and their slices' own files.
 */
static void
remove_earlier_attempts_files(const Options *opt, const Job *job)
{
	for (int attempt = 1; attempt < job->attempt; attempt++)
	{
		char	   *tmp_path = job_file(opt, job, attempt);
		char	   *slice_path;

		unlink(tmp_path);
		for (int k = 1; k < MAX_JOBS; k++)
		{
			if (asprintf(&slice_path, "%s.%d", tmp_path, k) < 0)
				abort();
			unlink(slice_path);
			free(slice_path);
		}
		free(tmp_path);
	}
}

/*
 * After the lease was lost: a cancelled job keeps no file, even one this
 * attempt put in place; a job another attempt owns keeps it for that attempt.
 */
static void
forget_lost_attempt(PGconn *conn, const Job *job, const char *path)
{
	const char *params[1] = {job->uuid};
	PGresult   *res = run(conn, PGRES_TUPLES_OK,
						  "SELECT status FROM crux.export_jobs WHERE uuid = $1", 1, params);

	if (res != NULL && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "cancelled") == 0)
		unlink(path);
	PQclear(res);
}

/*
 * Puts the complete file in place and emails it, each only while the job still
 * carries this attempt, then marks the job done.
 */
static void
deliver(PGconn *conn, const Options *opt, const Job *job, const char *tmp_path, long rows,
		long bytes)
{
	char	   *path = job_file(opt, job, 0);
	char	   *error = NULL;
	const char *reason;

	if (rename(tmp_path, path) != 0)
	{
		if (asprintf(&error, "could not rename \"%s\": %s", tmp_path, strerror(errno)) < 0)
			abort();
		unlink(tmp_path);
	}
	else if (job->email != NULL && opt->smtp_url != NULL &&
			 !lease_lost(job->lease, conn, &reason))
		error = send_email(opt, job, path, rows, bytes);

	if (lease_lost(job->lease, NULL, &reason))
		forget_lost_attempt(conn, job, path);
	else if (error != NULL)
	{
		unlink(path);
		fail_attempt(conn, opt, job, error, false);
	}
	else if (finish_job(conn, job, rows, bytes, path))
		log_msg("export %s done: %ld rows, %ld bytes, %s%s", job->uuid, rows, bytes, path,
				job->email && opt->smtp_url ? ", emailed" : "");
	else
	{
		log_msg("export %s: the job no longer carries attempt %d", job->uuid, job->attempt);
		forget_lost_attempt(conn, job, path);
	}
	free(error);
	free(path);
}

/*
 * Exports the job into tmp_path as its requester, in one REPEATABLE READ
 * transaction. Returns the rows written, -1 with *error set, or -2 with *error
 * set when the requester no longer acts for the job's organization.
 */
static long
export_as_requester(PGconn *conn, const Options *opt, const Job *job, const char *tmp_path,
					long *bytes, char **error)
{
	long		rows = -1;
	int			acts;

	lease_watch(job->lease, conn);
	PQclear(run(conn, PGRES_COMMAND_OK, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
				0, NULL));
	acts = become_requester(conn, job, opt->work_mem, error);
	if (acts == 1)
		rows = write_csv(conn, opt, job, tmp_path, bytes, error);
	PQclear(PQexec(conn, "ROLLBACK"));	/* also ends SET ROLE and the claims */
	lease_unwatch(job->lease, conn);
	return acts == 0 ? -2 : rows;
}

/* One job, start to end. Returns false if the connection broke. */
static bool
process_job(PGconn *conn, const Options *opt, Job *job)
{
	char	   *tmp_path = job_file(opt, job, job->attempt);
	char	   *error = NULL;
	const char *reason;
	long		bytes = 0;
	long		rows;

	log_msg("export %s: attempt %d for %s", job->uuid, job->attempt, job->requested_by);
	remove_earlier_attempts_files(opt, job);
	if (job->email != NULL && opt->smtp_url != NULL && !address_is_plain(job->email))
		fail_attempt(conn, opt, job, "the recipient address is not one plain address"
					 " (local@domain, without spaces, line breaks or angle brackets)", true);
	else if ((job->lease = lease_start(opt, job, &error)) == NULL)
		fail_attempt(conn, opt, job, error, false);
	else
	{
		rows = export_as_requester(conn, opt, job, tmp_path, &bytes, &error);
		if (PQstatus(conn) != CONNECTION_OK || lease_lost(job->lease, conn, &reason) ||
			rows < 0)
			unlink(tmp_path);
		if (PQstatus(conn) != CONNECTION_OK || lease_lost(job->lease, NULL, &reason))
			;					/* nothing more to do: another attempt or nobody owns it */
		else if (rows < 0)
			fail_attempt(conn, opt, job, error ? error : "the export failed", rows == -2);
		else
			deliver(conn, opt, job, tmp_path, rows, bytes);
		lease_stop(job->lease);
		job->lease = NULL;
	}
	free(error);
	free(tmp_path);
	return PQstatus(conn) == CONNECTION_OK;
}

/*
 * With --keep-days: removes this worker's files of jobs done longer ago than
 * that, and marks those jobs expired.
 */
static void
expire_old_files(PGconn *conn, const Options *opt)
{
	char		days[16];
	const char *params[2] = {days, opt->output_dir};
	PGresult   *res;

	if (opt->keep_days == 0)
		return;
	snprintf(days, sizeof(days), "%d", opt->keep_days);
	res = run(conn, PGRES_TUPLES_OK,
			  "SELECT uuid, file_path FROM crux.export_jobs"
			  " WHERE status = 'done' AND finished_at < now() - make_interval(days => $1::int)"
			  "   AND file_path = $2 || '/crux-orders-' || uuid || '.csv'",
			  2, params);
	for (int i = 0; res != NULL && i < PQntuples(res); i++)
	{
		const char *expired[1] = {PQgetvalue(res, i, 0)};

		if (unlink(PQgetvalue(res, i, 1)) != 0 && errno != ENOENT)
		{
			log_msg("could not remove \"%s\": %s", PQgetvalue(res, i, 1), strerror(errno));
			continue;
		}
		PQclear(run(conn, PGRES_COMMAND_OK,
					"UPDATE crux.export_jobs SET status = 'expired'"
					" WHERE uuid = $1 AND status = 'done'", 1, expired));
		log_msg("export %s expired: its file is removed", expired[0]);
	}
	PQclear(res);
}

/* Claims and runs jobs until none is due. Returns false if the connection broke. */
static bool
sweep(PGconn *conn, const Options *opt)
{
	Job			job;

	expire_old_files(conn, opt);
	while (!stop_requested && claim_job(conn, opt, &job))
	{
		bool		ok = process_job(conn, opt, &job);

		free_job(&job);
		if (!ok)
			return false;
	}
	return PQstatus(conn) == CONNECTION_OK;
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

int
main(int argc, char **argv)
{
	Options		opt;
	PGconn	   *conn = NULL;
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
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	umask(077);					/* exports hold customer data: files 0600 */
	if (!prepare_output_dir(opt.output_dir))
		return 1;
	log_msg("starting; output in %s, %s", opt.output_dir,
			opt.smtp_url ? opt.smtp_url : "no email");

	while (!stop_requested)
	{
		if (conn == NULL)
		{
			conn = connect_and_listen(&opt);
			if (conn == NULL)
			{
				if (opt.once)
					return 1;
				sleep(retry_delay);		/* backoff while the server is away */
				retry_delay = retry_delay < 30 ? retry_delay * 2 : 30;
				continue;
			}
			retry_delay = 1;
		}
		if (!sweep(conn, &opt))
		{
			log_msg("connection lost; reconnecting");
			PQfinish(conn);
			conn = NULL;
			continue;
		}
		if (opt.once)
			break;

		/* wait for a notification, a signal or the next sweep */
		{
			int			sock = PQsocket(conn);
			fd_set		fds;
			struct timespec ts = {opt.interval, 0};

			FD_ZERO(&fds);
			FD_SET(sock, &fds);
			if (pselect(sock + 1, &fds, NULL, NULL, &ts, &wait_mask) < 0 && errno != EINTR)
				log_msg("pselect failed: %s", strerror(errno));
			consume_notifications(conn);
		}
	}
	log_msg("stopping");
	PQfinish(conn);
	curl_global_cleanup();
	return 0;
}
