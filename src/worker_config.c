/*
 * worker_config.c
 *		crux-export-worker's settings: the defaults; the configuration file
 *		(--config FILE, else /etc/crux-export-worker.conf when it exists), whose
 *		"name = value" lines use the long options' names; the command line, which
 *		overrides the file; the secrets (the database and SMTP passwords, from a
 *		file or the environment, never from the command line); and the checks of
 *		them all. The file is read again on SIGHUP.
 */
#define _GNU_SOURCE				/* getline */
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker.h"

#define DEFAULT_CONFIG "/etc/crux-export-worker.conf"

static void
usage(void)
{
	printf("crux-export-worker turns queued crux_orders exports into CSV files and emails them.\n\n"
		   "Usage: crux-export-worker [OPTION]...\n\n"
		   "  -c, --config=FILE          settings as \"name = value\" lines, names as the long\n"
		   "                             options below (default: " DEFAULT_CONFIG "\n"
		   "                             when it exists); the command line overrides it\n"
		   "  -d, --dbname=CONNINFO      database to serve (default: the PG* variables); give it\n"
		   "                             once per database, e.g. per shard\n"
		   "      --read-dsn=CONNINFO    read the exports from this server, e.g. a hot standby\n"
		   "                             (default: the database above)\n"
		   "      --password-file=FILE   the database password (default: PGPASSWORD, ~/.pgpass)\n"
		   "  -o, --output-dir=DIR       where CSV files go (default: .)\n"
		   "  -s, --smtp-url=URL         SMTP server, e.g. smtp://localhost:25 (default: no email)\n"
		   "      --smtp-user=NAME       SMTP login (default: none)\n"
		   "      --smtp-password-file=FILE  its password (default: CRUX_SMTP_PASSWORD)\n"
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
		   "      --log-format=FORMAT    text (default) or json, one object per line\n"
		   "      --status               show each database's export queue, then exit\n"
		   "  -h, --help                 show this help, then exit\n\n"
		   "SIGHUP reads the configuration file again; SIGTERM stops the worker between jobs.\n");
}

/* The long options; the numbers stand for options without a short form. */
static const struct option long_options[] = {
	{"config", required_argument, NULL, 'c'},
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
	{"read-dsn", required_argument, NULL, 11},
	{"password-file", required_argument, NULL, 12},
	{"smtp-user", required_argument, NULL, 13},
	{"smtp-password-file", required_argument, NULL, 14},
	{"log-format", required_argument, NULL, 15},
	{"status", no_argument, NULL, 16},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0}
};

static const Options defaults = {
	.conninfo = "", .output_dir = ".", .smtp_url = NULL,
	.from = "crux-orders@localhost", .once = false, .interval = 30,
	.lease = 600, .max_attempts = 5, .attach_limit = 10 * 1024 * 1024, .backoff = 30,
	.jobs = 2, .slice_orders = 20000, .work_mem = "256MB", .keep_days = 0,
	.formula_safe = true
};

/* A whole number from min to max; false if value is anything else. */
static bool
parse_number(const char *value, long long min, long long max, long long *out)
{
	char	   *end;

	errno = 0;
	*out = strtoll(value, &end, 10);
	return errno == 0 && end != value && *end == '\0' && *out >= min && *out <= max;
}

static bool
parse_bool(const char *value, bool *out)
{
	if (strcmp(value, "true") == 0 || strcmp(value, "on") == 0 || strcmp(value, "1") == 0)
		*out = true;
	else if (strcmp(value, "false") == 0 || strcmp(value, "off") == 0 ||
			 strcmp(value, "0") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* The numeric settings: name, where, range. */
typedef struct NumberSetting
{
	const char *name;
	size_t		offset;
	int			size;			/* sizeof the field: int, long or long long */
	long long	min;
	long long	max;
} NumberSetting;

#define NUMBER(name, field, min, max) \
	{name, offsetof(Options, field), sizeof(((Options *) 0)->field), min, max}
static const NumberSetting numbers[] = {
	NUMBER("interval", interval, 1, 86400),
	NUMBER("lease", lease, 1, 86400),
	NUMBER("max-attempts", max_attempts, 1, 1000),
	NUMBER("attach-limit", attach_limit, 0, 1L << 40),
	NUMBER("backoff", backoff, 0, 86400),
	NUMBER("jobs", jobs, 1, MAX_JOBS),
	NUMBER("slice-orders", slice_orders, 1, 1LL << 40),
	NUMBER("keep-days", keep_days, 0, 36500),
};

/* Sets the number named name; -1 if name is no number, 0 if value is out of range. */
static int
set_number(Options *opt, const char *name, const char *value)
{
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
	{
		const NumberSetting *n = &numbers[i];
		char	   *field = (char *) opt + n->offset;
		long long	v;

		if (strcmp(n->name, name) != 0)
			continue;
		if (!parse_number(value, n->min, n->max, &v))
			return 0;
		if (n->size == sizeof(int))
			*(int *) field = (int) v;
		else if (n->size == sizeof(long))
			*(long *) field = (long) v;
		else
			*(long long *) field = v;
		return 1;
	}
	return -1;
}

/* Sets one setting by its long option's name; false if the name or value is wrong. */
static bool
set_option(Options *opt, const char *name, const char *value)
{
	bool		flag;
	int			number = set_number(opt, name, value);

	if (number >= 0)
		return number == 1;
	if (strcmp(name, "dbname") == 0)
	{
		if (opt->n_databases == MAX_DATABASES)
			return false;
		opt->databases[opt->n_databases++] = strdup(value);
	}
	else if (strcmp(name, "read-dsn") == 0)
		opt->read_dsn = strdup(value);
	else if (strcmp(name, "output-dir") == 0)
		opt->output_dir = strdup(value);
	else if (strcmp(name, "smtp-url") == 0)
		opt->smtp_url = *value ? strdup(value) : NULL;
	else if (strcmp(name, "smtp-user") == 0)
		opt->smtp_user = *value ? strdup(value) : NULL;
	else if (strcmp(name, "smtp-password-file") == 0)
		opt->smtp_password_file = strdup(value);
	else if (strcmp(name, "password-file") == 0)
		opt->password_file = strdup(value);
	else if (strcmp(name, "from") == 0)
		opt->from = strdup(value);
	else if (strcmp(name, "work-mem") == 0)
		opt->work_mem = strdup(value);
	else if (strcmp(name, "once") == 0 && parse_bool(value, &flag))
		opt->once = flag;
	else if (strcmp(name, "no-formula-escape") == 0 && parse_bool(value, &flag))
		opt->formula_safe = !flag;
	else if (strcmp(name, "log-format") == 0 &&
			 (strcmp(value, "text") == 0 || strcmp(value, "json") == 0))
		opt->log_json = strcmp(value, "json") == 0;
	else
		return false;
	return true;
}

/*
 * Reads the configuration file into opt: "name = value" lines, # comments,
 * blank lines. False with a message in error (which it allocates) if it cannot.
 */
static bool
read_config(const char *path, Options *opt, char **error)
{
	FILE	   *f = fopen(path, "r");
	char	   *line = NULL;
	size_t		size = 0;
	int			lineno = 0;
	bool		ok = true;

	if (f == NULL)
	{
		if (asprintf(error, "could not read the configuration file \"%s\": %s", path,
					 strerror(errno)) < 0)
			abort();
		return false;
	}
	while (ok && getline(&line, &size, f) >= 0)
	{
		char	   *name = line + strspn(line, " \t");
		char	   *eq = strchr(name, '=');
		char	   *value;
		char	   *end;

		lineno++;
		if (*name == '#' || *name == '\n' || *name == '\0')
			continue;
		if (eq == NULL)
		{
			ok = false;
			break;
		}
		value = eq + 1 + strspn(eq + 1, " \t");
		for (end = eq; end > name && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = '\0';
		for (end = value + strlen(value); end > value && strchr(" \t\r\n", end[-1]); end--)
			;
		*end = '\0';
		if (strcmp(name, "config") == 0 || strcmp(name, "status") == 0 ||
			strcmp(name, "help") == 0 || !set_option(opt, name, value))
			ok = false;
	}
	free(line);
	fclose(f);
	if (!ok && asprintf(error, "invalid line %d of the configuration file \"%s\"", lineno,
						path) < 0)
		abort();
	return ok;
}

/* The name of the long option of getopt's answer c. */
static const char *
option_name(int c)
{
	for (const struct option *o = long_options; o->name != NULL; o++)
		if (o->val == c)
			return o->name;
	return NULL;
}

/* Whether a connection string or an SMTP URL carries a password. */
static bool
carries_password(const char *name, const char *value)
{
	if (strcmp(name, "smtp-url") == 0)
	{
		const char *authority = strstr(value, "://");
		const char *at;
		const char *colon;

		authority = authority ? authority + 3 : value;
		at = strchr(authority, '@');
		colon = strchr(authority, ':');
		return at != NULL && colon != NULL && colon < at;
	}
	if (strcmp(name, "dbname") == 0 || strcmp(name, "read-dsn") == 0)
	{
		PQconninfoOption *parsed = PQconninfoParse(value, NULL);
		bool		found = false;

		for (PQconninfoOption *o = parsed; o != NULL && o->keyword != NULL; o++)
			if (strcmp(o->keyword, "password") == 0 && o->val != NULL && *o->val)
				found = true;
		PQconninfoFree(parsed);
		return found;
	}
	return false;
}

/*
 * The command line over opt. The configuration file's databases give way to the
 * command line's, if it names any. False with *error set on a bad option.
 */
static bool
apply_command_line(int argc, char **argv, Options *opt, const char **config, char **error)
{
	int			c;
	bool		own_databases = false;

	optind = 0;					/* glibc: start over */
	while ((c = getopt_long(argc, argv, "c:d:o:s:f:j:h", long_options, NULL)) != -1)
	{
		const char *name = option_name(c);
		const char *value = optarg ? optarg : "true";

		if (c == 'h')
		{
			usage();
			exit(0);
		}
		if (c == '?' || name == NULL)
		{
			*error = strdup("Try \"crux-export-worker --help\" for more information.");
			return false;
		}
		if (c == 'c')
			*config = optarg;
		else if (c == 16)
			opt->status = true;
		else if (carries_password(name, value))
		{
			if (asprintf(error, "a password on the command line (--%s) is refused: every user"
						 " can read it; use --password-file, --smtp-password-file or the"
						 " environment (PGPASSWORD, CRUX_SMTP_PASSWORD)", name) < 0)
				abort();
			return false;
		}
		else
		{
			if (c == 'd' && !own_databases)
				opt->n_databases = 0;
			own_databases |= c == 'd';
			if (!set_option(opt, name, value))
			{
				if (asprintf(error, "invalid --%s: \"%s\"", name, value) < 0)
					abort();
				return false;
			}
		}
	}
	if (optind < argc)
	{
		if (asprintf(error, "unexpected argument \"%s\"", argv[optind]) < 0)
			abort();
		return false;
	}
	return true;
}

/*
 * A secret's file: its first line. NULL with *error set if it cannot be read, or
 * if every user may read it.
 */
static char *
read_secret(const char *path, char **error)
{
	FILE	   *f = fopen(path, "r");
	struct stat st;
	char	   *line = NULL;
	size_t		size = 0;

	if (f == NULL || fstat(fileno(f), &st) != 0)
	{
		if (asprintf(error, "could not read the secret \"%s\": %s", path, strerror(errno)) < 0)
			abort();
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	if (st.st_mode & S_IROTH)
	{
		if (asprintf(error, "the secret \"%s\" is readable by everyone: chmod o-r it", path) < 0)
			abort();
		fclose(f);
		return NULL;
	}
	if (getline(&line, &size, f) < 0)
	{
		free(line);
		line = strdup("");
	}
	line[strcspn(line, "\r\n")] = '\0';
	fclose(f);
	return line;
}

/*
 * The passwords: the database's from --password-file (into PGPASSWORD, which
 * every connection of libpq reads), else libpq's own ways; the SMTP server's from
 * --smtp-password-file, else CRUX_SMTP_PASSWORD.
 */
static bool
resolve_secrets(Options *opt, char **error)
{
	if (opt->password_file != NULL)
	{
		char	   *password = read_secret(opt->password_file, error);

		if (password == NULL)
			return false;
		setenv("PGPASSWORD", password, 1);
		free(password);
	}
	if (opt->smtp_password_file != NULL)
		return (opt->smtp_password = read_secret(opt->smtp_password_file, error)) != NULL;
	if (getenv("CRUX_SMTP_PASSWORD") != NULL)
		opt->smtp_password = strdup(getenv("CRUX_SMTP_PASSWORD"));
	return true;
}

static bool
check_options(const Options *opt, char **error)
{
	if (opt->n_databases > 1 && opt->read_dsn != NULL)
		*error = strdup("--read-dsn serves one database (one -d)");
	else if (!address_is_plain(opt->from) &&
			 asprintf(error, "invalid --from \"%s\": not one plain address (local@domain)",
					  opt->from) < 0)
		abort();
	return *error == NULL;
}

/* The defaults, the configuration file, the command line, the secrets. */
static bool
load(int argc, char **argv, Options *opt, char **error)
{
	Options		scratch = defaults;
	const char *config = NULL;

	*error = NULL;
	if (!apply_command_line(argc, argv, &scratch, &config, error))
		return false;
	*opt = defaults;
	if (config == NULL && access(DEFAULT_CONFIG, F_OK) == 0)
		config = DEFAULT_CONFIG;
	if (config != NULL && !read_config(config, opt, error))
		return false;
	opt->config = config;
	return apply_command_line(argc, argv, opt, &config, error) &&
		resolve_secrets(opt, error) && check_options(opt, error);
}

/* The settings at start; exits with status 2 when they are wrong. */
void
options_load(int argc, char **argv, Options *opt)
{
	char	   *error = NULL;

	if (!load(argc, argv, opt, &error))
	{
		fprintf(stderr, "crux-export-worker: %s\n", error);
		exit(2);
	}
}

/*
 * The settings again (SIGHUP): the file as it is now, the same command line. On
 * an error the old settings stay, and it is logged.
 */
bool
options_reload(int argc, char **argv, Options *opt)
{
	Options		fresh;
	char	   *error = NULL;

	if (!load(argc, argv, &fresh, &error))
	{
		log_msg("configuration not reloaded: %s", error);
		free(error);
		return false;
	}
	*opt = fresh;
	return true;
}
