/*
 * worker_output.c
 *		crux-export-worker's output: an export's CSV file, written in one piece or
 *		by slices in parallel, joined in order without a final copy of every slice.
 *
 * Slice 0 writes straight into the export's file. Each later slice writes into a
 * file of its own until every slice before it is complete; then the joining
 * thread copies what that slice has written so far onto the end of the export's
 * file (copy_file_range, in the kernel), and once it has caught up the slice
 * appends the rest itself. With slices that end close together, only the last
 * part of a slice waits to be copied, instead of whole slices after the last one
 * ends. The joining thread also asks the kernel to write the file back as it
 * grows (sync_file_range), so that the final fsync has little left to wait for,
 * and no slice's thread waits for the disk.
 *
 * Writes are buffered per writer (BUFFER_BYTES) and made under the output's lock,
 * so that the joining thread always sees whole writes. Only one party writes into
 * the export's file at a time: the slice whose turn it is, or the joining thread
 * while it copies that slice's own file.
 *
 * In the test build (crux-export-worker-test, CRUX_WORKER_TEST_HOOKS), the
 * environment variable CRUX_EXPORT_WORKER_TEST_JOIN fixes the order in which
 * slices end, so that both ways of joining are tested:
 *   while-running: each slice after the first writes half of its first chunk into
 *                  its own file, then waits until it appends to the export's
 *                  file itself (which the joining thread lets it do only after
 *                  that first write), and appends the rest there;
 *   after-end:     each slice but the last waits, before it ends, until the next
 *                  one has ended, so every later slice is copied whole.
 */
#define _GNU_SOURCE				/* copy_file_range, sync_file_range, asprintf */
#include "worker_output.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define BUFFER_BYTES (256 * 1024)
/* how much of the file is written before the kernel is asked to write it back */
#define WRITE_BACK_BYTES ((off_t) 32 * 1024 * 1024)

typedef enum TestJoin
{
	TEST_JOIN_NONE,
	TEST_JOIN_WHILE_RUNNING,
	TEST_JOIN_AFTER_END
} TestJoin;

struct OutputWriter
{
	ExportOutput *out;
	int			k;
	char	   *path;			/* its own file (slices after the first) */
	int			fd;				/* of its own file, -1 when none */
	off_t		own_bytes;		/* bytes in its own file */
	off_t		copied;			/* of those, copied into the export's file */
	bool		direct;			/* appends to the export's file itself */
	bool		done;
	bool		ok;
	int			saved_errno;	/* of the first failed write */
	size_t		buffered;
	char	   *buffer;
};

struct ExportOutput
{
	pthread_mutex_t lock;
	pthread_cond_t changed;		/* a write, a writer done, a writer made direct */
	char	   *path;
	int			fd;
	off_t		end;			/* bytes in the export's file */
	off_t		written_back;	/* asked to be written back up to here */
	off_t		copied;			/* bytes copied from the writers' own files */
	bool		failed;			/* joining stopped: waiting writers go on */
	TestJoin	test_join;
	int			n_writers;
	OutputWriter writers[OUTPUT_MAX_WRITERS];
};

/* Writes all of data at offset; false with errno set on failure. */
static bool
write_at(int fd, const char *data, size_t len, off_t offset)
{
	while (len > 0)
	{
		ssize_t		n = pwrite(fd, data, len, offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			if (n == 0)
				errno = EIO;
			return false;
		}
		data += n;
		len -= n;
		offset += n;
	}
	return true;
}

/* Copies len bytes of in at from to out at to, in the kernel where it can. */
static bool
copy_range(int in, off_t from, int out, off_t to, off_t len)
{
	while (len > 0)
	{
		ssize_t		n = copy_file_range(in, &from, out, &to, len, 0);

		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL))
		{
			/* file systems without copy_file_range: read and write */
			char		buf[1 << 16];

			n = pread(in, buf, len < (off_t) sizeof(buf) ? len : (off_t) sizeof(buf), from);
			if (n > 0 && !write_at(out, buf, n, to))
				return false;
			from += n > 0 ? n : 0;
			to += n > 0 ? n : 0;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			if (n == 0)
				errno = EIO;	/* the slice's file is shorter than it wrote */
			return false;
		}
		len -= n;
	}
	return true;
}

ExportOutput *
output_create(const char *path, int n_writers, char **error)
{
	ExportOutput *out = calloc(1, sizeof(ExportOutput));

	if (out == NULL || n_writers < 1 || n_writers > OUTPUT_MAX_WRITERS)
		abort();
	pthread_mutex_init(&out->lock, NULL);
	pthread_cond_init(&out->changed, NULL);
	out->path = strdup(path);
	out->n_writers = n_writers;
#ifdef CRUX_WORKER_TEST_HOOKS
	{
		const char *test_join = getenv("CRUX_EXPORT_WORKER_TEST_JOIN");

		if (test_join != NULL && strcmp(test_join, "while-running") == 0)
			out->test_join = TEST_JOIN_WHILE_RUNNING;
		else if (test_join != NULL && strcmp(test_join, "after-end") == 0)
			out->test_join = TEST_JOIN_AFTER_END;
	}
#endif
	for (int k = 0; k < n_writers; k++)
		out->writers[k] = (OutputWriter) {
			.out = out, .k = k, .fd = -1, .direct = k == 0, .ok = true
		};

	out->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
	if (out->fd < 0)
	{
		if (asprintf(error, "could not create \"%s\": %s", path, strerror(errno)) < 0)
			abort();
		output_close(out);
		return NULL;
	}
	for (int k = 1; k < n_writers; k++)
	{
		OutputWriter *w = &out->writers[k];

		if (asprintf(&w->path, "%s.%d", path, k) < 0)
			abort();
		w->fd = open(w->path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
		if (w->fd < 0)
		{
			if (asprintf(error, "could not create \"%s\": %s", w->path, strerror(errno)) < 0)
				abort();
			output_close(out);
			return NULL;
		}
	}
	return out;
}

OutputWriter *
output_writer(ExportOutput *out, int k)
{
	return &out->writers[k];
}

/* Asks the kernel to start writing the file back: a hint, errors show at fsync. */
static void
write_back(ExportOutput *out, off_t end)
{
	if (end - out->written_back >= WRITE_BACK_BYTES)
	{
		(void) sync_file_range(out->fd, out->written_back, end - out->written_back,
							   SYNC_FILE_RANGE_WRITE);
		out->written_back = end;
	}
}

/* Writes the writer's buffer where its part goes now; the lock is held. */
static bool
flush_locked(OutputWriter *w, const char *data, size_t len)
{
	ExportOutput *out = w->out;
	bool		ok;

	if (len == 0)
		return true;
	if (w->direct)
	{
		ok = write_at(out->fd, data, len, out->end);
		if (ok)
			out->end += len;
	}
	else
	{
		ok = write_at(w->fd, data, len, w->own_bytes);
		if (ok)
			w->own_bytes += len;
	}
	if (!ok && w->saved_errno == 0)
		w->saved_errno = errno;
	pthread_cond_broadcast(&out->changed);
	return ok;
}

static bool
flush_writer(OutputWriter *w, const char *data, size_t len)
{
	ExportOutput *out = w->out;
	bool		ok;
	bool		first_own_write;

	pthread_mutex_lock(&out->lock);
	first_own_write = !w->direct && w->own_bytes == 0;
	ok = flush_locked(w, data, len);
	if (ok && first_own_write && out->test_join == TEST_JOIN_WHILE_RUNNING)
		while (!w->direct && !out->failed)
			pthread_cond_wait(&out->changed, &out->lock);
	pthread_mutex_unlock(&out->lock);

	/* in one piece, the writer asks for the write-back itself */
	if (ok && out->n_writers == 1)
		write_back(out, out->end);
	return ok;
}

bool
output_write(OutputWriter *w, const char *data, size_t len)
{
	if (!w->ok)
		return false;
	if (w->out->test_join == TEST_JOIN_WHILE_RUNNING && w->k > 0 && w->own_bytes == 0 &&
		w->buffered == 0 && len > 1)
	{
		/* half into its own file (then it waits until it appends itself), half after */
		w->ok = flush_writer(w, data, len / 2) && flush_writer(w, data + len / 2, len - len / 2);
		return w->ok;
	}
	if (w->buffered + len > BUFFER_BYTES && w->buffered > 0)
	{
		w->ok = flush_writer(w, w->buffer, w->buffered);
		w->buffered = 0;
		if (!w->ok)
			return false;
	}
	if (len >= BUFFER_BYTES)
	{
		w->ok = flush_writer(w, data, len);
		return w->ok;
	}
	if (w->buffer == NULL && (w->buffer = malloc(BUFFER_BYTES)) == NULL)
		abort();
	memcpy(w->buffer + w->buffered, data, len);
	w->buffered += len;
	return true;
}

bool
output_writer_done(OutputWriter *w, bool ok)
{
	ExportOutput *out = w->out;

	if (ok && w->ok && w->buffered > 0)
		w->ok = flush_writer(w, w->buffer, w->buffered);
	w->buffered = 0;
	free(w->buffer);
	w->buffer = NULL;

	pthread_mutex_lock(&out->lock);
	if (out->test_join == TEST_JOIN_AFTER_END && w->k + 1 < out->n_writers)
		while (!out->writers[w->k + 1].done && !out->failed)
			pthread_cond_wait(&out->changed, &out->lock);
	w->ok = w->ok && ok;
	w->done = true;
	pthread_cond_broadcast(&out->changed);
	pthread_mutex_unlock(&out->lock);
	return w->ok;
}

/*
 * Joins writer k: copies what it wrote into its own file, lets it append itself
 * once caught up, and waits until it is done, asking for write-back meanwhile.
 * False when it failed or its part could not be copied (errno set).
 */
static bool
join_writer(ExportOutput *out, OutputWriter *w, int *copy_errno)
{
	bool		ok;

	pthread_mutex_lock(&out->lock);
	for (;;)
	{
		if (w->done && !w->ok)
			break;
		else if (!w->direct && w->copied < w->own_bytes)
		{
			off_t		from = w->copied;
			off_t		len = w->own_bytes - w->copied;
			off_t		to = out->end;

			/* the slice appends only to its own file meanwhile */
			pthread_mutex_unlock(&out->lock);
			ok = copy_range(w->fd, from, out->fd, to, len);
			pthread_mutex_lock(&out->lock);
			if (!ok)
			{
				*copy_errno = errno;
				pthread_mutex_unlock(&out->lock);
				return false;
			}
			w->copied += len;
			out->copied += len;
			out->end += len;
		}
		else if (!w->direct && out->test_join == TEST_JOIN_WHILE_RUNNING &&
				 w->own_bytes == 0 && !w->done)
			pthread_cond_wait(&out->changed, &out->lock);	/* its first write first */
		else if (!w->direct)
		{
			w->direct = true;	/* caught up: it appends itself from now on */
			pthread_cond_broadcast(&out->changed);
		}
		else if (w->done)
			break;
		else if (out->end - out->written_back >= WRITE_BACK_BYTES)
		{
			off_t		end = out->end;

			pthread_mutex_unlock(&out->lock);
			write_back(out, end);
			pthread_mutex_lock(&out->lock);
		}
		else
			pthread_cond_wait(&out->changed, &out->lock);
	}
	ok = w->ok;
	pthread_mutex_unlock(&out->lock);
	return ok;
}

bool
output_join(ExportOutput *out, char **error)
{
	int			copy_errno = 0;
	bool		ok = true;

	for (int k = 0; k < out->n_writers && ok; k++)
	{
		OutputWriter *w = &out->writers[k];

		ok = join_writer(out, w, &copy_errno);
		if (!ok && copy_errno == 0 && w->saved_errno != 0 &&
			asprintf(error, "could not write \"%s\": %s", w->direct ? out->path : w->path,
					 strerror(w->saved_errno)) < 0)
			abort();
		if (!ok && copy_errno != 0 &&
			asprintf(error, "could not join \"%s\": %s", w->path, strerror(copy_errno)) < 0)
			abort();
	}
	if (!ok)
	{
		/* writers that wait for their turn go on, so that they end */
		pthread_mutex_lock(&out->lock);
		out->failed = true;
		pthread_cond_broadcast(&out->changed);
		pthread_mutex_unlock(&out->lock);
		return false;
	}
	if (fsync(out->fd) != 0)
	{
		if (asprintf(error, "could not write \"%s\": %s", out->path, strerror(errno)) < 0)
			abort();
		return false;
	}
	return true;
}

long
output_copied_bytes(ExportOutput *out)
{
	return (long) out->copied;
}

void
output_close(ExportOutput *out)
{
	for (int k = 0; k < out->n_writers; k++)
	{
		OutputWriter *w = &out->writers[k];

		if (w->fd >= 0)
			close(w->fd);
		if (w->path != NULL)
			unlink(w->path);
		free(w->path);
		free(w->buffer);
	}
	if (out->fd >= 0)
		close(out->fd);
	pthread_cond_destroy(&out->changed);
	pthread_mutex_destroy(&out->lock);
	free(out->path);
	free(out);
}
