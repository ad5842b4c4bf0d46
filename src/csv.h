/*
 * csv.h
 *		The cells of the worker's CSV (csv_cells.c), for crux.export_csv (csv.c).
 */
#ifndef CRUX_CSV_H
#define CRUX_CSV_H

#include "fmgr.h"
#include "lib/stringinfo.h"

/*
 * How a column's values are written: the common types directly into the chunk,
 * in the bytes their output functions would return, the rest by their output
 * functions.
 */
typedef enum CsvKind
{
	CSV_BY_OUTPUT_FUNCTION,
	CSV_TEXT,					/* text, varchar: their own bytes */
	CSV_UUID,
	CSV_INT2,
	CSV_INT4,
	CSV_INT8,
	CSV_ENUM,					/* the label, kept after its first use */
	/* the API's forms */
	CSV_API_TIMESTAMP,
	CSV_API_DATE,
	CSV_API_NUMERIC,
	CSV_API_BOOL
} CsvKind;

#define CSV_MAX_KEPT_LABELS 16

/* How one export writes its values, and the enum labels it met. */
typedef struct CsvCells
{
	bool		formula_safe;	/* text cells never read as formulas */
	MemoryContext context;		/* where the labels are kept */
	int			n_labels;		/* enum labels met so far (line item statuses) */
	Oid			label_oids[CSV_MAX_KEPT_LABELS];
	char	   *labels[CSV_MAX_KEPT_LABELS];
} CsvCells;

extern CsvKind csv_kind(Oid type);

/* A value, not NULL, of a column written as kind. */
extern void csv_append_value(CsvCells *cells, StringInfo buf, CsvKind kind, FmgrInfo *out,
							 Datum value, bool single_column);

/* A text cell, made formula-safe when the export asks for it. */
extern void csv_append_text_cell(const CsvCells *cells, StringInfo buf, const char *value,
								 int len, bool single_column);

/* A value quoted as COPY's CSV format quotes it (headers, and text cells). */
extern void csv_append_value_quoted(StringInfo buf, const char *value, int len,
									bool single_column);

#endif							/* CRUX_CSV_H */
