/*
 * worker_status.c
 *		crux-export-worker --status: for operators, each database's export queue
 *		(jobs queued and the oldest one's age, jobs running with their progress,
 *		failures in the last day), as text or with --log-format json as one JSON
 *		object per database, on stdout.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

#define QUEUE_SQL \
	"SELECT count(*) FILTER (WHERE status = 'queued'),"                               \
	"       coalesce(extract(epoch FROM now() - min(created_at)"                      \
	"                FILTER (WHERE status = 'queued'))::bigint, 0),"                   \
	"       count(*) FILTER (WHERE status = 'running'),"                               \
	"       count(*) FILTER (WHERE status = 'failed'"                                  \
	"                         AND finished_at > now() - interval '1 day')"             \
	"  FROM crux.export_jobs"
#define RUNNING_SQL \
	"SELECT uuid, attempts, coalesce(row_count, 0),"                                   \
	"       extract(epoch FROM now() - started_at)::bigint, coalesce(worker, '')"      \
	"  FROM crux.export_jobs WHERE status = 'running' ORDER BY started_at"

/* One database's queue into a JSON object; NULL with *error set. */
static json_object *
queue_of(PGconn *conn, char **error)
{
	PGresult   *queue = run(conn, PGRES_TUPLES_OK, QUEUE_SQL, 0, NULL);
	PGresult   *running = queue ? run(conn, PGRES_TUPLES_OK, RUNNING_SQL, 0, NULL) : NULL;
	json_object *out;
	json_object *jobs;

	if (running == NULL)
	{
		*error = strdup(PQerrorMessage(conn));
		PQclear(queue);
		return NULL;
	}
	out = json_object_new_object();
	jobs = json_object_new_array();
	json_object_object_add(out, "queued", json_object_new_int64(atoll(PQgetvalue(queue, 0, 0))));
	json_object_object_add(out, "oldest_queued_seconds",
						   json_object_new_int64(atoll(PQgetvalue(queue, 0, 1))));
	json_object_object_add(out, "running", json_object_new_int64(atoll(PQgetvalue(queue, 0, 2))));
	json_object_object_add(out, "failed_last_day",
						   json_object_new_int64(atoll(PQgetvalue(queue, 0, 3))));
	for (int i = 0; i < PQntuples(running); i++)
	{
		json_object *job = json_object_new_object();

		json_object_object_add(job, "uuid", json_object_new_string(PQgetvalue(running, i, 0)));
		json_object_object_add(job, "attempt", json_object_new_int(atoi(PQgetvalue(running, i, 1))));
		json_object_object_add(job, "rows", json_object_new_int64(atoll(PQgetvalue(running, i, 2))));
		json_object_object_add(job, "running_seconds",
							   json_object_new_int64(atoll(PQgetvalue(running, i, 3))));
		json_object_object_add(job, "worker", json_object_new_string(PQgetvalue(running, i, 4)));
		json_object_array_add(jobs, job);
	}
	json_object_object_add(out, "running_jobs", jobs);
	PQclear(queue);
	PQclear(running);
	return out;
}

static long long
member(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static void
print_text(const char *database, json_object *q)
{
	json_object *jobs;

	printf("%s: %lld queued (oldest %llds), %lld running, %lld failed in the last day\n",
		   *database ? database : "(PG* variables)", member(q, "queued"),
		   member(q, "oldest_queued_seconds"), member(q, "running"),
		   member(q, "failed_last_day"));
	json_object_object_get_ex(q, "running_jobs", &jobs);
	for (size_t i = 0; i < json_object_array_length(jobs); i++)
	{
		json_object *job = json_object_array_get_idx(jobs, i);
		json_object *v;

		json_object_object_get_ex(job, "uuid", &v);
		printf("  running %s: attempt %lld, %lld rows so far, for %llds", json_object_get_string(v),
			   member(job, "attempt"), member(job, "rows"), member(job, "running_seconds"));
		json_object_object_get_ex(job, "worker", &v);
		printf(", by %s\n", json_object_get_string(v));
	}
}

/* Shows every database's queue; 0 when all answered, else 1. */
int
show_status(const Options *opt)
{
	int			failed = 0;

	for (int i = 0; i < opt->n_databases; i++)
	{
		PGconn	   *conn = PQconnectdb(opt->databases[i]);
		char	   *error = NULL;
		json_object *q = PQstatus(conn) == CONNECTION_OK ? queue_of(conn, &error) : NULL;

		if (q == NULL)
		{
			fprintf(stderr, "crux-export-worker: %s: %s", *opt->databases[i] ? opt->databases[i]
					: "(PG* variables)", error ? error : PQerrorMessage(conn));
			failed = 1;
		}
		else if (opt->log_json)
		{
			json_object_object_add(q, "database", json_object_new_string(PQdb(conn)));
			printf("%s\n", json_object_to_json_string_ext(q, JSON_C_TO_STRING_PLAIN));
		}
		else
			print_text(opt->databases[i], q);
		json_object_put(q);
		free(error);
		PQfinish(conn);
	}
	return failed;
}
