/*
 * worker_output.h
 *		crux-export-worker's output: an export's CSV file, written in one piece or
 *		by slices in parallel (worker_output.c).
 */
#ifndef CRUX_WORKER_OUTPUT_H
#define CRUX_WORKER_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#define OUTPUT_MAX_WRITERS 16

typedef struct ExportOutput ExportOutput;
typedef struct OutputWriter OutputWriter;

/*
 * Creates path for an export written by n_writers writers (slices, in order;
 * 1: in one piece, by the calling thread). NULL with *error set on failure.
 */
extern ExportOutput *output_create(const char *path, int n_writers, char **error);

/* Writer k (0 to n_writers - 1), for the thread that writes slice k. */
extern OutputWriter *output_writer(ExportOutput *out, int k);

/* Appends len bytes to the writer's part; false (errno set) on failure. */
extern bool output_write(OutputWriter *w, const char *data, size_t len);

/* Marks the writer's part complete (ok) or failed; flushes what it buffered. */
extern bool output_writer_done(OutputWriter *w, bool ok);

/*
 * Joins the writers' parts into the file in order as they complete, and syncs it
 * to disk. Called by one thread while the writers run (or after the only writer
 * is done); returns when every writer is done. False with *error set when a
 * writer failed (*error is then NULL: the writer has the reason) or the file
 * could not be written.
 */
extern bool output_join(ExportOutput *out, char **error);

/* How many bytes output_join copied from the writers' own files. */
extern long output_copied_bytes(ExportOutput *out);

/* Closes the file and removes the writers' own files; frees out. */
extern void output_close(ExportOutput *out);

#endif
