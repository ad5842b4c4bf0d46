/*
 * counts.c
 *		The order counts' arithmetic in C. A count bucket (a
 *		retailer's month, or a day or month over all retailers) holds one bigint[]
 *		of CRUX_N_MASKS elements: element m is how many orders have status mask m.
 *		So a bulk load adds one row per bucket it touches, not one per bucket and
 *		mask, and a count with a status filter sums the matching elements.
 *
 *		crux.mask_counts(mask smallint, n bigint)	aggregate: n added at mask
 *		crux.mask_counts(counts bigint[])			aggregate: element-wise sum
 *		crux.count_matching(counts, mask, conjunction)  the orders whose mask
 *													 matches a filter
 *
 * Both aggregates return NULL when every element is 0 (nothing to keep).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "crux_orders.h"
#include "fmgr.h"
#include "utils/array.h"

/* status masks: one bit per status */
#define CRUX_N_MASKS (1 << CRUX_N_STATUSES)

typedef struct MaskCounts
{
	int64		n[CRUX_N_MASKS];
} MaskCounts;

/* The aggregate's state, allocated in its memory context on the first row. */
static MaskCounts *
mask_counts_state(FunctionCallInfo fcinfo)
{
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "mask_counts called in a non-aggregate context");
	if (!PG_ARGISNULL(0))
		return (MaskCounts *) PG_GETARG_POINTER(0);
	return MemoryContextAllocZero(aggcontext, sizeof(MaskCounts));
}

static int
checked_mask(int mask)
{
	if (mask < 0 || mask >= CRUX_N_MASKS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("status mask %d is out of range", mask),
				 errhint("Status masks are between 0 and %d.", CRUX_N_MASKS - 1)));
	return mask;
}

/* Checks that counts is a one-dimensional bigint[] of CRUX_N_MASKS elements. */
static int64 *
counts_elements(ArrayType *counts)
{
	if (ARR_NDIM(counts) != 1 || ARR_DIMS(counts)[0] != CRUX_N_MASKS ||
		ARR_HASNULL(counts) || ARR_ELEMTYPE(counts) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mask counts must be a bigint array of %d elements without nulls",
						CRUX_N_MASKS)));
	/* ARR_DATA_PTR without its sign-compare warning: no null bitmap here */
	return (int64 *) ((char *) counts + ARR_OVERHEAD_NONULLS(1));
}

PG_FUNCTION_INFO_V1(crux_mask_counts_add);
PG_FUNCTION_INFO_V1(crux_mask_counts_merge);
PG_FUNCTION_INFO_V1(crux_mask_counts_final);
PG_FUNCTION_INFO_V1(crux_count_matching);

/* state function of crux.mask_counts(smallint, bigint) */
Datum
crux_mask_counts_add(PG_FUNCTION_ARGS)
{
	MaskCounts *state = mask_counts_state(fcinfo);

	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(2))
		state->n[checked_mask(PG_GETARG_INT16(1))] += PG_GETARG_INT64(2);
	PG_RETURN_POINTER(state);
}

/* state function of crux.mask_counts(bigint[]) */
Datum
crux_mask_counts_merge(PG_FUNCTION_ARGS)
{
	MaskCounts *state = mask_counts_state(fcinfo);

	if (!PG_ARGISNULL(1))
	{
		int64	   *add = counts_elements(PG_GETARG_ARRAYTYPE_P(1));

		for (int m = 0; m < CRUX_N_MASKS; m++)
			state->n[m] += add[m];
	}
	PG_RETURN_POINTER(state);
}

/* final function of both: the bigint[], or NULL when every element is 0 */
Datum
crux_mask_counts_final(PG_FUNCTION_ARGS)
{
	MaskCounts *state;
	Datum		elems[CRUX_N_MASKS];
	bool		any = false;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (MaskCounts *) PG_GETARG_POINTER(0);
	for (int m = 0; m < CRUX_N_MASKS; m++)
	{
		any |= state->n[m] != 0;
		elems[m] = Int64GetDatum(state->n[m]);
	}
	if (!any)
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, CRUX_N_MASKS, INT8OID, sizeof(int64),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * crux.count_matching(counts bigint[], mask smallint, conjunction smallint): the
 * orders of the bucket whose status mask matches the filter, as append_status_test
 * in query.c spells it: mask 0 = no filter; conjunction 0 or (some status of the
 * mask), 1 and (all of them), 2 only (exactly them).
 */
Datum
crux_count_matching(PG_FUNCTION_ARGS)
{
	int64	   *n = counts_elements(PG_GETARG_ARRAYTYPE_P(0));
	int			mask = checked_mask(PG_GETARG_INT16(1));
	int			conjunction = PG_GETARG_INT16(2);
	int64		total = 0;

	for (int m = 0; m < CRUX_N_MASKS; m++)
		if (crux_mask_matches(m, mask, (CruxConjunction) conjunction))
			total += n[m];
	PG_RETURN_INT64(total);
}
