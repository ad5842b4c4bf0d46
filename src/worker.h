/*
 * worker.h
 *		What the parts of crux-export-worker share: its options, a claimed job,
 *		logging and running a command (worker.c), and writing a job's CSV
 *		(worker_export.c).
 */
#ifndef CRUX_WORKER_H
#define CRUX_WORKER_H

#include <libpq-fe.h>
#include <stdbool.h>

typedef struct Options
{
	const char *conninfo;
	const char *output_dir;
	const char *smtp_url;
	const char *from;
	bool		once;
	int			interval;		/* seconds between sweeps */
	int			lease;			/* seconds a claim lasts */
	int			max_attempts;
	long		attach_limit;	/* bytes; larger files are named, not attached */
	int			backoff;		/* seconds before the first retry, doubling */
	int			jobs;			/* connections exporting one job in slices */
	long long	slice_orders;	/* fewest orders per slice worth a connection */
	const char *work_mem;		/* work_mem of the exporting sessions; "" keeps the server's */
} Options;

#define MAX_JOBS 16

typedef struct Job
{
	char		uuid[64];
	int			attempt;
	char	   *request;		/* jsonb as text */
	char	   *select_list;	/* quoted column names, or "*" */
	char	   *requested_by;
	char	   *claims;			/* NULL for roles without claims */
	char	   *email;			/* NULL: the file alone */
} Job;

extern void log_msg(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern PGresult *run(PGconn *conn, ExecStatusType expected, const char *sql, int nparams,
					 const char *const *params);

/*
 * Writes the job's CSV to tmp_path; returns the number of rows (and *bytes), or -1
 * with *error set.
 */
extern long write_csv(PGconn *conn, const Options *opt, const Job *job, const char *tmp_path,
					  long *bytes, char **error);

#endif							/* CRUX_WORKER_H */
