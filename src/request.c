/*
 * request.c
 *		Request parsing: turns the jsonb request of crux_get_orders and
 *		crux_export_orders into a checked CruxRequest, or raises SQLSTATE 22023
 *		naming the key path and value, with a hint listing what is accepted.
 *
 * Everything is checked before any query runs, so a bad request changes nothing.
 * The parser walks the jsonb with the iterator API and reads only scalars and the
 * containers it expects; it never recurses into values it does not understand.
 */
#include "postgres.h"

#include <ctype.h>

#include "crux_orders.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/numeric.h"

const char *const crux_status_labels[CRUX_N_STATUSES] = {
	"unallocated", "allocated", "rejected", "has_tracking",
	"backordered", "delivered", "cancelled"
};

#define STATUS_HINT "Accepted statuses: unallocated, allocated, rejected, has_tracking (or HasTracking), backordered, delivered, cancelled, in any case."
#define INTEGER_HINT "Give an integer from 0 to 2147483647, as a JSON number or a string of digits."
#define DATE_HINT "Give an ISO 8601 timestamp such as \"2017-07-31T06:00:00.000Z\"; without a zone it is read as UTC."
#define UUID_HINT "Give a UUID such as \"93204006-fcdc-458c-8f81-13a7337992ae\"."
#define MAX_SHOWN_VALUE 64

/* The top-level keys. An alias fills the same slot as its key. */
typedef enum RequestSlot
{
	SLOT_START,
	SLOT_LIMIT,
	SLOT_SORT,
	SLOT_STATUS,
	SLOT_CONJUNCTION,
	SLOT_START_DATE,
	SLOT_END_DATE,
	SLOT_TERM,
	SLOT_ORG_UUIDS,
	SLOT_FIELDS,				/* exports only */
	N_SLOTS
} RequestSlot;

typedef struct RequestKey
{
	const char *name;
	RequestSlot slot;
} RequestKey;

static const RequestKey request_keys[] = {
	{"start", SLOT_START},
	{"limit", SLOT_LIMIT},
	{"sort", SLOT_SORT},
	{"line_item_status", SLOT_STATUS},
	{"line_item_statuses", SLOT_STATUS},
	{"status_conjunction", SLOT_CONJUNCTION},
	{"line_item_status_conjunction", SLOT_CONJUNCTION},
	{"start_date", SLOT_START_DATE},
	{"end_date", SLOT_END_DATE},
	{"term", SLOT_TERM},
	{"org_uuids", SLOT_ORG_UUIDS},
	{"fields", SLOT_FIELDS},
};

#define REQUEST_KEYS_HINT "Accepted keys: start, limit, sort, line_item_status (or line_item_statuses), status_conjunction (or line_item_status_conjunction), start_date, end_date, term, org_uuids."

/* A key as shown in a message: at most MAX_SHOWN_VALUE bytes, whole characters. */
static char *
shortened(const char *text)
{
	int			len = strlen(text);

	if (len <= MAX_SHOWN_VALUE)
		return (char *) text;
	return psprintf("%.*s...", pg_mbcliplen(text, len, MAX_SHOWN_VALUE), text);
}

/*
 * The JSON text of a value, shortened for a message. Strings keep their quotes, so
 * the message shows exactly what the caller sent.
 */
static char *
shown_value(const JsonbValue *value)
{
	char	   *text;

	if (value->type == jbvBinary)
		text = JsonbToCString(NULL, value->val.binary.data, value->val.binary.len);
	else
	{
		Jsonb	   *scalar = JsonbValueToJsonb((JsonbValue *) value);

		text = JsonbToCString(NULL, &scalar->root, VARSIZE(scalar));
	}
	return shortened(text);
}

static void
pg_attribute_noreturn()
report_invalid(const char *path, const JsonbValue *value, const char *detail,
			   const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid \"%s\": %s", path, shown_value(value)),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("%s", hint)));
}

static const char *
json_type_name(const JsonbValue *value)
{
	switch (value->type)
	{
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvNull:
			return "null";
		case jbvBinary:
			return JsonContainerIsArray(value->val.binary.data) ? "an array" : "an object";
		default:
			return "a JSON value";
	}
}

static void
pg_attribute_noreturn()
report_wrong_type(const char *path, const JsonbValue *value, const char *expected,
				  const char *hint)
{
	report_invalid(path, value,
				   psprintf("\"%s\" must be %s, not %s.", path, expected,
							json_type_name(value)),
				   hint);
}

static bool
is_array(const JsonbValue *value)
{
	return value->type == jbvBinary && JsonContainerIsArray(value->val.binary.data);
}

static bool
is_object(const JsonbValue *value)
{
	return value->type == jbvBinary && JsonContainerIsObject(value->val.binary.data);
}

/* A jbvString's text as a NUL-terminated string. */
static char *
string_value(const JsonbValue *value)
{
	return pnstrdup(value->val.string.val, value->val.string.len);
}

/* Parses "digits" into an int64 no greater than PG_INT32_MAX; false if it is not. */
static bool
parse_small_integer(const char *digits, int64 *result)
{
	int64		n = 0;
	const char *p = digits;

	if (*p == '\0')
		return false;
	for (; *p != '\0' && *p != '.'; p++)
	{
		if (*p < '0' || *p > '9')
			return false;
		n = n * 10 + (*p - '0');
		if (n > PG_INT32_MAX)
			return false;
	}
	*result = n;
	return true;
}

/*
 * start and limit: a JSON number with an integral value, or a string of digits,
 * from 0 to PG_INT32_MAX.
 */
static int64
integer_value(const char *path, const JsonbValue *value)
{
	int64		n;

	if (value->type == jbvNumeric)
	{
		char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
															   NumericGetDatum(value->val.numeric)));
		char	   *dot = strchr(text, '.');

		if (dot != NULL)
		{
			const char *p;

			for (p = dot + 1; *p == '0'; p++)
				;
			if (*p != '\0')
				report_invalid(path, value, psprintf("\"%s\" must be a whole number.", path),
							   INTEGER_HINT);
			*dot = '\0';
		}
		if (text[0] == '-')
			report_invalid(path, value, psprintf("\"%s\" must not be negative.", path),
						   INTEGER_HINT);
		if (!parse_small_integer(text, &n))
			report_invalid(path, value, psprintf("\"%s\" is too large.", path),
						   INTEGER_HINT);
		return n;
	}
	if (value->type == jbvString)
	{
		char	   *text = string_value(value);
		const char *p;

		for (p = text; *p != '\0'; p++)
			if (*p < '0' || *p > '9')
				report_invalid(path, value,
							   psprintf("A string given for \"%s\" must hold only digits.", path),
							   INTEGER_HINT);
		if (!parse_small_integer(text, &n))
			report_invalid(path, value,
						   *text ? psprintf("\"%s\" is too large.", path)
						   : psprintf("A string given for \"%s\" must hold only digits.", path),
						   INTEGER_HINT);
		return n;
	}
	report_wrong_type(path, value, "an integer", INTEGER_HINT);
}

/*
 * The bit of one status name. Case-insensitive, underscores optional, so that the
 * v1 dialect ("has_tracking") and the v2 dialect ("HasTracking") both work.
 */
static int
status_bit(const char *path, const JsonbValue *value)
{
	char		folded[32];
	int			len = 0;
	int			i;

	if (value->type != jbvString)
		report_wrong_type(path, value, "a string", STATUS_HINT);
	for (i = 0; i < value->val.string.len; i++)
	{
		char		c = value->val.string.val[i];

		if (c == '_')
			continue;
		if (len >= (int) sizeof(folded) - 1)
			report_invalid(path, value, NULL, STATUS_HINT);
		folded[len++] = pg_ascii_tolower((unsigned char) c);
	}
	folded[len] = '\0';

	for (i = 0; i < CRUX_N_STATUSES; i++)
	{
		const char *label = crux_status_labels[i];
		const char *f = folded;

		for (; *label != '\0'; label++)
		{
			if (*label == '_')
				continue;
			if (*label != *f)
				break;
			f++;
		}
		if (*label == '\0' && *f == '\0')
			return 1 << i;
	}
	report_invalid(path, value, NULL, STATUS_HINT);
}

static void
parse_statuses(const char *path, const JsonbValue *value, CruxRequest *req)
{
	if (value->type == jbvString)
	{
		req->status_mask = status_bit(path, value);
		return;
	}
	if (is_array(value))
	{
		JsonbIterator *it = JsonbIteratorInit(value->val.binary.data);
		JsonbValue	elem;
		JsonbIteratorToken tok;
		int			i = 0;

		while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			req->status_mask |= status_bit(psprintf("%s[%d]", path, i), &elem);
			i++;
		}
		return;
	}
	report_wrong_type(path, value, "a string or an array of strings", STATUS_HINT);
}

static CruxConjunction
parse_conjunction(const char *path, const JsonbValue *value)
{
	const char *hint = "Accepted values: \"or\", \"and\", \"only\" (or \"all\"), in any case.";
	char	   *text;

	if (value->type != jbvString)
		report_wrong_type(path, value, "a string", hint);
	text = string_value(value);
	if (pg_strcasecmp(text, "or") == 0)
		return CRUX_CONJ_OR;
	if (pg_strcasecmp(text, "and") == 0)
		return CRUX_CONJ_AND;
	if (pg_strcasecmp(text, "only") == 0 || pg_strcasecmp(text, "all") == 0)
		return CRUX_CONJ_ONLY;
	report_invalid(path, value, NULL, hint);
}

static TimestampTz
timestamp_value(const char *path, const JsonbValue *value)
{
	TimestampTz ts;

	if (value->type != jbvString)
		report_wrong_type(path, value, "a string", DATE_HINT);
	if (!crux_parse_iso_timestamp(string_value(value), &ts))
		report_invalid(path, value, NULL, DATE_HINT);
	return ts;
}

/*
 * An organization named twice is one organization: the list is sorted and kept
 * distinct, so that the page of each organization is read once.
 */
static void
keep_distinct_org_uuids(CruxRequest *req)
{
	int			n = 0;

	if (req->n_org_uuids < 2)
		return;
	qsort(req->org_uuids, req->n_org_uuids, sizeof(pg_uuid_t), crux_compare_uuids);
	for (int i = 0; i < req->n_org_uuids; i++)
		if (n == 0 || crux_compare_uuids(&req->org_uuids[n - 1], &req->org_uuids[i]) != 0)
			req->org_uuids[n++] = req->org_uuids[i];
	req->n_org_uuids = n;
}

static void
parse_org_uuids(const char *path, const JsonbValue *value, CruxRequest *req)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			n;

	if (!is_array(value))
		report_wrong_type(path, value, "an array of UUID strings", UUID_HINT);
	n = JsonContainerSize(value->val.binary.data);
	req->org_uuids = palloc(sizeof(pg_uuid_t) * Max(n, 1));
	it = JsonbIteratorInit(value->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		char	   *elem_path;

		if (tok != WJB_ELEM)
			continue;
		elem_path = psprintf("%s[%d]", path, req->n_org_uuids);
		if (elem.type != jbvString)
			report_wrong_type(elem_path, &elem, "a UUID string", UUID_HINT);
		if (!crux_parse_uuid(elem.val.string.val, elem.val.string.len,
						&req->org_uuids[req->n_org_uuids]))
			report_invalid(elem_path, &elem, NULL, UUID_HINT);
		req->n_org_uuids++;
	}
	keep_distinct_org_uuids(req);
}

static void
parse_term(const char *path, const JsonbValue *value, CruxRequest *req)
{
	const char *s;
	int			len;

	if (value->type != jbvString)
		report_wrong_type(path, value, "a string",
						  "Give an order UUID, a purchase order id or a SKU id.");
	s = value->val.string.val;
	len = value->val.string.len;
	while (len > 0 && isspace((unsigned char) s[0]))
		s++, len--;
	while (len > 0 && isspace((unsigned char) s[len - 1]))
		len--;
	if (len == 0)
		return;
	req->term = pnstrdup(s, len);
	req->term_is_uuid = crux_parse_uuid(s, len, &req->term_uuid);
	req->term_skus_kept = crux_sku_orders_kept();
}

static void
parse_sort(const char *path, const JsonbValue *value, CruxRequest *req)
{
	const char *sort_hint = "Give an object such as {\"key\": \"date\", \"dir\": \"desc\"}; \"key\" is one of date, created_date, status, sku_id, uuid.";
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *dir_warning = NULL;
	bool		value_given = false;

	if (!is_object(value))
		report_wrong_type(path, value, "an object", sort_hint);

	it = JsonbIteratorInit(value->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *member;

		if (tok != WJB_KEY)
			continue;
		member = string_value(&v);
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		if (strcmp(member, "key") == 0)
		{
			const char *key_hint = "Accepted sort keys: date (or created_date), status, sku_id, uuid, in any case.";
			char	   *key;

			if (v.type == jbvNull)
				continue;
			if (v.type != jbvString)
				report_wrong_type("sort.key", &v, "a string", key_hint);
			key = string_value(&v);
			if (pg_strcasecmp(key, "date") == 0 || pg_strcasecmp(key, "created_date") == 0)
				req->sort_key = CRUX_SORT_DATE;
			else if (pg_strcasecmp(key, "status") == 0)
				req->sort_key = CRUX_SORT_STATUS;
			else if (pg_strcasecmp(key, "sku_id") == 0)
				req->sort_key = CRUX_SORT_SKU_ID;
			else if (pg_strcasecmp(key, "uuid") == 0)
				req->sort_key = CRUX_SORT_UUID;
			else
				report_invalid("sort.key", &v, NULL, key_hint);
		}
		else if (strcmp(member, "dir") == 0)
		{
			char	   *dir;

			if (v.type == jbvNull)
				continue;
			if (v.type != jbvString)
				report_wrong_type("sort.dir", &v, "a string",
								  "Use \"asc\" for ascending; any other string sorts descending.");
			dir = string_value(&v);
			req->sort_asc = (pg_strcasecmp(dir, "asc") == 0);
			if (!req->sort_asc && pg_strcasecmp(dir, "des") != 0 &&
				pg_strcasecmp(dir, "desc") != 0)
				dir_warning = shown_value(&v);
		}
		else if (strcmp(member, "value") == 0)
			value_given = true;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized key \"sort.%s\"", shortened(member)),
					 errhint("The sort object accepts \"key\", \"dir\" and \"value\" (which is ignored).")));
	}

	if (dir_warning)
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"sort.dir\": %s is not \"asc\", \"des\" or \"desc\"; sorting descending",
						dir_warning),
				 errhint("Use \"asc\" for ascending and \"desc\" for descending.")));
	if (value_given)
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"sort.value\" is ignored; sorting %s",
						req->sort_asc ? "ascending" : "descending"),
				 errdetail("Only \"sort.dir\" chooses the direction, as in the reference service."),
				 errhint("Use \"dir\": \"asc\" for ascending.")));
}

static bool
is_json_null(Jsonb *request)
{
	JsonbValue	scalar;

	return JB_ROOT_IS_SCALAR(request) &&
		JsonbExtractScalar(&request->root, &scalar) &&
		scalar.type == jbvNull;
}

/*
 * fields: a non-empty array of distinct export column names; the CSV has those
 * columns in that order.
 */
static void
parse_fields(const char *path, const JsonbValue *value, CruxRequest *req)
{
	const char *hint = "Name columns of crux.export_row, such as [\"purchase_order_id\", \"sku_id\", \"line_item_status\"]; see the README for all of them.";
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;

	if (!is_array(value))
		report_wrong_type(path, value, "an array of column names", hint);
	if (JsonContainerSize(value->val.binary.data) == 0)
		report_invalid(path, value, "\"fields\" names at least one column; leave it out for all of them.", hint);
	req->fields = palloc(sizeof(char *) * JsonContainerSize(value->val.binary.data));
	it = JsonbIteratorInit(value->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		char	   *elem_path;
		char	   *name;
		const char *known = NULL;

		if (tok != WJB_ELEM)
			continue;
		elem_path = psprintf("%s[%d]", path, req->n_fields);
		if (elem.type != jbvString)
			report_wrong_type(elem_path, &elem, "a column name", hint);
		name = string_value(&elem);
		for (int i = 0; i < CRUX_N_EXPORT_FIELDS; i++)
			if (strcmp(name, crux_export_columns[i].name) == 0)
				known = crux_export_columns[i].name;
		if (known == NULL)
			report_invalid(elem_path, &elem, NULL, hint);
		for (int i = 0; i < req->n_fields; i++)
			if (req->fields[i] == known)
				report_invalid(elem_path, &elem, "A column may be named only once.", hint);
		req->fields[req->n_fields++] = known;
	}
}

/* The request key named key, or an error when it is not one of kind's. */
static const RequestKey *
known_request_key(const char *key, CruxRequestKind kind)
{
	const RequestKey *known = NULL;

	for (int i = 0; i < (int) lengthof(request_keys); i++)
		if (strcmp(key, request_keys[i].name) == 0)
			known = &request_keys[i];
	if (known == NULL || (known->slot == SLOT_FIELDS && kind != CRUX_REQUEST_EXPORT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized request key \"%s\"", shortened(key)),
				 known ? errdetail("\"fields\" chooses the columns of an export; crux_get_orders always answers with whole orders.") : 0,
				 errhint("%s", kind == CRUX_REQUEST_EXPORT ? REQUEST_KEYS_HINT " Exports also accept fields." : REQUEST_KEYS_HINT)));
	return known;
}

/* One key's value (not null) into the request; *limit_value keeps limit's. */
static void
parse_key_value(const RequestKey *known, const char *key, JsonbValue *v, CruxRequest *req,
				JsonbValue *limit_value)
{
	switch (known->slot)
	{
		case SLOT_START:
			req->start = integer_value(key, v);
			break;
		case SLOT_LIMIT:
			req->limit = integer_value(key, v);
			req->has_limit = true;
			*limit_value = *v;
			break;
		case SLOT_SORT:
			parse_sort(key, v, req);
			break;
		case SLOT_STATUS:
			parse_statuses(key, v, req);
			break;
		case SLOT_CONJUNCTION:
			req->conjunction = parse_conjunction(key, v);
			break;
		case SLOT_START_DATE:
			req->start_date = timestamp_value(key, v);
			req->has_start_date = true;
			break;
		case SLOT_END_DATE:
			req->end_date = timestamp_value(key, v);
			req->has_end_date = true;
			break;
		case SLOT_TERM:
			parse_term(key, v, req);
			break;
		case SLOT_ORG_UUIDS:
			parse_org_uuids(key, v, req);
			break;
		case SLOT_FIELDS:
			parse_fields(key, v, req);
			break;
		case N_SLOTS:
			elog(ERROR, "unexpected request slot");
	}
}

/* "only" needs exactly one status. */
static void
check_only_conjunction(const CruxRequest *req, const char *conjunction_key)
{
	int			n = 0;

	if (req->conjunction != CRUX_CONJ_ONLY)
		return;
	for (int i = 0; i < CRUX_N_STATUSES; i++)
		if (req->status_mask & (1 << i))
			n++;
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid \"%s\": \"only\" with %d line-item statuses",
						conjunction_key, n),
				 errdetail("\"only\" selects the orders whose line items all have one status, so it needs exactly one status."),
				 errhint("Give exactly one status in \"line_item_status\", or use \"or\" or \"and\".")));
}

/* Records which key filled a slot; a key and its alias together are an error. */
static const char *
claim_slot(const char **given, RequestSlot slot, const char *name)
{
	if (given[slot] != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request keys \"%s\" and \"%s\" cannot both be given",
						given[slot], name),
				 errdetail("\"%s\" is an alias of \"%s\".",
						   strlen(name) > strlen(given[slot]) ? name : given[slot],
						   strlen(name) > strlen(given[slot]) ? given[slot] : name),
				 errhint("Remove one of them.")));
	given[slot] = name;
	return name;
}

static void
check_page(const CruxRequest *req, CruxRequestKind kind, const JsonbValue *limit_value)
{
	if (!req->has_limit)
		return;
	if (req->limit < req->start)
		report_invalid("limit", limit_value,
					   psprintf("\"limit\" is the position where the page ends (exclusive) and must not be less than \"start\" (" INT64_FORMAT ").",
								req->start),
					   "Give \"limit\" at least equal to \"start\"; the page is sorted[start:limit].");
	if (kind == CRUX_REQUEST_PAGE && req->limit - req->start > crux_max_page_size)
		report_invalid("limit", limit_value,
					   psprintf("The page from \"start\" " INT64_FORMAT " to \"limit\" " INT64_FORMAT " holds " INT64_FORMAT " orders, more than crux_orders.max_page_size (%d).",
								req->start, req->limit, req->limit - req->start,
								crux_max_page_size),
					   "Ask for fewer orders per page, or use crux_export_orders for everything.");
}

void
crux_parse_request(Jsonb *request, CruxRequestKind kind, CruxRequest *req)
{
	const char *given[N_SLOTS] = {0};
	JsonbValue	limit_value = {.type = jbvNull};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	memset(req, 0, sizeof(*req));
	req->sort_key = CRUX_SORT_DATE;
	req->sort_asc = false;
	req->conjunction = CRUX_CONJ_OR;

	if (request != NULL && is_json_null(request))
		request = NULL;			/* JSON null: every default, like SQL NULL */

	if (request != NULL)
	{
		if (!JB_ROOT_IS_OBJECT(request))
		{
			JsonbValue	whole;

			whole.type = jbvBinary;
			whole.val.binary.data = &request->root;
			whole.val.binary.len = VARSIZE(request);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid request: %s", shown_value(&whole)),
					 errdetail("The request must be a JSON object."),
					 errhint("Send an object such as {\"start\": 0, \"limit\": 25}, or {} for every default.")));
		}

		it = JsonbIteratorInit(&request->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			char	   *key;
			const RequestKey *known;

			if (tok != WJB_KEY)
				continue;
			key = string_value(&v);
			tok = JsonbIteratorNext(&it, &v, true);
			Assert(tok == WJB_VALUE);
			known = known_request_key(key, kind);
			if (v.type == jbvNull)
				continue;		/* null counts as absent */
			claim_slot(given, known->slot, known->name);
			parse_key_value(known, key, &v, req, &limit_value);
		}
	}

	check_only_conjunction(req, given[SLOT_CONJUNCTION]);
	if (!req->has_limit && kind == CRUX_REQUEST_PAGE)
	{
		req->limit = req->start + Min(25, crux_max_page_size);
		req->has_limit = true;
	}
	else
		check_page(req, kind, &limit_value);
}
