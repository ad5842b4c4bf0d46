/*
 * worker_merge.c
 *		crux-export-worker's exports across shards. An admin's export queued
 *		through crux_orders_proxy names how many shards it spans; a worker that
 *		serves that many databases (every shard, with -d) reads
 *		crux.export_csv_orders on each, as the requester, in one REPEATABLE READ
 *		transaction per shard, all at once, and merges their orders by sort value
 *		and uuid into the one file a single database would give, cut to the
 *		request's [start, limit).
 */
#define _GNU_SOURCE				/* asprintf */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"
#include "worker_output.h"

/* One shard's stream of orders, and the order at its head. */
typedef struct ShardPart
{
	PGconn	   *conn;
	PGresult   *head;			/* the current order (a single-row result), or NULL */
	const char *sort_value;		/* NULL: missing */
	int			sort_len;
	const char *uuid;			/* 16 bytes */
	long		rows;
	const char *csv;
	int			csv_len;
} ShardPart;

/* The request's bounds and direction, as the shard parses them. */
typedef struct MergeBounds
{
	long long	start;
	long long	limit;			/* -1: none */
	bool		ascending;
} MergeBounds;

/*
 * Opens shard k's transaction as the requester and checks that it may still
 * act and has crux.export_csv_orders. Returns 1; 0 with *error set when the
 * requester no longer acts as an admin there; -1 with *error set when it fails.
 */
static int
open_shard(const Options *opt, const Job *job, int k, ShardPart *part, char **error)
{
	PGresult   *res;
	int			acts;

	part->conn = PQconnectdb(opt->databases[k]);
	if (PQstatus(part->conn) != CONNECTION_OK)
	{
		if (asprintf(error, "could not connect to shard %d: %s", k,
					 PQerrorMessage(part->conn)) < 0)
			abort();
		return -1;
	}
	if ((acts = begin_as_requester(part->conn, opt, job, NULL, true, error)) != 1)
		return acts;
	res = run(part->conn, PGRES_TUPLES_OK,
			  "SELECT to_regprocedure('crux.export_csv_orders(jsonb,boolean)') IS NOT NULL",
			  0, NULL);
	if (res == NULL || strcmp(PQgetvalue(res, 0, 0), "t") != 0)
	{
		if (asprintf(error, "shard %d has no crux.export_csv_orders: run ALTER EXTENSION"
					 " crux_orders UPDATE there (1.9)", k) < 0)
			abort();
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 1;
}

/* The request's bounds, from the first shard. False with *error set. */
static bool
merge_bounds(PGconn *conn, MergeBounds *bounds, char **error)
{
	PGresult   *res = run(conn, PGRES_TUPLES_OK,
						  "SELECT start, \"limit\", ascending FROM crux.export_merge_bounds("
						  "current_setting('crux_export.request')::jsonb)", 0, NULL);

	if (res == NULL)
	{
		*error = strdup(PQerrorMessage(conn));
		return false;
	}
	bounds->start = atoll(PQgetvalue(res, 0, 0));
	bounds->limit = PQgetisnull(res, 0, 1) ? -1 : atoll(PQgetvalue(res, 0, 1));
	bounds->ascending = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	PQclear(res);
	return true;
}

/* Sends the shard's query: its orders one row at a time, in binary. */
static bool
start_stream(ShardPart *part, const Options *opt, char **error)
{
	const char *params[1] = {opt->formula_safe ? "true" : "false"};

	if (!PQsendQueryParams(part->conn, "SELECT crux.export_csv_orders("
						   "current_setting('crux_export.request')::jsonb, $1::boolean)",
						   1, NULL, params, NULL, NULL, 1) ||
		!PQsetSingleRowMode(part->conn))
	{
		*error = strdup(PQerrorMessage(part->conn));
		return false;
	}
	return true;
}

/*
 * The shard's next order into part->head (NULL at its end). False with *error
 * set when the shard fails or answers what is not crux.export_csv_order.
 */
static bool
advance(ShardPart *part, char **error)
{
	PGresult   *res;
	const char *fields[4];
	int			lengths[4];

	PQclear(part->head);
	part->head = NULL;
	while ((res = PQgetResult(part->conn)) != NULL)
	{
		if (PQresultStatus(res) == PGRES_SINGLE_TUPLE)
			break;
		if (PQresultStatus(res) != PGRES_TUPLES_OK && *error == NULL)
			*error = strdup(PQresultErrorMessage(res));
		PQclear(res);
	}
	if (res == NULL)
		return *error == NULL;
	if (!parse_record(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 4, fields, lengths) ||
		lengths[1] != 16 || lengths[2] != 4 || lengths[3] < 0)
	{
		PQclear(res);
		*error = strdup("crux.export_csv_orders returned a malformed order");
		return false;
	}
	part->head = res;
	part->sort_value = lengths[0] >= 0 ? fields[0] : NULL;
	part->sort_len = lengths[0];
	part->uuid = fields[1];
	part->rows = (int32_t) read_uint32(fields[2]);
	part->csv = fields[3];
	part->csv_len = lengths[3];
	return true;
}

/*
 * Whether a's order comes before b's ascending: the sort value compared
 * bytewise, a missing one after any, ties on the uuid.
 */
static int
compare_ascending(const ShardPart *a, const ShardPart *b)
{
	int			c;

	if ((a->sort_value == NULL) != (b->sort_value == NULL))
		return a->sort_value == NULL ? 1 : -1;
	if (a->sort_value != NULL)
	{
		int			shorter = a->sort_len < b->sort_len ? a->sort_len : b->sort_len;

		c = memcmp(a->sort_value, b->sort_value, shorter);
		if (c == 0)
			c = (a->sort_len > b->sort_len) - (a->sort_len < b->sort_len);
		if (c != 0)
			return c;
	}
	return memcmp(a->uuid, b->uuid, 16);
}

/* The shard whose head comes first in the request's direction, or -1. */
static int
first_head(ShardPart *parts, int n, bool ascending)
{
	int			best = -1;

	for (int k = 0; k < n; k++)
	{
		int			c;

		if (parts[k].head == NULL)
			continue;
		if (best < 0)
		{
			best = k;
			continue;
		}
		c = compare_ascending(&parts[k], &parts[best]);
		if (ascending ? c < 0 : c > 0)
			best = k;
	}
	return best;
}

/*
 * Merges the shards' streams into w: the header (from the first shard), then
 * the orders at merged positions [start, limit). Returns the data rows, or -1
 * with *error set (a failed write leaves *error NULL).
 */
static long
merge_into(ShardPart *parts, int n, const MergeBounds *bounds, const Options *opt,
		   const Job *job, OutputWriter *w, long *bytes, char **error)
{
	long		header_bytes = 0;
	long		rows = 0;
	long long	position = 0;
	int			k;

	if (chunks_to_output(parts[0].conn, 0, 0, true, opt, job, w, job->uuid, &header_bytes,
						 error) < 0)
		return -1;
	*bytes = header_bytes;
	for (k = 0; k < n; k++)
		if (!start_stream(&parts[k], opt, error) || !advance(&parts[k], error))
			return -1;
	while ((k = first_head(parts, n, bounds->ascending)) >= 0 &&
		   (bounds->limit < 0 || position < bounds->limit))
	{
		if (position >= bounds->start)
		{
			if (!output_write(w, parts[k].csv, parts[k].csv_len))
				return -1;
			*bytes += parts[k].csv_len;
			rows += parts[k].rows;
			lease_add_rows(job->lease, parts[k].rows);
		}
		if (!advance(&parts[k], error))
			return -1;
		position++;
	}
	return rows;				/* streams not read to their end are cancelled */
}

/* Ends a shard's connection; a stream still sending is cancelled first. */
static void
close_shard(const Job *job, ShardPart *part)
{
	char		message[256];

	lease_unwatch(job->lease, part->conn);
	if (part->head != NULL)
	{
		PGcancel   *cancel = PQgetCancel(part->conn);

		if (cancel != NULL && !PQcancel(cancel, message, sizeof(message)))
			log_msg("could not cancel a shard's rest: %s", message);
		PQfreeCancel(cancel);
	}
	PQclear(part->head);
	PQfinish(part->conn);
}

/*
 * The admin's selection on every shard this worker serves, merged into
 * tmp_path. Returns the number of data rows; -1 with *error set, or -2 with
 * *error set when the requester no longer acts as an admin on a shard.
 */
long
write_csv_across_shards(const Options *opt, const Job *job, const char *tmp_path,
						long *bytes, char **error)
{
	ShardPart	parts[MAX_DATABASES] = {{0}};
	MergeBounds bounds;
	ExportOutput *out = NULL;
	OutputWriter *w;
	long		rows = -1;
	int			n = opt->n_databases;
	int			opened = 1;

	*bytes = 0;
	if (job->shards != n)
	{
		if (asprintf(error, "the export spans %d shards; this worker serves %d databases",
					 job->shards, n) < 0)
			abort();
		return -1;
	}
	log_msg("export %s: merging %d shards", job->uuid, n);
	for (int k = 0; k < n && opened == 1; k++)
	{
		opened = open_shard(opt, job, k, &parts[k], error);
		lease_watch(job->lease, parts[k].conn);
	}
	if (opened != 1)
		goto done;
	if (!merge_bounds(parts[0].conn, &bounds, error) ||
		(out = output_create(tmp_path, 1, error)) == NULL)
		goto done;
	w = output_writer(out, 0);
	rows = merge_into(parts, n, &bounds, opt, job, w, bytes, error);
	if (!output_writer_done(w, rows >= 0) || !output_join(out, error))
		rows = -1;
done:
	if (out != NULL)
		output_close(out);
	for (int k = 0; k < n && parts[k].conn != NULL; k++)
		close_shard(job, &parts[k]);
	if (rows < 0 && *error == NULL)
		*error = strdup("the export across shards failed");
	return opened == 0 ? -2 : rows;
}
