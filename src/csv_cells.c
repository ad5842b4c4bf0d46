/*
 * csv_cells.c
 *		The cells of the worker's CSV: each value as COPY's CSV format quotes it,
 *		written directly: text, uuids, integers and enum labels in the bytes their
 *		output functions return, timestamps, dates, numbers and booleans in the
 *		JSON API's forms whatever the session's settings; text cells a spreadsheet
 *		would read as formulas made safe.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "csv.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* Whether a value holds a byte COPY's CSV format quotes for: , " LF CR. */
static bool
has_special_bytes(const char *value, int len)
{
	for (int i = 0; i < len; i++)
		if (value[i] == ',' || value[i] == '"' || value[i] == '\n' || value[i] == '\r')
			return true;
	return false;
}

/* One cell: optionally an apostrophe before the value, all in quotes or none. */
static void
append_cell(StringInfo buf, bool apostrophe, const char *value, int len, bool quote)
{
	if (quote)
		appendStringInfoCharMacro(buf, '"');
	if (apostrophe)
		appendStringInfoCharMacro(buf, '\'');
	if (!quote)
		appendBinaryStringInfo(buf, value, len);
	else
		for (int i = 0; i < len; i++)
		{
			if (value[i] == '"')
				appendStringInfoCharMacro(buf, '"');
			appendStringInfoCharMacro(buf, value[i]);
		}
	if (quote)
		appendStringInfoCharMacro(buf, '"');
}

/*
 * Appends one value as COPY's CSV format writes it: quoted when it is empty
 * (NULL is written as nothing), holds a delimiter, quote, CR or LF, or is "\."
 * alone in a one-column file; quotes inside are doubled. The server encoding is
 * one where these ASCII bytes never occur inside a multibyte character.
 */
void
csv_append_value_quoted(StringInfo buf, const char *value, int len, bool single_column)
{
	append_cell(buf, false, value, len,
				len == 0 || (single_column && len == 2 && value[0] == '\\' && value[1] == '.') ||
				has_special_bytes(value, len));
}

/*
 * A text cell: as csv_append_value_quoted, except that with formula_safe a value
 * a spreadsheet would read as a formula (beginning with =, +, -, @, TAB or CR)
 * gets a leading apostrophe (OWASP's advice against CSV injection).
 */
void
csv_append_text_cell(const CsvCells *cells, StringInfo buf, const char *value, int len,
					 bool single_column)
{
	if (cells->formula_safe && len > 0 && value[0] != '\0' && strchr("=+-@\t\r", value[0]))
		append_cell(buf, true, value, len, has_special_bytes(value, len));
	else
		csv_append_value_quoted(buf, value, len, single_column);
}

static void
append_output(StringInfo buf, FmgrInfo *out, Datum value, bool single_column)
{
	char	   *text = OutputFunctionCall(out, value);

	csv_append_value_quoted(buf, text, strlen(text), single_column);
}

/* A uuid as the API writes it (crux_format_uuid). */
static void
append_uuid(StringInfo buf, const pg_uuid_t *uuid)
{
	enlargeStringInfo(buf, CRUX_UUID_TEXT_LEN);
	buf->len += crux_format_uuid(uuid, buf->data + buf->len);
}

/* An enum's label, from the output function the first time each value is met. */
static const char *
enum_label(CsvCells *cells, FmgrInfo *out, Datum value)
{
	Oid			oid = DatumGetObjectId(value);
	char	   *label;

	for (int i = 0; i < cells->n_labels; i++)
		if (cells->label_oids[i] == oid)
			return cells->labels[i];
	label = OutputFunctionCall(out, value);
	if (cells->n_labels < CSV_MAX_KEPT_LABELS)
	{
		cells->label_oids[cells->n_labels] = oid;
		cells->labels[cells->n_labels++] = MemoryContextStrdup(cells->context, label);
	}
	return label;
}

/*
 * Appends one value, not NULL, of a column written as kind: the same bytes as
 * append_output. uuids, integers and booleans never need quotes.
 */
void
csv_append_value(CsvCells *cells, StringInfo buf, CsvKind kind, FmgrInfo *out, Datum value,
				 bool single_column)
{
	char		digits[MAXINT8LEN + 1];

	switch (kind)
	{
		case CSV_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				csv_append_text_cell(cells, buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), single_column);
				return;
			}
		case CSV_API_TIMESTAMP:
			enlargeStringInfo(buf, CRUX_TIMESTAMP_LEN);
			buf->len += crux_format_timestamp(DatumGetTimestampTz(value), buf->data + buf->len);
			return;
		case CSV_API_DATE:
			enlargeStringInfo(buf, CRUX_TIMESTAMP_LEN);
			buf->len += crux_format_date(DatumGetDateADT(value), buf->data + buf->len);
			return;
		case CSV_API_NUMERIC:
			appendStringInfoString(buf, DatumGetCString(DirectFunctionCall1(numeric_out,
							DirectFunctionCall1(numeric_trim_scale, value))));
			return;
		case CSV_API_BOOL:
			appendStringInfoString(buf, DatumGetBool(value) ? "true" : "false");
			return;
		case CSV_UUID:
			append_uuid(buf, DatumGetUUIDP(value));
			return;
		case CSV_INT2:
			appendBinaryStringInfo(buf, digits, pg_itoa(DatumGetInt16(value), digits));
			return;
		case CSV_INT4:
			appendBinaryStringInfo(buf, digits, pg_ltoa(DatumGetInt32(value), digits));
			return;
		case CSV_INT8:
			appendBinaryStringInfo(buf, digits, pg_lltoa(DatumGetInt64(value), digits));
			return;
		case CSV_ENUM:
			{
				const char *label = enum_label(cells, out, value);

				csv_append_value_quoted(buf, label, strlen(label), single_column);
				return;
			}
		case CSV_BY_OUTPUT_FUNCTION:
			break;
	}
	append_output(buf, out, value, single_column);
}

CsvKind
csv_kind(Oid type)
{
	switch (type)
	{
		case TEXTOID:
		case VARCHAROID:
			return CSV_TEXT;
		case UUIDOID:
			return CSV_UUID;
		case INT2OID:
			return CSV_INT2;
		case INT4OID:
			return CSV_INT4;
		case INT8OID:
			return CSV_INT8;
		case TIMESTAMPTZOID:
			return CSV_API_TIMESTAMP;
		case DATEOID:
			return CSV_API_DATE;
		case NUMERICOID:
			return CSV_API_NUMERIC;
		case BOOLOID:
			return CSV_API_BOOL;
	}
	return type_is_enum(type) ? CSV_ENUM : CSV_BY_OUTPUT_FUNCTION;
}

