/*
 * tenancy.c
 *		crux.acting_organization(): the organization the current role acts for,
 *		which every row-level security policy of the extension compares with.
 *
 * A claim-carrying role (a row of crux.claim_roles, for PostgREST) acts for
 * "org_uuid" of the request.jwt.claims setting; any other role for its row of
 * crux.role_organizations. Missing, malformed or non-string claims, and a role
 * with no mapping, give NULL, which matches nothing. Each policy evaluates it once
 * per table a query reads, so a call is two primary-key lookups (once per API
 * call while one runs) and no subtransaction: the claims are parsed by the JSON
 * parser that reports errors instead of raising them.
 *
 * crux.order_in_page(uuid) and crux.line_item_in_page(uuid): the first tests of
 * the line items' and the tracking numbers' policies, true only while the details
 * of a page are read, for the page's orders and their line items
 * (crux_set_page_rows).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "crux_orders.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(crux_acting_organization);
PG_FUNCTION_INFO_V1(crux_order_in_page);
PG_FUNCTION_INFO_V1(crux_line_item_in_page);

/* Where the claims parser is: nesting depth, and whether it reads "org_uuid". */
typedef struct ClaimsState
{
	int			depth;
	bool		top_is_object;
	bool		in_org_uuid;
	char	   *org_uuid;		/* the last top-level "org_uuid" string, or NULL */
} ClaimsState;

static void
claims_object_start(void *state)
{
	ClaimsState *cs = state;

	if (cs->depth == 0)
		cs->top_is_object = true;
	cs->depth++;
}

static void
claims_container_end(void *state)
{
	((ClaimsState *) state)->depth--;
}

static void
claims_array_start(void *state)
{
	((ClaimsState *) state)->depth++;
}

/* A top-level "org_uuid" replaces any earlier one, as in jsonb; NULL unless a string. */
static void
claims_field_start(void *state, char *fname, bool isnull)
{
	ClaimsState *cs = state;

	if (cs->depth == 1 && cs->top_is_object && strcmp(fname, "org_uuid") == 0)
	{
		cs->in_org_uuid = true;
		cs->org_uuid = NULL;
	}
}

static void
claims_field_end(void *state, char *fname, bool isnull)
{
	ClaimsState *cs = state;

	if (cs->depth == 1)
		cs->in_org_uuid = false;
}

static void
claims_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ClaimsState *cs = state;

	if (cs->depth == 1 && cs->in_org_uuid && tokentype == JSON_TOKEN_STRING)
		cs->org_uuid = token;
}

/*
 * Whether s is what uuid_in accepts: 32 hex digits, a hyphen allowed after each
 * group of four, the whole optionally in braces.
 */
static bool
is_uuid_text(const char *s)
{
	bool		braces = *s == '{';
	int			digits = 0;

	if (braces)
		s++;
	while (digits < 32)
	{
		if (!isxdigit((unsigned char) *s))
			return false;
		s++;
		digits++;
		if (digits % 4 == 0 && digits < 32 && *s == '-')
			s++;
	}
	if (braces && *s++ != '}')
		return false;
	return *s == '\0';
}

/* "org_uuid" of the claims, or NULL when there is none or it is not a uuid. */
static bool
claimed_organization(pg_uuid_t *org)
{
	const char *claims = GetConfigOption("request.jwt.claims", true, false);
	ClaimsState cs = {0};
	JsonSemAction sem = {0};
	JsonLexContext *lex;

	if (claims == NULL || claims[0] == '\0')
		return false;
	sem.semstate = &cs;
	sem.object_start = claims_object_start;
	sem.object_end = claims_container_end;
	sem.array_start = claims_array_start;
	sem.array_end = claims_container_end;
	sem.object_field_start = claims_field_start;
	sem.object_field_end = claims_field_end;
	sem.scalar = claims_scalar;
	lex = makeJsonLexContextCstringLen(pstrdup(claims), strlen(claims),
									   GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS || cs.org_uuid == NULL ||
		!is_uuid_text(cs.org_uuid))
		return false;
	memcpy(org, DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(cs.org_uuid))),
		   sizeof(pg_uuid_t));
	return true;
}

/*
 * The current role's row of crux.<table>, by its primary key <table>_pkey
 * (role_name), in the query's snapshot; with org, its organization_uuid (column 2)
 * when not NULL. Read directly rather than by a query: a policy calls this for
 * every table a query reads, and both tables show a role only its own row anyway.
 */
static bool
read_own_row(const char *table, pg_uuid_t *org)
{
	Oid			crux = get_namespace_oid("crux", false);
	Oid			relid = get_relname_relid(table, crux);
	Oid			indexid = get_relname_relid(psprintf("%s_pkey", table), crux);
	Snapshot	snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
	NameData	role;
	ScanKeyData key;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		elog(ERROR, "crux.%s or its primary key is missing", table);
	namestrcpy(&role, GetUserNameFromId(GetUserId(), false));
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_NAMEEQ, NameGetDatum(&role));
	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, indexid, true, snapshot, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull = false;
		Datum		d = org ? heap_getattr(tuple, 2, RelationGetDescr(rel), &isnull) : (Datum) 0;

		found = !isnull;
		if (found && org)
			memcpy(org, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * The current role's rows of crux.claim_roles and crux.role_organizations, as
 * the first policy of an API call read them: while one runs
 * (crux_call_as_one_caller), they are read once per call instead of once per
 * table each of its queries reads. Another role (a SECURITY DEFINER function
 * on the way) reads its own, which is then kept instead. Nothing is kept
 * between calls.
 */
typedef struct RoleMapping
{
	int			calls;			/* API calls running, nested ones included */
	bool		read;			/* the fields below hold role's rows */
	Oid			role;
	bool		claims;			/* role is claim-carrying */
	bool		found;			/* else: role maps to org */
	pg_uuid_t	org;
} RoleMapping;

static RoleMapping mapping = {0};

/* Whether the current role carries claims (*claims), else its organization, if any. */
static bool
read_role_mapping(bool *claims, pg_uuid_t *org)
{
	Oid			role = GetUserId();
	bool		found;

	if (mapping.read && mapping.role == role)
	{
		*claims = mapping.claims;
		*org = mapping.org;
		return mapping.found;
	}
	*claims = read_own_row("claim_roles", NULL);
	found = !*claims && read_own_row("role_organizations", org);
	if (mapping.calls > 0)
	{
		mapping.role = role;
		mapping.claims = *claims;
		mapping.found = found;
		if (found)
			mapping.org = *org;
		mapping.read = true;
	}
	return found;
}

/* Runs call(arg), one API call, with the role's mapping read once; returns what it returns. */
Datum
crux_call_as_one_caller(Datum (*call) (void *arg), void *arg)
{
	volatile Datum result = (Datum) 0;

	mapping.calls++;
	PG_TRY();
	{
		result = call(arg);
	}
	PG_FINALLY();
	{
		if (--mapping.calls == 0)
			mapping.read = false;
	}
	PG_END_TRY();
	return result;
}

/* The organization the current role acts for (*org); false when none. */
bool
crux_acting_org(pg_uuid_t *org)
{
	bool		claims;
	bool		found = read_role_mapping(&claims, org);

	if (claims)
		found = claimed_organization(org);
	return found;
}

/* crux.acting_organization() returns uuid */
Datum
crux_acting_organization(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *org = palloc(sizeof(pg_uuid_t));

	if (!crux_acting_org(org))
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(org);
}

/*
 * The orders whose details crux_fetch_order_details is reading, and then their
 * line items, sorted, and the role reading them, while it reads them; none at any
 * other time. The same call has just read each of them through row-level
 * security, as that role, so the policy of the rows below them need not probe
 * them again for it: crux.order_in_page(order_uuid) is the line items' policy's
 * first test, crux.line_item_in_page(line_item_uuid) the tracking numbers', and
 * the probe of the order or line item (whose own policy tests the retailer) the
 * second. The details queries reach line items only through their orders and
 * tracking numbers only by their line items' uuids, which row-level security has
 * filtered: the first test spares a probe whose answer is known, and never shows
 * a row the probe would hide. Another role (a SECURITY DEFINER function run on the
 * way) gets false. Only code run inside the details queries themselves sees the
 * saved rows as the same role: an administrator's own policy functions or hooks,
 * which are trusted not to change the role's claims there. Writes never use the
 * tests (the policies' WITH CHECK is the probe alone). A parallel worker has no
 * saved rows and gets false, which falls back to the probe: hence PARALLEL SAFE.
 */
static CruxPageRows page_rows[CRUX_PAGE_N_KINDS];

/*
 * The page's rows of one kind (n > 0), for the current role, until
 * crux_restore_page_rows(the value returned) puts back those before. The copy
 * lives in TopMemoryContext, so that no path, not even a missing restore, can
 * leave the state pointing at freed memory; the restore frees it.
 */
CruxPageRows
crux_set_page_rows(CruxPageKind kind, const Datum *uuids, int n)
{
	CruxPageRows before = page_rows[kind];
	pg_uuid_t  *sorted = MemoryContextAlloc(TopMemoryContext, sizeof(pg_uuid_t) * n);

	for (int i = 0; i < n; i++)
		memcpy(&sorted[i], DatumGetUUIDP(uuids[i]), UUID_LEN);
	qsort(sorted, n, sizeof(pg_uuid_t), crux_compare_uuids);
	page_rows[kind].uuids = sorted;
	page_rows[kind].n = n;
	page_rows[kind].role = GetUserId();
	return before;
}

void
crux_restore_page_rows(CruxPageKind kind, CruxPageRows before)
{
	if (page_rows[kind].uuids != NULL && page_rows[kind].uuids != before.uuids)
		pfree(page_rows[kind].uuids);
	page_rows[kind] = before;
}

static bool
in_page(CruxPageKind kind, const pg_uuid_t *uuid)
{
	const CruxPageRows *rows = &page_rows[kind];

	if (rows->n == 0 || rows->role != GetUserId())
		return false;
	return bsearch(uuid, rows->uuids, rows->n, sizeof(pg_uuid_t), crux_compare_uuids) != NULL;
}

/* crux.order_in_page(uuid) returns boolean */
Datum
crux_order_in_page(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(in_page(CRUX_PAGE_ORDERS, PG_GETARG_UUID_P(0)));
}

/* crux.line_item_in_page(uuid) returns boolean */
Datum
crux_line_item_in_page(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(in_page(CRUX_PAGE_LINE_ITEMS, PG_GETARG_UUID_P(0)));
}
