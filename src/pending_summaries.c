/*
 * pending_summaries.c
 *		The summaries of the orders this transaction inserts, held in memory
 *		until their line items come, so that each summary is written once, with
 *		its counts, instead of written empty and then rewritten.
 *
 * A statement that inserts orders at the top level of a read-write transaction
 * holds their summaries here (crux.orders_hold_summaries) when they fit in
 * work_mem, and inserts a row into crux.pending_summaries, whose deferred
 * trigger writes at commit whatever is still held. The line items' trigger
 * takes the summaries of their orders (crux.take_pending_summaries) and inserts
 * them with their counts. What reads the summaries before that writes those
 * still held, empty (crux.write_pending_summaries): the API's queries, the
 * recounts, TRUNCATE; the triggers that change summaries write those of the
 * orders they touch. A statement in a subtransaction, or whose orders do not
 * fit, writes its orders' summaries at once, empty.
 *
 * From version 1.15 the orders are counted (crux.order_counts) when their
 * summaries are written, with their masks: by the line items' trigger, or here
 * with mask 0 when written empty. Version 1.14 counted every new order at
 * insert, with mask 0 (crux.orders_count), and its line items' trigger moves
 * them; this library serves both (crux_orders_hold_summaries and _1_15). From
 * version 1.18 a summary carries its order's status too, held with it
 * (crux_summaries_hold_status).
 *
 * Held summaries may be taken or written in a subtransaction: one that aborts
 * gives back what it took (its writes are undone with it); one that commits
 * passes it to its parent, and at the top level it is forgotten.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "crux_orders.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

/* One order's summary, held. */
typedef struct HeldSummary
{
	pg_uuid_t	order_uuid;		/* hash key */
	pg_uuid_t	retailer_uuid;
	TimestampTz created_date;
	text	   *status;			/* the order's (held_status) */
	SubTransactionId taken_in;	/* InvalidSubTransactionId while held */
	bool		uncounted;		/* its order is counted when it is written
								 * (held by version 1.15's trigger on) */
} HeldSummary;

/* What one held summary costs, the hash table's own share included. */
#define HELD_SUMMARY_BYTES (MAXALIGN(sizeof(HeldSummary)) + 32)

/* At most this many held at once: write_held() passes them in arrays. */
#define MAX_HELD_SUMMARIES 10000000

static HTAB *held = NULL;		/* this transaction's, or NULL */
static MemoryContext held_cxt = NULL;	/* its memory, and the statuses' */
static int64 n_held = 0;		/* its summaries not taken */
static int64 n_taken_below_top = 0;	/* taken in subtransactions still open */
static CommandId seen_from = InvalidCommandId;	/* a snapshot sees the last write
												 * from this command on */
static bool callbacks_registered = false;

/*
 * The statuses of the held summaries, each copied once into held_cxt and shared
 * by the orders that have it (a statement's orders have few), up to
 * MAX_SHARED_STATUSES of them; the copies of any others take status_bytes, which
 * count against work_mem with the summaries (may_hold).
 */
#define MAX_SHARED_STATUSES 64
static text *shared_statuses[MAX_SHARED_STATUSES];
static int	n_shared_statuses = 0;
static int64 status_bytes = 0;

/*
 * Inserts summaries, empty, from the FROM item rows (columns o, r, c, st: the
 * order, its retailer, created date and status), with their status from version
 * 1.18 (with_status); counted, also counts their orders, with mask 0.
 */
#define INSERT_EMPTY_SUMMARIES(status_column, status_value, rows) \
	"INSERT INTO crux.order_summaries (order_uuid, retailer_uuid, created_date, created_day" \
	status_column ") SELECT h.o, h.r, h.c, (h.c AT TIME ZONE 'UTC')::date" status_value \
	" FROM " rows " ORDER BY h.o"
#define COUNTED(insert) \
	"WITH added AS (" insert " RETURNING retailer_uuid, created_day)" \
	" SELECT crux.add_order_counts(array_agg(g.retailer_uuid), array_agg(g.created_day)," \
	" array_agg(0::smallint), array_agg(g.n))" \
	" FROM (SELECT a.retailer_uuid, a.created_day, count(*) AS n" \
	" FROM added a GROUP BY 1, 2) g HAVING count(*) > 0"
/* [with_status][counted] */
#define INSERTS_OF(rows) { \
	{INSERT_EMPTY_SUMMARIES("", "", rows), COUNTED(INSERT_EMPTY_SUMMARIES("", "", rows))}, \
	{INSERT_EMPTY_SUMMARIES(", status", ", h.st", rows), \
	 COUNTED(INSERT_EMPTY_SUMMARIES(", status", ", h.st", rows))}}
#define HELD_ROWS "unnest($1, $2, $3, $4) AS h(o, r, c, st)"
#define NEW_ROWS \
	"(SELECT x.uuid, x.retailer_uuid, x.created_date, x.status FROM new_rows x) AS h(o, r, c, st)"

/*
 * Whether the summaries carry their order's status (version 1.18 on): their
 * writes then set it, and the status sort walks their index by retailer and
 * status (pages.c).
 */
bool
crux_summaries_hold_status(void)
{
	Oid			summaries = crux_table_oid("order_summaries");

	return OidIsValid(summaries) && get_attnum(summaries, "status") != InvalidAttrNumber;
}

/* Forgets everything at the transaction's end; refuses to commit what is held. */
static void
end_of_transaction(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (n_held > 0)
				elog(ERROR, "%lld held order summaries were never written",
					 (long long) n_held);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			/* the memory goes with TopTransactionContext */
			held = NULL;
			held_cxt = NULL;
			n_shared_statuses = 0;
			status_bytes = 0;
			n_held = 0;
			n_taken_below_top = 0;
			seen_from = InvalidCommandId;
			break;
		default:
			break;
	}
}

/*
 * A subtransaction that aborts gives back what it (or its children) took; one
 * that commits passes it to its parent, or forgets it at the top level.
 */
static void
end_of_subtransaction(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS scan;
	HeldSummary *s;

	if (held == NULL || n_taken_below_top == 0 ||
		(event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	hash_seq_init(&scan, held);
	while ((s = hash_seq_search(&scan)) != NULL)
	{
		if (s->taken_in == InvalidSubTransactionId || s->taken_in < mySubid)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			s->taken_in = InvalidSubTransactionId;
			n_held++;
			n_taken_below_top--;
		}
		else if (parentSubid == TopSubTransactionId)
		{
			(void) hash_search(held, &s->order_uuid, HASH_REMOVE, NULL);
			n_taken_below_top--;
		}
		else
			s->taken_in = parentSubid;
	}
}

static HTAB *
held_summaries(void)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(end_of_transaction, NULL);
		RegisterSubXactCallback(end_of_subtransaction, NULL);
		callbacks_registered = true;
	}
	if (held == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(HeldSummary);
		held_cxt = AllocSetContextCreate(TopTransactionContext,
										 "crux_orders held summaries",
										 ALLOCSET_DEFAULT_SIZES);
		ctl.hcxt = held_cxt;
		held = hash_create("crux_orders held summaries", 1024, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return held;
}

/* Marks s taken: forgotten at the top level, else remembered by subtransaction. */
static void
mark_taken(HeldSummary *s)
{
	n_held--;
	if (GetCurrentTransactionNestLevel() == 1)
		(void) hash_search(held, &s->order_uuid, HASH_REMOVE, NULL);
	else
	{
		s->taken_in = GetCurrentSubTransactionId();
		n_taken_below_top++;
	}
}

/* Takes the order's summary: true, and a copy in *summary, when it was held. */
static bool
take_held(const pg_uuid_t *order, HeldSummary *summary)
{
	HeldSummary *s;

	if (n_held == 0)
		return false;
	s = hash_search(held, order, HASH_FIND, NULL);
	if (s == NULL || s->taken_in != InvalidSubTransactionId)
		return false;
	*summary = *s;
	mark_taken(s);
	return true;
}

/*
 * Whether a statement's n new orders may be held: at the top level of a
 * read-write transaction, within work_mem (with the statuses not shared) and
 * MAX_HELD_SUMMARIES.
 */
static bool
may_hold(int64 n)
{
	int64		n_now = held != NULL ? hash_get_num_entries(held) : 0;

	return GetCurrentTransactionNestLevel() == 1 && !XactReadOnly &&
		n_now + n <= MAX_HELD_SUMMARIES &&
		(n_now + n) * (int64) HELD_SUMMARY_BYTES + status_bytes <= (int64) work_mem * 1024;
}

/*
 * The held summaries to write: all of them (only == NULL), or those of the
 * orders in only; *n of them.
 */
static HeldSummary **
summaries_to_write(ArrayType *only, int *n)
{
	HeldSummary **found = palloc(sizeof(HeldSummary *) * n_held);
	HeldSummary *s;

	*n = 0;
	if (only == NULL)
	{
		HASH_SEQ_STATUS scan;

		hash_seq_init(&scan, held);
		while ((s = hash_seq_search(&scan)) != NULL)
			if (s->taken_in == InvalidSubTransactionId)
				found[(*n)++] = s;
		return found;
	}
	else
	{
		Datum	   *orders;
		bool	   *nulls;
		int			n_orders;

		deconstruct_array(only, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &orders, &nulls,
						  &n_orders);
		for (int i = 0; i < n_orders && *n < n_held; i++)
		{
			s = nulls[i] ? NULL : hash_search(held, DatumGetUUIDP(orders[i]), HASH_FIND, NULL);
			if (s != NULL && s->taken_in == InvalidSubTransactionId)
			{
				s->taken_in = TopSubTransactionId;	/* once, if named twice */
				found[(*n)++] = s;
			}
		}
		for (int i = 0; i < *n; i++)
			found[i]->taken_in = InvalidSubTransactionId;
		return found;
	}
}

/*
 * Runs the kept plan (in plans) of sql[with_status][counting], an INSERT of empty
 * summaries, with their orders' status in this database's version, which also
 * counts their orders when counting.
 */
static void
insert_summaries(SPIPlanPtr plans[2][2], const char *const sql[2][2],
				 int nargs, Oid *types, Datum *args, bool counting)
{
	bool		with_status = crux_summaries_hold_status();
	SPIPlanPtr	plan = crux_kept_plan(&plans[with_status][counting],
									  sql[with_status][counting], nargs, types, 0);

	if (SPI_execute_plan(plan, args, NULL, false, 0) !=
		(counting ? SPI_OK_SELECT : SPI_OK_INSERT))
		elog(ERROR, "inserting order summaries failed");
}

/*
 * Inserts n held summaries, empty; uncounted, also counts their orders, with
 * mask 0. Within SPI.
 */
static void
insert_held(HeldSummary **summaries, int n, bool uncounted)
{
	static SPIPlanPtr plans[2][2];
	static const char *const sql[2][2] = INSERTS_OF(HELD_ROWS);
	Oid			types[4] = {UUIDARRAYOID, UUIDARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID};
	Datum	   *orders = palloc(sizeof(Datum) * n);
	Datum	   *retailers = palloc(sizeof(Datum) * n);
	Datum	   *dates = palloc(sizeof(Datum) * n);
	Datum	   *statuses = palloc(sizeof(Datum) * n);
	Datum		args[4];

	for (int i = 0; i < n; i++)
	{
		orders[i] = UUIDPGetDatum(&summaries[i]->order_uuid);
		retailers[i] = UUIDPGetDatum(&summaries[i]->retailer_uuid);
		dates[i] = TimestampTzGetDatum(summaries[i]->created_date);
		statuses[i] = PointerGetDatum(summaries[i]->status);
	}
	args[0] = PointerGetDatum(construct_array(orders, n, UUIDOID, UUID_LEN, false,
											  TYPALIGN_CHAR));
	args[1] = PointerGetDatum(construct_array(retailers, n, UUIDOID, UUID_LEN, false,
											  TYPALIGN_CHAR));
	args[2] = PointerGetDatum(construct_array(dates, n, TIMESTAMPTZOID, sizeof(TimestampTz),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = PointerGetDatum(construct_array(statuses, n, TEXTOID, -1, false, TYPALIGN_INT));
	insert_summaries(plans, sql, 4, types, args, uncounted);
}

/*
 * Inserts the summaries still held (all, or those of the orders in only),
 * empty, counting the orders not counted yet, and marks them taken; how many.
 */
static int64
write_held(ArrayType *only)
{
	HeldSummary **summaries;
	int			n;
	int			n_uncounted = 0;

	if (n_held == 0)
		return 0;
	summaries = summaries_to_write(only, &n);
	if (n == 0)
		return 0;
	/* the uncounted first */
	for (int i = 0; i < n; i++)
		if (summaries[i]->uncounted)
		{
			HeldSummary *s = summaries[i];

			summaries[i] = summaries[n_uncounted];
			summaries[n_uncounted++] = s;
		}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (n_uncounted > 0)
		insert_held(summaries, n_uncounted, true);
	if (n_uncounted < n)
		insert_held(summaries + n_uncounted, n - n_uncounted, false);
	SPI_finish();
	CommandCounterIncrement();
	seen_from = GetCurrentCommandId(false);

	for (int i = 0; i < n; i++)
		mark_taken(summaries[i]);
	return n;
}

/* Errors out unless called as the trigger on crux.<table> it is declared as. */
static TriggerData *
trigger_on(FunctionCallInfo fcinfo, const char *table, TriggerEvent event,
		   bool for_each_row)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		(trigdata->tg_event & TRIGGER_EVENT_OPMASK) != event ||
		(TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) != 0) != for_each_row ||
		RelationGetRelid(trigdata->tg_relation) != crux_table_oid(table))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function called in a context it was not declared for"),
				 errdetail("It runs only as the extension's own trigger on crux.%s.", table)));
	return trigdata;
}

/* The order's status as held: the shared copy in held_cxt (shared_statuses). */
static text *
held_status(Datum status)
{
	text	   *value = DatumGetTextPP(status);
	int			len = VARSIZE_ANY_EXHDR(value);
	text	   *copy;

	for (int i = 0; i < n_shared_statuses; i++)
		if (VARSIZE(shared_statuses[i]) == VARHDRSZ + (Size) len &&
			memcmp(VARDATA(shared_statuses[i]), VARDATA_ANY(value), len) == 0)
			return shared_statuses[i];
	copy = MemoryContextAlloc(held_cxt, VARHDRSZ + len);
	SET_VARSIZE(copy, VARHDRSZ + len);
	memcpy(VARDATA(copy), VARDATA_ANY(value), len);
	if (n_shared_statuses < MAX_SHARED_STATUSES)
		shared_statuses[n_shared_statuses++] = copy;
	else
		status_bytes += VARHDRSZ + len + 16;	/* and the chunk's header */
	return copy;
}

static AttrNumber
column_number(TupleDesc desc, const char *name)
{
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "column \"%s\" of crux.orders not found", name);
	return (AttrNumber) attno;
}

/*
 * Holds the summaries of the statement's new orders (new_rows); uncounted: their
 * orders are counted when the summaries are written.
 */
static void
hold_new_orders(TriggerData *trigdata, bool uncounted)
{
	Tuplestorestate *rows = trigdata->tg_newtable;
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	AttrNumber	order_att = column_number(desc, "uuid");
	AttrNumber	retailer_att = column_number(desc, "retailer_uuid");
	AttrNumber	date_att = column_number(desc, "created_date");
	AttrNumber	status_att = column_number(desc, "status");
	HTAB	   *summaries = held_summaries();

	tuplestore_select_read_pointer(rows, tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND));
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		bool		isnull[4];
		bool		found;
		Datum		order = slot_getattr(slot, order_att, &isnull[0]);
		Datum		retailer = slot_getattr(slot, retailer_att, &isnull[1]);
		Datum		date = slot_getattr(slot, date_att, &isnull[2]);
		Datum		status = slot_getattr(slot, status_att, &isnull[3]);
		HeldSummary *s;

		Assert(!isnull[0] && !isnull[1] && !isnull[2] && !isnull[3]);	/* NOT NULL columns */
		s = hash_search(summaries, DatumGetUUIDP(order), HASH_ENTER, &found);
		/*
		 * Found: an order of this uuid was held, then deleted with the triggers
		 * off (session_replication_role); the new one replaces it.
		 */
		if (!found)
			n_held++;
		else if (s->taken_in != InvalidSubTransactionId)
			elog(ERROR, "a held summary taken in a subtransaction is found at the top level");
		s->retailer_uuid = *DatumGetUUIDP(retailer);
		s->created_date = DatumGetTimestampTz(date);
		s->status = held_status(status);
		s->taken_in = InvalidSubTransactionId;
		s->uncounted = uncounted;
	}
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * Queues the write of what is held at commit: a row of crux.pending_summaries,
 * whose trigger is deferred (or, when the session made it immediate, runs at once).
 */
static void
queue_write_at_commit(void)
{
	static SPIPlanPtr plan = NULL;

	if (SPI_execute_plan(crux_kept_plan(&plan, "INSERT INTO crux.pending_summaries DEFAULT VALUES",
								   0, NULL, 0),
						 NULL, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "queueing the write of held order summaries failed");
}

/*
 * Inserts the statement's new orders' summaries now, empty; counted, also counts
 * the orders.
 */
static void
insert_empty_summaries(TriggerData *trigdata, bool counted)
{
	static SPIPlanPtr plans[2][2];
	static const char *const sql[2][2] = INSERTS_OF(NEW_ROWS);

	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");
	insert_summaries(plans, sql, 0, NULL, NULL, counted);
}

/*
 * The new orders' summaries, held or written empty. counts_orders: this version
 * of the trigger counts the new orders (1.15 on): those it holds when their
 * summaries are written, the others now; before, crux.orders_count did, at once.
 */
static Datum
hold_summaries(FunctionCallInfo fcinfo, bool counts_orders)
{
	TriggerData *trigdata = trigger_on(fcinfo, "orders", TRIGGER_EVENT_INSERT, false);
	int64		n = trigdata->tg_newtable != NULL ?
		tuplestore_tuple_count(trigdata->tg_newtable) : 0;

	if (n == 0)
		return PointerGetDatum(NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (may_hold(n))
	{
		/*
		 * The lock that writing the summaries now would take, taken now: a
		 * recount, which locks the summaries before the counts, must not find
		 * this writer holding the counts only.
		 */
		LockRelationOid(crux_table_oid("order_summaries"), RowExclusiveLock);
		hold_new_orders(trigdata, counts_orders);
		queue_write_at_commit();
	}
	else
		insert_empty_summaries(trigdata, counts_orders);
	SPI_finish();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(crux_orders_hold_summaries);
PG_FUNCTION_INFO_V1(crux_orders_hold_summaries_1_15);

/*
 * AFTER INSERT ON crux.orders REFERENCING NEW TABLE AS new_rows FOR EACH
 * STATEMENT: the new orders' summaries, held or written empty (version 1.14:
 * crux.orders_count counts the new orders).
 */
Datum
crux_orders_hold_summaries(PG_FUNCTION_ARGS)
{
	return hold_summaries(fcinfo, false);
}

/* The same from version 1.15, counting the new orders. */
Datum
crux_orders_hold_summaries_1_15(PG_FUNCTION_ARGS)
{
	return hold_summaries(fcinfo, true);
}

PG_FUNCTION_INFO_V1(crux_take_pending_summaries);

/*
 * crux.take_pending_summaries(uuid[]) returns (order_uuid, retailer_uuid,
 * created_date, and from version 1.18 status) of those orders whose summaries
 * are held, and takes them: the caller inserts them.
 */
Datum
crux_take_pending_summaries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *orders;
	bool	   *order_nulls;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
					  &orders, &order_nulls, &n);
	for (int i = 0; i < n; i++)
	{
		HeldSummary s;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (order_nulls[i] || !take_held(DatumGetUUIDP(orders[i]), &s))
			continue;
		values[0] = UUIDPGetDatum(&s.order_uuid);
		values[1] = UUIDPGetDatum(&s.retailer_uuid);
		values[2] = TimestampTzGetDatum(s.created_date);
		values[3] = PointerGetDatum(s.status);	/* read by 1.18's declaration on */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(crux_pending_summaries_held);

/* crux.pending_summaries_held() returns boolean: whether any summary is held. */
Datum
crux_pending_summaries_held(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(n_held > 0);
}

PG_FUNCTION_INFO_V1(crux_write_pending_summaries);

/*
 * crux.write_pending_summaries() returns bigint: writes the held summaries;
 * crux.write_pending_summaries(uuid[]) those of these orders.
 */
Datum
crux_write_pending_summaries(PG_FUNCTION_ARGS)
{
	if (PG_NARGS() > 0 && PG_ARGISNULL(0))
		PG_RETURN_INT64(0);
	PG_RETURN_INT64(write_held(PG_NARGS() > 0 ? PG_GETARG_ARRAYTYPE_P(0) : NULL));
}

PG_FUNCTION_INFO_V1(crux_pending_summaries_at_commit);

/*
 * CONSTRAINT TRIGGER AFTER INSERT ON crux.pending_summaries DEFERRABLE
 * INITIALLY DEFERRED FOR EACH ROW: writes what is held, deletes the row.
 */
Datum
crux_pending_summaries_at_commit(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	TriggerData *trigdata = trigger_on(fcinfo, "pending_summaries", TRIGGER_EVENT_INSERT,
									   true);
	Oid			type = TIDOID;
	Datum		row = PointerGetDatum(&trigdata->tg_trigtuple->t_self);

	(void) write_held(NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_plan(crux_kept_plan(&plan, "DELETE FROM crux.pending_summaries WHERE ctid = $1",
								   1, &type, 0),
						 &row, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "deleting a row of crux.pending_summaries failed");
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * Before a query that reads the summaries (query.c): writes those this
 * transaction holds, as crux.write_pending_summaries() does (as its owner; found
 * without the caller's search_path or privileges on schema crux). When the
 * statement's snapshot was taken before such a write, pushes a copy that sees
 * it; true when it did (PopActiveSnapshot() after the query).
 */
bool
crux_see_held_summaries(void)
{
	if (n_held > 0)
	{
		Oid			function = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
											   CStringGetDatum("write_pending_summaries"),
											   PointerGetDatum(buildoidvector(NULL, 0)),
											   ObjectIdGetDatum(get_namespace_oid("crux", false)));

		if (!OidIsValid(function))
			elog(ERROR, "function crux.write_pending_summaries() not found");
		(void) OidFunctionCall0(function);
	}
	if (seen_from == InvalidCommandId || !ActiveSnapshotSet() ||
		GetActiveSnapshot()->curcid >= seen_from)
		return false;
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	return true;
}
