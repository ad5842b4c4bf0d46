/*
 * worker_lease.c
 *		crux-export-worker's hold on a running job: a heartbeat thread, on a
 *		connection of its own, renews the job's lease well inside it and records
 *		how many rows are written so far (the job's row_count, its progress). When
 *		the job no longer carries this attempt (it was cancelled, or its lease
 *		lapsed and another attempt claimed it), the lease is lost: the heartbeat
 *		cancels the queries of every connection exporting it, and the attempt
 *		keeps no file and sends nothing.
 */
#define _GNU_SOURCE				/* asprintf */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker.h"

#define MAX_WATCHED (MAX_JOBS + 1)

struct Lease
{
	const Options *opt;
	const Job  *job;
	PGconn	   *conn;			/* the heartbeat's own */
	pthread_t	thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool		stopping;
	bool		lost;
	char	   *lost_reason;
	long		rows;			/* written so far */
	struct
	{
		PGconn	   *conn;		/* a connection exporting the job */
		PGcancel   *cancel;		/* its cancel handle, made by its own thread */
	}			watched[MAX_WATCHED];
};

/* How often the lease is renewed: a third of it, at most a second. */
static long
heartbeat_ms(const Options *opt)
{
	long		ms = (long) opt->lease * 1000 / 3;

	return ms < 1000 ? (ms < 100 ? 100 : ms) : 1000;
}

/*
 * Cancels what every watched connection runs; the lock is held. Only the cancel
 * handles are used here: libpq lets another thread use those, not the
 * connections themselves.
 */
static void
cancel_watched(Lease *lease)
{
	for (int i = 0; i < MAX_WATCHED; i++)
	{
		char		errbuf[256];

		if (lease->watched[i].cancel != NULL)
			PQcancel(lease->watched[i].cancel, errbuf, sizeof(errbuf));
	}
}

/*
 * Renews the lease and records the progress, on conn. Returns 1 while the job
 * carries this attempt, 0 when it does not (*reason set), -1 on a failed query.
 */
int
lease_renew(PGconn *conn, const Options *opt, const Job *job, long rows, char **reason)
{
	char		attempt[16],
				lease_text[32],
				rows_text[32];
	const char *params[4] = {job->uuid, attempt, lease_text, rows >= 0 ? rows_text : NULL};
	PGresult   *res;
	int			ours;

	snprintf(attempt, sizeof(attempt), "%d", job->attempt);
	snprintf(lease_text, sizeof(lease_text), "%d seconds", opt->lease);
	snprintf(rows_text, sizeof(rows_text), "%ld", rows);
	res = run(conn, PGRES_TUPLES_OK,
			  "WITH renewed AS ("
			  "  UPDATE crux.export_jobs SET lease_until = now() + $3::interval,"
			  "         row_count = coalesce($4::bigint, row_count)"
			  "   WHERE uuid = $1 AND attempts = $2::int AND status = 'running'"
			  "   RETURNING 1)"
			  " SELECT (SELECT count(*) FROM renewed), j.status, j.attempts"
			  "   FROM crux.export_jobs j WHERE j.uuid = $1",
			  4, params);
	if (res == NULL)
		return -1;
	ours = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	if (!ours)
	{
		const char *status = PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "deleted";

		if (asprintf(reason, strcmp(status, "cancelled") == 0 ? "the export was cancelled" :
					 "the job no longer carries this attempt (it is %s, attempt %s)",
					 status, PQntuples(res) == 1 ? PQgetvalue(res, 0, 2) : "none") < 0)
			abort();
	}
	PQclear(res);
	return ours ? 1 : 0;
}

/* Marks the lease lost and stops the exporting queries; the lock is held. */
static void
mark_lost(Lease *lease, char *reason)
{
	if (lease->lost)
	{
		free(reason);
		return;
	}
	lease->lost = true;
	lease->lost_reason = reason;
	cancel_watched(lease);
	log_msg("export %s attempt %d stops: %s", lease->job->uuid, lease->job->attempt, reason);
}

static void *
heartbeat(void *arg)
{
	Lease	   *lease = arg;
	long		ms = heartbeat_ms(lease->opt);

	pthread_mutex_lock(&lease->lock);
	while (!lease->stopping)
	{
		struct timespec until;
		long		rows;
		char	   *reason = NULL;
		int			ours;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ms / 1000;
		until.tv_nsec += (ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L)
		{
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&lease->wake, &lease->lock, &until);
		if (lease->stopping || lease->lost)
			continue;
		rows = lease->rows;		/* the progress as it is now */
		pthread_mutex_unlock(&lease->lock);
		if (PQstatus(lease->conn) != CONNECTION_OK)
			PQreset(lease->conn);
		ours = lease_renew(lease->conn, lease->opt, lease->job, rows, &reason);
		pthread_mutex_lock(&lease->lock);
		if (ours == 0)
			mark_lost(lease, reason);
	}
	pthread_mutex_unlock(&lease->lock);
	return NULL;
}

/* Starts holding the job's lease; NULL with *error set if it cannot connect. */
Lease *
lease_start(const Options *opt, const Job *job, char **error)
{
	Lease	   *lease = calloc(1, sizeof(Lease));

	if (lease == NULL)
		abort();
	lease->opt = opt;
	lease->job = job;
	lease->conn = PQconnectdb(opt->conninfo);
	if (PQstatus(lease->conn) != CONNECTION_OK)
	{
		if (asprintf(error, "could not connect to hold the job's lease: %s",
					 PQerrorMessage(lease->conn)) < 0)
			abort();
		PQfinish(lease->conn);
		free(lease);
		return NULL;
	}
	PQclear(run(lease->conn, PGRES_COMMAND_OK,
				"SET application_name = 'crux-export-worker heartbeat'", 0, NULL));
	pthread_mutex_init(&lease->lock, NULL);
	pthread_cond_init(&lease->wake, NULL);
	if (pthread_create(&lease->thread, NULL, heartbeat, lease) != 0)
		abort();
	return lease;
}

/* Stops the heartbeat (the lease stays until the job is finished or lapses). */
void
lease_stop(Lease *lease)
{
	pthread_mutex_lock(&lease->lock);
	lease->stopping = true;
	pthread_cond_signal(&lease->wake);
	pthread_mutex_unlock(&lease->lock);
	pthread_join(lease->thread, NULL);
	PQfinish(lease->conn);
	pthread_mutex_destroy(&lease->lock);
	pthread_cond_destroy(&lease->wake);
	free(lease->lost_reason);
	free(lease);
}

/*
 * conn exports the job: its query is cancelled if the lease is lost. Called by
 * the thread that uses conn.
 */
void
lease_watch(Lease *lease, PGconn *conn)
{
	PGcancel   *cancel;

	if (lease == NULL)
		return;
	cancel = PQgetCancel(conn);
	pthread_mutex_lock(&lease->lock);
	for (int i = 0; i < MAX_WATCHED; i++)
		if (lease->watched[i].conn == NULL)
		{
			lease->watched[i].conn = conn;
			lease->watched[i].cancel = cancel;
			cancel = NULL;
			break;
		}
	if (lease->lost)
		cancel_watched(lease);
	pthread_mutex_unlock(&lease->lock);
	PQfreeCancel(cancel);		/* NULL unless every slot was taken */
}

void
lease_unwatch(Lease *lease, PGconn *conn)
{
	if (lease == NULL)
		return;
	pthread_mutex_lock(&lease->lock);
	for (int i = 0; i < MAX_WATCHED; i++)
		if (lease->watched[i].conn == conn)
		{
			PQfreeCancel(lease->watched[i].cancel);
			lease->watched[i].conn = NULL;
			lease->watched[i].cancel = NULL;
		}
	pthread_mutex_unlock(&lease->lock);
}

/* rows more rows are written (the progress the next renewal records). */
void
lease_add_rows(Lease *lease, long rows)
{
	if (lease == NULL)
		return;
	pthread_mutex_lock(&lease->lock);
	lease->rows += rows;
	pthread_mutex_unlock(&lease->lock);
}

/*
 * Asks the database now, on conn (idle), whether the job still carries this
 * attempt, renewing the lease if so; marks it lost if not, or if it cannot tell.
 */
static void
confirm_lease(Lease *lease, PGconn *conn)
{
	char	   *why = NULL;
	long		rows;
	int			ours;

	pthread_mutex_lock(&lease->lock);
	rows = lease->rows;
	pthread_mutex_unlock(&lease->lock);
	ours = lease_renew(conn, lease->opt, lease->job, rows, &why);
	if (ours < 0 && asprintf(&why, "could not confirm the lease: %s",
							 PQerrorMessage(conn)) < 0)
		abort();
	if (ours <= 0)
	{
		pthread_mutex_lock(&lease->lock);
		mark_lost(lease, why);
		pthread_mutex_unlock(&lease->lock);
	}
}

/*
 * Whether the lease is lost; with check, asks the database now (on conn, which
 * must be idle), renewing it when it is still ours. *reason, when lost, is the
 * lease's, not to be freed.
 */
bool
lease_lost(Lease *lease, PGconn *conn, const char **reason)
{
	bool		lost;

	if (lease == NULL)
		return false;
	if (conn != NULL)
		confirm_lease(lease, conn);
	pthread_mutex_lock(&lease->lock);
	lost = lease->lost;
	*reason = lease->lost_reason;
	pthread_mutex_unlock(&lease->lock);
	return lost;
}
