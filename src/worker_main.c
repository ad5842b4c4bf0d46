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

static volatile sig_atomic_t reload_requested = 0;
static bool log_json = false;

/*
 * One line per event on stderr (the journal under systemd): plain text with a
 * UTC timestamp, or with --log-format json one JSON object (time, pid, message).
 */
void
log_msg(const char *fmt,...)
{
	char		stamp[32];
	time_t		now = time(NULL);
	va_list		ap;
	char	   *message = NULL;

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (log_json)
	{
		json_object *line = json_object_new_object();

		json_object_object_add(line, "time", json_object_new_string(stamp));
		json_object_object_add(line, "program", json_object_new_string("crux-export-worker"));
		json_object_object_add(line, "pid", json_object_new_int((int) getpid()));
		json_object_object_add(line, "message", json_object_new_string(message));
		fprintf(stderr, "%s\n", json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN));
		json_object_put(line);
	}
	else
		fprintf(stderr, "%s crux-export-worker[%d]: %s\n", stamp, (int) getpid(), message);
	free(message);
}

static void
handle_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
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

/*
 * A listening worker takes SIGTERM, SIGINT and SIGHUP only while it waits
 * (pselect unblocks them atomically), so a job under way is finished before it
 * stops or reloads, and a signal can never slip in between the check and the
 * wait. wait_mask is the mask to wait with.
 */
static void
take_signals_while_waiting(bool once, sigset_t *wait_mask)
{
	struct sigaction sa = {0};
	sigset_t	signals;

	sa.sa_handler = handle_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	sigprocmask(once ? SIG_SETMASK : SIG_BLOCK, once ? NULL : &signals, wait_mask);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * SIGHUP: the configuration file again. The databases served stay those the
 * worker started with (a change there needs a restart); the rest applies from
 * the next sweep.
 */
static void
reload_settings(int argc, char **argv, Options *opt, Options *per_db)
{
	Options		fresh = *opt;
	bool		same_databases;

	reload_requested = 0;
	if (!options_reload(argc, argv, &fresh))
		return;
	if (fresh.n_databases == 0)
		fresh.databases[fresh.n_databases++] = "";
	same_databases = fresh.n_databases == opt->n_databases;
	for (int i = 0; same_databases && i < fresh.n_databases; i++)
		same_databases = strcmp(fresh.databases[i], opt->databases[i]) == 0;
	if (!same_databases)
		log_msg("the databases served change at a restart, not on SIGHUP");
	if (!prepare_output_dir(fresh.output_dir))
	{
		log_msg("configuration not reloaded: keeping the output directory %s", opt->output_dir);
		return;
	}
	memcpy(fresh.databases, opt->databases, sizeof(opt->databases));
	fresh.n_databases = opt->n_databases;
	fresh.name = opt->name;
	fresh.once = opt->once;
	*opt = fresh;
	log_json = opt->log_json;
	for (int i = 0; i < opt->n_databases; i++)
	{
		per_db[i] = *opt;
		per_db[i].conninfo = opt->databases[i];
	}
	log_msg("configuration reloaded from %s; output in %s, %s, from %s",
			opt->config ? opt->config : "the command line", opt->output_dir,
			opt->smtp_url ? opt->smtp_url : "no email", opt->from);
}

int
main(int argc, char **argv)
{
	Options		opt;
	Options		per_db[MAX_DATABASES];
	PGconn	   *conns[MAX_DATABASES] = {0};
	int			retry_delay = 1;
	sigset_t	wait_mask;
	char		host[64] = "";

	options_load(argc, argv, &opt);
	log_json = opt.log_json;
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (opt.n_databases == 0)
		opt.databases[opt.n_databases++] = "";
	if (opt.status)
		return show_status(&opt);
	take_signals_while_waiting(opt.once, &wait_mask);
	gethostname(host, sizeof(host) - 1);
	snprintf(worker_name, sizeof(worker_name), "%s:%d", host, (int) getpid());
	opt.name = worker_name;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	umask(077);					/* exports hold customer data: files 0600 */
	if (!prepare_output_dir(opt.output_dir))
		return 1;
	log_msg("starting; output in %s, %s", opt.output_dir,
			opt.smtp_url ? opt.smtp_url : "no email");

	for (int i = 0; i < opt.n_databases; i++)
	{
		per_db[i] = opt;
		per_db[i].conninfo = opt.databases[i];
	}
	while (!stop_requested)
	{
		bool		any_down = false;

		if (reload_requested)
			reload_settings(argc, argv, &opt, per_db);
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
