/*
 * worker.h
 *		What the parts of crux-export-worker share: its options, a claimed job,
 *		logging and running a command (worker_main.c), the queue
 *		(worker_queue.c), writing a job's CSV (worker_export.c), holding its lease
 *		(worker_lease.c) and emailing it (worker_mail.c).
 */
#ifndef CRUX_WORKER_H
#define CRUX_WORKER_H

#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define MAX_DATABASES 16

struct OutputWriter;			/* worker_output.h */

typedef struct Options
{
	const char *conninfo;		/* the jobs' database (the primary) */
	const char *databases[MAX_DATABASES];	/* every -d: the databases served */
	int			n_databases;
	const char *read_dsn;		/* where exports are read; NULL: conninfo */
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
	int			keep_days;		/* files older than this are removed; 0: kept */
	bool		formula_safe;	/* text cells never read as formulas */
	const char *name;			/* this worker, host:pid, recorded on its claims */
	const char *config;			/* the configuration file read, or NULL */
	const char *password_file;	/* the database password, or NULL: libpq's ways */
	const char *smtp_user;		/* SMTP login, or NULL */
	const char *smtp_password_file;
	char	   *smtp_password;	/* from that file or CRUX_SMTP_PASSWORD, or NULL */
	bool		log_json;		/* log lines as JSON objects */
	bool		status;			/* --status: show the queues, then exit */
} Options;

/* worker_config.c */
extern void options_load(int argc, char **argv, Options *opt);
extern bool options_reload(int argc, char **argv, Options *opt);

/* worker_status.c */
extern int	show_status(const Options *opt);

#define MAX_JOBS 16

typedef struct Lease Lease;

typedef struct Job
{
	char		uuid[64];
	int			attempt;
	char	   *request;		/* jsonb as text */
	char	   *requested_by;
	char	   *claims;			/* NULL for roles without claims */
	char	   *email;			/* NULL: the file alone */
	char	   *organization;	/* the organization it acted for; NULL: an admin's */
	int			shards;			/* > 1: an admin's export across that many shards */
	Lease	   *lease;			/* held while it runs */
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

/*
 * Acts as the job's requester for the rest of the transaction (false with *error
 * set if refused); then, once per job, whether it still acts for the job's
 * organization (or is still an admin): 1, or 0 or -1 with *error set.
 */
extern int	begin_as_requester(PGconn *conn, const Options *opt, const Job *job,
							   const char *snapshot, bool check_acts, char **error);
extern PGconn *connect_for_export(const Options *opt, char **error);
extern uint32_t read_uint32(const char *p);
extern int	parse_record(const char *value, int len, int ncols, const char **fields,
						 int *lengths);
extern long chunks_to_output(PGconn *conn, long long first, long long count, bool header,
							 const Options *opt, const Job *job, struct OutputWriter *w,
							 const char *label, long *bytes, char **error);

/* worker_merge.c */
extern long write_csv_across_shards(const Options *opt, const Job *job, const char *tmp_path,
									long *bytes, char **error);

/* worker_queue.c */
extern bool sweep_queue(PGconn *conn, const Options *opt, const volatile sig_atomic_t *stop);

/* worker_lease.c */
extern Lease *lease_start(const Options *opt, const Job *job, char **error);
extern void lease_stop(Lease *lease);
extern void lease_watch(Lease *lease, PGconn *conn);
extern void lease_unwatch(Lease *lease, PGconn *conn);
extern void lease_add_rows(Lease *lease, long rows);
extern bool lease_lost(Lease *lease, PGconn *conn, const char **reason);
extern int	lease_renew(PGconn *conn, const Options *opt, const Job *job, long rows,
						char **reason);

/* worker_mail.c */
extern bool address_is_plain(const char *address);
extern char *send_email(const Options *opt, const Job *job, const char *path, long rows,
						long bytes);

#endif							/* CRUX_WORKER_H */
