/*
 * worker_queue.c
 *		crux-export-worker's queue: claiming a job (FOR UPDATE SKIP LOCKED, with a
 *		lease that worker_lease.c renews while it runs), running it start to end,
 *		and recording how it ended: done, retried after a backoff, or failed; and
 *		the expiry of old files (--keep-days).
 *
 * A job whose lease lapsed (its worker died) is claimed again, up to
 * --max-attempts claims. An attempt that no longer owns its job (cancelled, or
 * claimed by another attempt) is stopped, and is fenced before its file is put
 * in place, before its email and at completion: it keeps no file and sends
 * nothing. Each export runs as the job's requester, and only while the requester
 * still acts for the job's organization (worker_export.c); the file is sent to
 * the job's address only if it is one plain address (worker_mail.c).
 */
#define _GNU_SOURCE				/* asprintf */
#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

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

static void remove_earlier_attempts_files(const Options *opt, const Job *job);

/*
 * Fails the jobs whose lease lapsed --max-attempts times: their worker died (or
 * lost its connection) at every attempt. What their attempts left in this
 * worker's directory goes too.
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
			  " RETURNING uuid, attempts",
			  1, params);
	for (int i = 0; res != NULL && i < PQntuples(res); i++)
	{
		Job			abandoned = {0};

		snprintf(abandoned.uuid, sizeof(abandoned.uuid), "%s", PQgetvalue(res, i, 0));
		abandoned.attempt = atoi(PQgetvalue(res, i, 1)) + 1;	/* each attempt is earlier */
		remove_earlier_attempts_files(opt, &abandoned);
		log_msg("export %s failed: its worker stopped in each of its attempts",
				PQgetvalue(res, i, 0));
	}
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
	char		databases[16];
	const char *params[3] = {lease, opt->name, databases};
	PGresult   *res;

	fail_abandoned_jobs(conn, opt);
	snprintf(lease, sizeof(lease), "%d seconds", opt->lease);
	snprintf(databases, sizeof(databases), "%d", opt->n_databases);
	res = run(conn, PGRES_TUPLES_OK,
			  "UPDATE crux.export_jobs j"
			  "   SET status = 'running', attempts = j.attempts + 1,"
			  "       started_at = now(), lease_until = now() + $1::interval, worker = $2"
			  " WHERE j.uuid = (SELECT q.uuid FROM crux.export_jobs q"
			  "                  WHERE q.status IN ('queued', 'running')"
			  "                    AND (q.lease_until IS NULL OR q.lease_until < now())"
			  /* an export across shards goes to a worker that serves as many */
			  "                    AND coalesce(q.claims -> 'shards', '1')"
			  "                        IN ('1'::jsonb, to_jsonb($3::integer))"
			  "                  ORDER BY q.created_at"
			  "                  FOR UPDATE SKIP LOCKED LIMIT 1)"
			  " RETURNING j.uuid, j.attempts, j.request::text,"
			  "   j.requested_by, j.claims::text, j.email, j.organization_uuid::text,"
			  "   coalesce(j.claims ->> 'shards', '1')",
			  3, params);
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
	job->shards = atoi(PQgetvalue(res, 0, 7));
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
 * transaction (an export across shards: one on each shard). Returns the rows
 * written, -1 with *error set, or -2 with *error set when the requester no
 * longer acts for the job's organization.
 */
static long
export_as_requester(PGconn *primary, const Options *opt, const Job *job, const char *tmp_path,
					long *bytes, char **error)
{
	PGconn	   *conn = primary;
	long		rows = -1;
	int			acts;

	if (job->shards > 1)		/* every shard, each in a transaction of its own */
		return write_csv_across_shards(opt, job, tmp_path, bytes, error);
	if (opt->read_dsn != NULL && (conn = connect_for_export(opt, error)) == NULL)
		return -1;
	lease_watch(job->lease, conn);
	acts = begin_as_requester(conn, opt, job, NULL, true, error);
	if (acts == 1)
		rows = write_csv(conn, opt, job, tmp_path, bytes, error);
	PQclear(PQexec(conn, "ROLLBACK"));	/* also ends SET ROLE and the claims */
	lease_unwatch(job->lease, conn);
	if (conn != primary)
		PQfinish(conn);
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

/*
 * Expires old files, then claims and runs jobs until none is due or *stop is
 * set. Returns false if the connection broke.
 */
bool
sweep_queue(PGconn *conn, const Options *opt, const volatile sig_atomic_t *stop)
{
	Job			job;

	expire_old_files(conn, opt);
	while (!*stop && claim_job(conn, opt, &job))
	{
		bool		ok = process_job(conn, opt, &job);

		free_job(&job);
		if (!ok)
			return false;
	}
	return PQstatus(conn) == CONNECTION_OK;
}
