/*
 * worker_export.c
 *		crux-export-worker's exports: a job's CSV selection, run as its requester,
 *		streamed from crux.export_csv's chunks into the output file in one piece
 *		or by parallel slices that share one exported snapshot.
 */
#define _GNU_SOURCE				/* asprintf */

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"
#include "worker_output.h"

/*
 * A connection for reading an export: to --read-dsn (a standby) when given,
 * else to the database the jobs are in. NULL with *error set when it fails.
 */
PGconn *
connect_for_export(const Options *opt, char **error)
{
	PGconn	   *conn = PQconnectdb(opt->read_dsn ? opt->read_dsn : opt->conninfo);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		if (asprintf(error, "could not connect to read the export: %s",
					 PQerrorMessage(conn)) < 0)
			abort();
		PQfinish(conn);
		return NULL;
	}
	PQclear(run(conn, PGRES_COMMAND_OK, "SET application_name = 'crux-export-worker'", 0, NULL));
	return conn;
}

/*
 * Whether the session, acting as the requester, still acts for the job's
 * organization, or is still an admin (a member of crux_admin) for an admin's
 * job. Returns 1, 0 with *error set, or -1 with *error set.
 */
static int
requester_still_acts(PGconn *conn, const Job *job, char **error)
{
	const char *params[1] = {job->organization};
	PGresult   *res = run(conn, PGRES_TUPLES_OK,
						  "SELECT CASE WHEN $1::uuid IS NULL"
						  "            THEN pg_catalog.pg_has_role(current_user, 'crux_admin', 'MEMBER')"
						  "            ELSE crux.acting_organization() IS NOT DISTINCT FROM $1::uuid END",
						  1, params);
	int			acts;

	if (res == NULL)
	{
		*error = strdup(PQerrorMessage(conn));
		return -1;
	}
	acts = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!acts &&
		asprintf(error, "the requester %s no longer acts for the export's %s",
				 job->requested_by, job->organization ? "organization" : "admin role") < 0)
		abort();
	return acts;
}

/*
 * Acts as the job's requester for the rest of the transaction, with the settings
 * that make any output the server formats the same everywhere. False with
 * *error set if the server refuses.
 */
static bool
become_requester(PGconn *conn, const Job *job, const char *work_mem, char **error)
{
	const char *params[4] = {job->requested_by, job->claims ? job->claims : "",
	job->request, work_mem};
	PGresult   *res = run(conn, PGRES_TUPLES_OK,
						  "SELECT set_config('role', $1, true),"
						  "       set_config('request.jwt.claims', $2, true),"
						  "       set_config('crux_export.request', $3, true),"
						  "       CASE WHEN $4 <> '' THEN set_config('work_mem', $4, true) END,"
						  "       set_config('TimeZone', 'UTC', true),"
						  "       set_config('DateStyle', 'ISO, YMD', true),"
						  "       set_config('IntervalStyle', 'postgres', true),"
						  "       set_config('extra_float_digits', '1', true)",
						  4, params);

	if (res == NULL)
	{
		*error = strdup(PQerrorMessage(conn));
		return false;
	}
	PQclear(res);
	return true;
}

/*
 * Opens the export's transaction on conn as the job's requester (become_requester):
 * repeatable read, read-only, in snapshot when not NULL; with check_acts, then
 * whether the requester still acts as it asked (requester_still_acts). Returns 1,
 * 0 when the requester no longer acts so, or -1 on an error; *error set unless 1.
 */
int
begin_as_requester(PGconn *conn, const Options *opt, const Job *job, const char *snapshot,
				   bool check_acts, char **error)
{
	PGresult   *res = run(conn, PGRES_COMMAND_OK,
						  "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);

	if (res != NULL && snapshot != NULL)
	{
		char	   *literal = PQescapeLiteral(conn, snapshot, strlen(snapshot));
		char	   *sql = NULL;

		if (literal == NULL || asprintf(&sql, "SET TRANSACTION SNAPSHOT %s", literal) < 0)
			abort();
		PQfreemem(literal);
		PQclear(res);
		res = run(conn, PGRES_COMMAND_OK, sql, 0, NULL);
		free(sql);
	}
	if (res == NULL)
	{
		*error = strdup(PQerrorMessage(conn));
		return -1;
	}
	PQclear(res);
	if (!become_requester(conn, job, opt->work_mem, error))
		return -1;
	return check_acts ? requester_still_acts(conn, job, error) : 1;
}

/* A 4-byte big-endian integer of a binary result. */
uint32_t
read_uint32(const char *p)
{
	uint32_t	n;

	memcpy(&n, p, 4);
	return ntohl(n);
}

/*
 * A composite value of ncols columns in binary: the number of columns, then per
 * column its type, length (-1: NULL) and bytes; each column's bytes and length
 * into fields and lengths. Returns 1, or 0 if malformed.
 */
int
parse_record(const char *value, int len, int ncols, const char **fields, int *lengths)
{
	int			at = 4;

	if (len < 4 || read_uint32(value) != (uint32_t) ncols)
		return 0;
	for (int i = 0; i < ncols; i++)
	{
		if (len - at < 8)
			return 0;
		lengths[i] = (int32_t) read_uint32(value + at + 4);
		fields[i] = value + at + 8;
		at += 8 + (lengths[i] > 0 ? lengths[i] : 0);
		if (lengths[i] < -1 || at > len)
			return 0;
	}
	return at == len;
}

/* One crux.export_csv_chunk (rows integer, csv text) in binary. False if malformed. */
static bool
parse_chunk(const char *value, int len, long *rows, const char **csv, int *csv_len)
{
	const char *fields[2];
	int			lengths[2];

	if (!parse_record(value, len, 2, fields, lengths) || lengths[0] != 4 || lengths[1] < 0)
		return false;
	*rows = (int32_t) read_uint32(fields[0]);
	*csv = fields[1];
	*csv_len = lengths[1];
	return true;
}

/*
 * Streams crux.export_csv for positions [first, first + count) of the
 * selection (count < 0: to the end) into the writer's part of the file:
 * its chunks arrive one at a time (single-row mode, binary) and are written as
 * they come. Returns the number of data rows, or -1 with *error set (a failed
 * write leaves *error NULL: output_join reports it).
 */
long
chunks_to_output(PGconn *conn, long long first, long long count, bool header,
				 const Options *opt, const Job *job, OutputWriter *w,
				 const char *label, long *bytes, char **error)
{
	char		first_text[32];
	char		count_text[32];
	const char *params[4] = {first_text, count >= 0 ? count_text : NULL,
		header ? "true" : "false", opt->formula_safe ? "true" : "false"};
	PGresult   *res;
	long		rows = 0;
	long		logged = 0;
	bool		written = true;

	*bytes = 0;
	snprintf(first_text, sizeof(first_text), "%lld", first);
	snprintf(count_text, sizeof(count_text), "%lld", count);
	if (!PQsendQueryParams(conn, "SELECT crux.export_csv("
						   "current_setting('crux_export.request')::jsonb,"
						   " $1::bigint, $2::bigint, $3::boolean, $4::boolean)",
						   4, NULL, params, NULL, NULL, 1) ||
		!PQsetSingleRowMode(conn))
	{
		*error = strdup(PQerrorMessage(conn));
		PQclear(PQgetResult(conn));
		return -1;
	}
	/* read every result, even after a failure, so the connection stays usable */
	while ((res = PQgetResult(conn)) != NULL)
	{
		ExecStatusType status = PQresultStatus(res);
		const char *csv;
		int			csv_len;
		long		chunk_rows;

		if (status == PGRES_SINGLE_TUPLE && *error == NULL && written)
		{
			if (!parse_chunk(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), &chunk_rows,
							 &csv, &csv_len))
				*error = strdup("crux.export_csv returned a malformed chunk");
			else if ((written = output_write(w, csv, csv_len)))
			{
				*bytes += csv_len;
				rows += chunk_rows;
				lease_add_rows(job->lease, chunk_rows);
				if (rows / 500000 > logged)
				{
					logged = rows / 500000;
					log_msg("export %s: %ld rows so far", label, rows);
				}
			}
		}
		else if (status != PGRES_SINGLE_TUPLE && status != PGRES_TUPLES_OK &&
				 *error == NULL)
			*error = strdup(PQresultErrorMessage(res));
		PQclear(res);
	}
	return *error == NULL && written ? rows : -1;
}

/* One slice of a parallel export, run by its own thread and connection. */
typedef struct Slice
{
	const Options *opt;
	const Job  *job;
	const char *snapshot;		/* the exporting transaction's snapshot */
	long long	first;			/* positions [first, first + count) of the selection */
	long long	count;
	OutputWriter *writer;		/* its part of the export's file */
	bool		header;
	long		rows;			/* out: data rows, or -1 */
	long		bytes;
	char	   *error;
} Slice;

static void
export_slice_on(PGconn *conn, Slice *slice)
{
	char		label[128];

	snprintf(label, sizeof(label), "%s (orders %lld to %lld)", slice->job->uuid,
			 slice->first, slice->first + slice->count);
	if (begin_as_requester(conn, slice->opt, slice->job, slice->snapshot, false,
						   &slice->error) == 1)
		slice->rows = chunks_to_output(conn, slice->first, slice->count, slice->header,
									   slice->opt, slice->job, slice->writer, label,
									   &slice->bytes, &slice->error);
}

static void *
export_slice(void *arg)
{
	Slice	   *slice = arg;
	PGconn	   *conn = connect_for_export(slice->opt, &slice->error);

	slice->rows = -1;
	if (conn != NULL)
	{
		lease_watch(slice->job->lease, conn);
		export_slice_on(conn, slice);
		lease_unwatch(slice->job->lease, conn);
	}
	PQfinish(conn);
	/* last: the joining thread may go on to the next slice */
	output_writer_done(slice->writer, slice->rows >= 0);
	return NULL;
}

/*
 * The requester's selection in slices, exported by --jobs connections in parallel,
 * all in the snapshot of this transaction (REPEATABLE READ), and joined in order
 * into tmp_path as they run (worker_output.c). Returns the number of data rows,
 * or -1 with *error set.
 */
static long
write_csv_in_slices(PGconn *conn, const Options *opt, const Job *job, long long orders,
					const char *tmp_path, long *bytes, char **error)
{
	PGresult   *res = run(conn, PGRES_TUPLES_OK, "SELECT pg_export_snapshot()", 0, NULL);
	ExportOutput *out;
	Slice		slices[MAX_JOBS];
	pthread_t	threads[MAX_JOBS];
	long		rows = 0;
	bool		joined;

	*bytes = 0;
	if (res == NULL)
	{
		*error = strdup(PQerrorMessage(conn));
		return -1;
	}
	if ((out = output_create(tmp_path, opt->jobs, error)) == NULL)
	{
		PQclear(res);
		return -1;
	}
	for (int k = 0; k < opt->jobs; k++)
	{
		slices[k] = (Slice) {
			.opt = opt, .job = job, .snapshot = PQgetvalue(res, 0, 0),
			.first = orders * k / opt->jobs,
			.count = orders * (k + 1) / opt->jobs - orders * k / opt->jobs,
			.writer = output_writer(out, k),
			.header = k == 0, .rows = -1
		};
		if (pthread_create(&threads[k], NULL, export_slice, &slices[k]) != 0)
			abort();
	}
	joined = output_join(out, error);
	for (int k = 0; k < opt->jobs; k++)
		pthread_join(threads[k], NULL);
	PQclear(res);
	if (joined)
		log_msg("export %s: %d slices joined, %ld bytes copied, the rest written in place",
				job->uuid, opt->jobs, output_copied_bytes(out));
	output_close(out);

	for (int k = 0; k < opt->jobs; k++)
	{
		if (slices[k].rows < 0 && *error == NULL)
			*error = slices[k].error ? strdup(slices[k].error) : strdup("a slice failed");
		rows += slices[k].rows;
		*bytes += slices[k].bytes;
		free(slices[k].error);
	}
	if (!joined && *error == NULL)
		*error = strdup("a slice failed");
	return *error == NULL ? rows : -1;
}

/*
 * The requester's selection in one piece on this connection, into tmp_path:
 * its orders (counted already, or -1: the server counts them). Returns the
 * number of data rows, or -1 with *error set.
 */
static long
write_csv_in_one_piece(PGconn *conn, const Options *opt, const Job *job, long long orders,
					   const char *tmp_path, long *bytes, char **error)
{
	ExportOutput *out = output_create(tmp_path, 1, error);
	OutputWriter *w;
	long		rows;

	if (out == NULL)
		return -1;
	w = output_writer(out, 0);
	rows = chunks_to_output(conn, 0, orders, true, opt, job, w, job->uuid, bytes, error);
	if (!output_writer_done(w, rows >= 0))
		rows = -1;
	if (!output_join(out, error))
		rows = -1;
	output_close(out);
	if (rows < 0 && *error == NULL)
		*error = strdup("the export failed");
	return rows;
}

/*
 * Whether the database's crux_orders is the version this worker serves (it has
 * crux.export_csv with formula_safe); if not, *error names the update to run.
 */
static bool
database_is_current(PGconn *conn, char **error)
{
	PGresult   *res = run(conn, PGRES_TUPLES_OK,
						  "SELECT to_regprocedure('crux.export_csv(jsonb,bigint,bigint,boolean,boolean)')"
						  "       IS NOT NULL,"
						  "       (SELECT extversion FROM pg_catalog.pg_extension"
						  "         WHERE extname = 'crux_orders')", 0, NULL);
	bool		current;

	if (res == NULL)
	{
		*error = strdup(PQerrorMessage(conn));
		return false;
	}
	current = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (!current &&
		asprintf(error, "crux_orders in this database is at version %s; this worker needs"
				 " 1.8: run ALTER EXTENSION crux_orders UPDATE",
				 PQgetisnull(res, 0, 1) ? "none" : PQgetvalue(res, 0, 1)) < 0)
		abort();
	PQclear(res);
	return current;
}

/*
 * Streams the job's CSV into tmp_path as its requester (become_requester
 * first), inside the caller's REPEATABLE READ transaction: in slices when the
 * selection is large and --jobs allows, otherwise in one piece. Returns the
 * number of data rows, or -1 with *error set.
 */
long
write_csv(PGconn *conn, const Options *opt, const Job *job, const char *tmp_path,
		  long *bytes, char **error)
{
	long long	orders = -1;		/* not counted */

	*bytes = 0;
	if (!database_is_current(conn, error))
		return -1;
	if (opt->jobs > 1)
	{
		PGresult   *res = run(conn, PGRES_TUPLES_OK,
							  "SELECT crux.export_order_count("
							  "current_setting('crux_export.request')::jsonb)", 0, NULL);

		if (res == NULL)
		{
			*error = strdup(PQerrorMessage(conn));
			return -1;
		}
		orders = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (orders >= opt->slice_orders * opt->jobs)
		{
			log_msg("export %s: %lld orders in %d slices", job->uuid, orders, opt->jobs);
			return write_csv_in_slices(conn, opt, job, orders, tmp_path, bytes, error);
		}
	}
	return write_csv_in_one_piece(conn, opt, job, orders, tmp_path, bytes, error);
}
