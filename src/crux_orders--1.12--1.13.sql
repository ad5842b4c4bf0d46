-- crux_orders 1.12 -> 1.13: crux.tracked_skus keeps its own rows, pg_dump keeps it,
-- and tracking SKUs gives way to writers instead of deadlocking with them.
--
-- Triggers on crux.tracked_skus add a newly tracked SKU's orders to crux.sku_orders
-- and remove an untracked SKU's rows (DELETE untracks; TRUNCATE is refused), so a
-- superuser may change the list directly and pg_restore restores it with its rows.
-- crux.track_skus() and those triggers take their SHARE locks on orders and line
-- items through crux.lock_orders_and_line_items(), in attempts that wait at most a
-- quarter of deadlock_timeout per lock: in a deadlock with a writer that holds line
-- items and waits for orders, an attempt gives its locks back before the writer
-- looks for the deadlock, and the next one waits for the writer.
--
-- The tracking numbers' index on their line item becomes a hash index: a page
-- probes it once per line item, and most line items have no tracking number,
-- which a hash probe finds in one bucket page. Building it blocks writes to the
-- tracking numbers while it runs; reads wait only for the swap at the end.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.13'" to load this file. \quit

SELECT pg_catalog.pg_extension_config_dump('crux.tracked_skus', '');

-- built beside the B-tree (writes to tracking numbers wait, reads go on); the swap
-- at the end holds the table exclusively only for the rest of the update
CREATE INDEX tracking_numbers_line_item_hash ON crux.tracking_numbers USING hash (line_item_uuid);

CREATE OR REPLACE FUNCTION crux.track_skus(min_line_items bigint DEFAULT 500) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    added bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'crux.track_skus() must run in a READ COMMITTED transaction'
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'It reads the line items committed after it has locked them.',
                  HINT = 'Run it on its own, outside a REPEATABLE READ or SERIALIZABLE transaction.';
    END IF;
    IF min_line_items IS NULL OR min_line_items < 1 THEN
        RAISE EXCEPTION 'invalid min_line_items: %', min_line_items
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give a number of line items of at least 1.';
    END IF;
    -- writers wait while the SKUs are counted and their orders added (by the
    -- trigger on crux.tracked_skus)
    PERFORM crux.lock_orders_and_line_items();
    WITH popular AS (
        INSERT INTO crux.tracked_skus (sku_id)
        SELECT li.sku_id FROM crux.line_items li
         WHERE li.sku_id IS NOT NULL
         GROUP BY li.sku_id
        HAVING count(*) >= min_line_items
        ON CONFLICT DO NOTHING
        RETURNING sku_id
    )
    SELECT count(*) INTO added FROM popular;
    RETURN added;
END
$$;

-- Blocks writes to orders and line items until the transaction ends: SHARE locks
-- on both, in attempts that wait at most a quarter of deadlock_timeout (250 ms at
-- most) for each lock, in a subtransaction. A writer that holds line items and
-- waits for orders deadlocks with an attempt; the attempt gives its locks back
-- before the writer looks for a deadlock (after deadlock_timeout, more than twice
-- as long as the attempt: a writer queued behind the attempt started waiting at
-- most one wait before it got the first lock), the writer goes on, and the next
-- attempt waits for it. It gives up after 200 attempts.
CREATE FUNCTION crux.lock_orders_and_line_items() RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    wait_ms bigint;
    previous text := current_setting('lock_timeout');
BEGIN
    SELECT greatest(1, least(250, s.setting::bigint / 4)) INTO wait_ms
      FROM pg_settings s WHERE s.name = 'deadlock_timeout';
    FOR attempt IN 1 .. 200 LOOP
        BEGIN
            PERFORM set_config('lock_timeout', wait_ms || 'ms', true);
            LOCK TABLE crux.orders, crux.line_items IN SHARE MODE;
            PERFORM set_config('lock_timeout', previous, true);
            RETURN;
        EXCEPTION WHEN lock_not_available THEN
            NULL;   -- the locks and the setting rolled back with the attempt
        END;
    END LOOP;
    RAISE EXCEPTION 'could not lock crux.orders and crux.line_items to change the tracked SKUs'
        USING ERRCODE = 'lock_not_available',
              DETAIL = format('Writers held them through 200 attempts of up to %s ms per lock.', wait_ms),
              HINT = 'Try again when fewer or shorter writes run.';
END
$$;

-- Keeps crux.sku_orders to crux.tracked_skus: an untracked SKU's rows go, a newly
-- tracked SKU's orders come from its line items. Writers of orders and line items
-- wait meanwhile (crux.lock_orders_and_line_items), and in READ COMMITTED only
-- each statement reads what they committed before.
CREATE FUNCTION crux.tracked_skus_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'cannot truncate crux.tracked_skus'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Truncating it would leave its SKUs'' rows in crux.sku_orders behind.',
                  HINT = 'Use DELETE FROM crux.tracked_skus to untrack SKUs.';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM new_rows) THEN
            RETURN NULL;
        END IF;
    ELSIF NOT EXISTS (SELECT FROM old_rows) THEN
        RETURN NULL;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'crux.tracked_skus can only change in a READ COMMITTED transaction'
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'The orders of its SKUs are read from the line items once writers are locked out, which an older snapshot would not see.',
                  HINT = 'Change it on its own, outside a REPEATABLE READ or SERIALIZABLE transaction.';
    END IF;
    PERFORM crux.lock_orders_and_line_items();
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM crux.sku_orders k USING old_rows o WHERE k.sku_id = o.sku_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        -- rows a SKU untracked by hand before 1.13 left behind go first
        DELETE FROM crux.sku_orders k USING new_rows t WHERE k.sku_id = t.sku_id;
        INSERT INTO crux.sku_orders (sku_id, retailer_uuid, created_date, order_uuid,
                                     status_mask)
        SELECT DISTINCT t.sku_id, s.retailer_uuid, s.created_date, li.order_uuid, s.status_mask
          FROM new_rows t
          JOIN crux.line_items li ON li.sku_id = t.sku_id
          JOIN crux.order_summaries s ON s.order_uuid = li.order_uuid;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tracked_skus_delete AFTER DELETE ON crux.tracked_skus REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();
CREATE TRIGGER tracked_skus_insert AFTER INSERT ON crux.tracked_skus REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();
CREATE TRIGGER tracked_skus_truncate BEFORE TRUNCATE ON crux.tracked_skus FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();
CREATE TRIGGER tracked_skus_update AFTER UPDATE ON crux.tracked_skus REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();

REVOKE ALL ON FUNCTION crux.lock_orders_and_line_items() FROM PUBLIC;

DROP INDEX crux.tracking_numbers_line_item_idx;
ALTER INDEX crux.tracking_numbers_line_item_hash RENAME TO tracking_numbers_line_item_idx;
