/*
 * worker_export.c
 *		crux-export-worker's exports: a job's CSV selection, run as its requester,
 *		streamed into the output file in one piece or by parallel slices that share
 *		one exported snapshot (from crux.export_csv's chunks, or from COPY ... TO
 *		STDOUT on versions before 1.5).
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

/* Which crux.export_csv the database has. */
typedef enum CsvFunction
{
	CSV_FUNCTION_NONE,			/* before 1.5: COPY of crux_export_rows */
	CSV_FUNCTION_1_5,			/* COPY's bytes in the session's settings */
	CSV_FUNCTION_1_8			/* the API's forms, formula_safe */
} CsvFunction;

/* The schema crux_export_rows lives in (the extension's schema), quoted. */
static char *
api_schema(PGconn *conn)
{
	PGresult   *res = run(conn, PGRES_TUPLES_OK,
						  "SELECT quote_ident(n.nspname) FROM pg_catalog.pg_extension e"
						  " JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
						  " WHERE e.extname = 'crux_orders'", 0, NULL);
	char	   *schema = NULL;

	if (res != NULL && PQntuples(res) == 1)
		schema = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return schema;
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
 * that make any output the server formats the same everywhere, and checks that
 * it still acts for the job's organization. Returns 1, 0 (it no longer does) or
 * -1, with *error set unless 1.
 */
int
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
		return -1;
	}
	PQclear(res);
	return requester_still_acts(conn, job, error);
}

/*
 * Runs a COPY ... TO STDOUT and streams it into the writer's part of the file.
 * Returns the number of data rows (header excluded), or -1 with *error set (a
 * failed write leaves *error NULL: output_join reports it).
 */
static long
copy_to_output(PGconn *conn, const char *sql, OutputWriter *w, bool header,
			   Lease *lease, const char *label, long *bytes, char **error)
{
	PGresult   *res = PQexec(conn, sql);
	char	   *buf;
	int			len;
	long		rows = header ? -1 : 0;
	bool		written = true;

	*bytes = 0;
	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		*error = strdup(PQerrorMessage(conn));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	/* read all of the COPY, even after a failed write, so the connection stays usable */
	while ((len = PQgetCopyData(conn, &buf, 0)) > 0)
	{
		written = written && output_write(w, buf, len);
		PQfreemem(buf);
		*bytes += len;
		if (++rows > 0)
			lease_add_rows(lease, 1);
		if (rows > 0 && rows % 500000 == 0)
			log_msg("export %s: %ld rows so far", label, rows);
	}
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		*error = strdup(PQerrorMessage(conn));
		rows = -1;
	}
	PQclear(res);
	return written ? rows : -1;
}

/* A 4-byte big-endian integer of a binary result. */
static uint32_t
read_uint32(const char *p)
{
	uint32_t	n;

	memcpy(&n, p, 4);
	return ntohl(n);
}

/*
 * One crux.export_csv_chunk (rows integer, csv text) in binary: the number of
 * columns, then per column its type, length and bytes. False if malformed.
 */
static bool
parse_chunk(const char *value, int len, long *rows, const char **csv, int *csv_len)
{
	int32_t		rows_len;

	if (len < 24 || read_uint32(value) != 2)
		return false;
	rows_len = (int32_t) read_uint32(value + 8);
	if (rows_len != 4)
		return false;
	*rows = (int32_t) read_uint32(value + 12);
	*csv_len = (int32_t) read_uint32(value + 20);
	*csv = value + 24;
	return *csv_len >= 0 && 24 + *csv_len == len;
}

/*
 * Streams crux.export_csv (version 1.5 on) for positions [first, first + count)
 * of the selection (count < 0: to the end) into the writer's part of the file:
 * its chunks arrive one at a time (single-row mode, binary) and are written as
 * they come. Returns the number of data rows, or -1 with *error set (a failed
 * write leaves *error NULL: output_join reports it).
 */
static long
chunks_to_output(PGconn *conn, long long first, long long count, bool header,
				 CsvFunction csv_function, const Options *opt, const Job *job, OutputWriter *w,
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
	if (!PQsendQueryParams(conn, csv_function == CSV_FUNCTION_1_8 ?
						   "SELECT crux.export_csv("
						   "current_setting('crux_export.request')::jsonb,"
						   " $1::bigint, $2::bigint, $3::boolean, $4::boolean)" :
						   "SELECT crux.export_csv("
						   "current_setting('crux_export.request')::jsonb,"
						   " $1::bigint, $2::bigint, $3::boolean)",
						   csv_function == CSV_FUNCTION_1_8 ? 4 : 3, NULL, params, NULL, NULL, 1) ||
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
	CsvFunction csv_function;
	long		rows;			/* out: data rows, or -1 */
	long		bytes;
	char	   *error;
} Slice;

static void
export_slice_on(PGconn *conn, Slice *slice)
{
	char	   *snapshot = NULL;
	char	   *sql = NULL;
	char		label[128];
	PGresult   *res;

	snprintf(label, sizeof(label), "%s (orders %lld to %lld)", slice->job->uuid,
			 slice->first, slice->first + slice->count);
	PQclear(run(conn, PGRES_COMMAND_OK, "SET application_name = 'crux-export-worker'", 0, NULL));
	snapshot = PQescapeLiteral(conn, slice->snapshot, strlen(slice->snapshot));
	if (asprintf(&sql, "SET TRANSACTION SNAPSHOT %s", snapshot) < 0)
		abort();
	PQfreemem(snapshot);
	res = run(conn, PGRES_COMMAND_OK, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	if (res != NULL)
	{
		PQclear(res);
		res = run(conn, PGRES_COMMAND_OK, sql, 0, NULL);
	}
	free(sql);
	if (res == NULL)
		slice->error = strdup(PQerrorMessage(conn));
	else if (PQclear(res), become_requester(conn, slice->job, slice->opt->work_mem,
											&slice->error) != 1)
		;
	else if (slice->csv_function != CSV_FUNCTION_NONE)
		slice->rows = chunks_to_output(conn, slice->first, slice->count, slice->header,
									   slice->csv_function, slice->opt, slice->job,
									   slice->writer, label, &slice->bytes, &slice->error);
	else
	{
		if (asprintf(&sql, "COPY (SELECT %s FROM crux.export_rows("
					 "current_setting('crux_export.request')::jsonb, %lld, %lld))"
					 " TO STDOUT (FORMAT csv%s)", slice->job->select_list,
					 slice->first, slice->count,
					 slice->header ? ", HEADER" : "") < 0)
			abort();
		slice->rows = copy_to_output(conn, sql, slice->writer, slice->header,
									 slice->job->lease, label,
									 &slice->bytes, &slice->error);
		free(sql);
	}
}

static void *
export_slice(void *arg)
{
	Slice	   *slice = arg;
	PGconn	   *conn = PQconnectdb(slice->opt->conninfo);

	slice->rows = -1;
	if (PQstatus(conn) != CONNECTION_OK)
		slice->error = strdup(PQerrorMessage(conn));
	else
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
					CsvFunction csv_function, const char *tmp_path, long *bytes, char **error)
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
			.header = k == 0, .csv_function = csv_function, .rows = -1
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
 * crux.export_csv's chunks, or with copy_sql (versions before 1.5) a COPY.
 * Returns the number of data rows, or -1 with *error set.
 */
static long
write_csv_in_one_piece(PGconn *conn, const char *copy_sql, CsvFunction csv_function,
					   const Options *opt, const Job *job, const char *tmp_path,
					   long *bytes, char **error)
{
	ExportOutput *out = output_create(tmp_path, 1, error);
	OutputWriter *w;
	long		rows;

	if (out == NULL)
		return -1;
	w = output_writer(out, 0);
	if (copy_sql == NULL)
		rows = chunks_to_output(conn, 0, -1, true, csv_function, opt, job, w, job->uuid,
								bytes, error);
	else
		rows = copy_to_output(conn, copy_sql, w, true, job->lease, job->uuid, bytes, error);
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
 * Streams the job's CSV into tmp_path as its requester (become_requester
 * first), inside the caller's REPEATABLE READ transaction: in slices when the
 * selection is large and --jobs allows, otherwise in one piece. Returns the
 * number of data rows, or -1 with *error set.
 */
long
write_csv(PGconn *conn, const Options *opt, const Job *job, const char *tmp_path,
		  long *bytes, char **error)
{
	char	   *schema = api_schema(conn);
	char	   *sql = NULL;
	long		rows;
	CsvFunction csv_function;
	PGresult   *has_csv_function;

	*bytes = 0;
	if (schema == NULL)
	{
		*error = strdup("the crux_orders extension is not installed in this database");
		return -1;
	}
	has_csv_function = run(conn, PGRES_TUPLES_OK,
						   "SELECT CASE WHEN to_regprocedure('crux.export_csv(jsonb,bigint,bigint,boolean,boolean)')"
						   "                 IS NOT NULL THEN 2"
						   "            WHEN to_regprocedure('crux.export_csv(jsonb,bigint,bigint,boolean)')"
						   "                 IS NOT NULL THEN 1 ELSE 0 END", 0, NULL);
	if (has_csv_function == NULL)
	{
		*error = strdup(PQerrorMessage(conn));
		free(schema);
		return -1;
	}
	csv_function = (CsvFunction) atoi(PQgetvalue(has_csv_function, 0, 0));
	PQclear(has_csv_function);
	if (opt->jobs > 1)
	{
		/*
		 * slices need crux.export_rows (version 1.1 on). Not crux.export_rows_bulk
		 * (1.2): its hash joins and sort of the wide rows measured slower.
		 */
		PGresult   *res = run(conn, PGRES_TUPLES_OK,
							  "SELECT crux.export_order_count("
							  "current_setting('crux_export.request')::jsonb)"
							  " WHERE to_regprocedure('crux.export_rows(jsonb,bigint,bigint)')"
							  "       IS NOT NULL", 0, NULL);
		long long	orders = -1;

		if (res == NULL)
		{
			*error = strdup(PQerrorMessage(conn));
			free(schema);
			return -1;
		}
		if (PQntuples(res) == 1)
			orders = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (orders >= opt->slice_orders * opt->jobs)
		{
			free(schema);
			log_msg("export %s: %lld orders in %d slices", job->uuid, orders, opt->jobs);
			return write_csv_in_slices(conn, opt, job, orders, csv_function, tmp_path,
									   bytes, error);
		}
	}
	if (csv_function == CSV_FUNCTION_NONE &&
		asprintf(&sql, "COPY (SELECT %s FROM %s.crux_export_rows("
				 "current_setting('crux_export.request')::jsonb)) TO STDOUT (FORMAT csv, HEADER)",
				 job->select_list, schema) < 0)
		abort();
	free(schema);
	rows = write_csv_in_one_piece(conn, sql, csv_function, opt, job, tmp_path, bytes, error);
	free(sql);
	return rows;
}
