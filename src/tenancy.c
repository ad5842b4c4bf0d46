/*
 * tenancy.c
 *		crux.acting_organization(): the organization the current role acts for,
 *		which every row-level security policy of the extension compares with.
 *
 * A claim-carrying role (a row of crux.claim_roles, for PostgREST) acts for
 * "org_uuid" of the request.jwt.claims setting; any other role for its row of
 * crux.role_organizations. Missing, malformed or non-string claims, and a role
 * with no mapping, give NULL, which matches nothing. Each policy evaluates it once
 * per table a query reads, so one call is one kept plan and no subtransaction:
 * the claims are parsed by the JSON parser that reports errors instead of raising
 * them.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "crux_orders.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(crux_acting_organization);

static SPIPlanPtr role_plan = NULL;

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
 * Whether the current role carries claims, and its mapped organization (NULL
 * when it has none), from one kept plan. Both tables' policies show a role only
 * its own row.
 */
static bool
read_role(bool *claim_role, pg_uuid_t *mapped)
{
	bool		isnull;
	bool		found;
	Datum		d;

	if (role_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(
									   "SELECT EXISTS (SELECT FROM crux.claim_roles c"
									   "               WHERE c.role_name OPERATOR(pg_catalog.=) CURRENT_USER),"
									   "       (SELECT r.organization_uuid FROM crux.role_organizations r"
									   "         WHERE r.role_name OPERATOR(pg_catalog.=) CURRENT_USER)",
									   0, NULL);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the acting organization's query: %s",
				 SPI_result_code_string(SPI_result));
		role_plan = plan;
	}
	if (SPI_execute_plan(role_plan, NULL, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "the acting organization's query returned no row");
	*claim_role = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	found = !isnull;
	if (found)
		memcpy(mapped, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	return found;
}

/* crux.acting_organization() returns uuid */
Datum
crux_acting_organization(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *org = palloc(sizeof(pg_uuid_t));
	bool		claim_role;
	bool		found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	found = read_role(&claim_role, org);
	SPI_finish();

	if (claim_role)
		found = claimed_organization(org);
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(org);
}
