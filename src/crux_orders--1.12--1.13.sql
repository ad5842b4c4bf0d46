-- crux_orders 1.12 -> 1.13: crux.tracked_skus keeps its own rows, pg_dump keeps it,
-- and tracking SKUs no longer deadlocks with writers.
--
-- Triggers on crux.tracked_skus add a newly tracked SKU's orders to crux.sku_orders
-- and remove an untracked SKU's rows (DELETE untracks; TRUNCATE is refused), so a
-- superuser may change the list directly and pg_restore restores it with its rows.
-- crux.track_skus() and those triggers block writers with SHARE locks taken in
-- attempts shorter than deadlock_timeout (crux.lock_orders_and_line_items): a
-- writer that holds line items and waits for orders goes on instead of being
-- chosen as a deadlock's victim.

\echo Use "ALTER EXTENSION crux_orders UPDATE TO '1.13'" to load this file. \quit

SELECT pg_catalog.pg_extension_config_dump('crux.tracked_skus', '');

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
-- on both, waited for in attempts of half of deadlock_timeout (at most 500 ms)
-- until they are held. An attempt that runs out gives back what it holds (its
-- subtransaction rolls back), so a writer that holds one of the tables and waits
-- for the other goes on instead of deadlocking, and the next attempt waits for
-- it. statement_timeout bounds the whole wait.
CREATE FUNCTION crux.lock_orders_and_line_items() RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    attempt_ms bigint;
    previous text := current_setting('lock_timeout');
BEGIN
    SELECT greatest(1, least(500, s.setting::bigint / 2)) INTO attempt_ms
      FROM pg_settings s WHERE s.name = 'deadlock_timeout';
    LOOP
        BEGIN
            PERFORM set_config('lock_timeout', attempt_ms || 'ms', true);
            LOCK TABLE crux.orders, crux.line_items IN SHARE MODE;
            PERFORM set_config('lock_timeout', previous, true);
            RETURN;
        EXCEPTION WHEN lock_not_available THEN
            NULL;   -- the locks and the setting rolled back with the attempt
        END;
    END LOOP;
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
        RAISE EXCEPTION 'crux.tracked_skus cannot be truncated'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Truncating would leave its SKUs'' rows in crux.sku_orders behind.',
                  HINT = 'Use DELETE FROM crux.tracked_skus to untrack SKUs.';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'crux.tracked_skus can only change in a READ COMMITTED transaction'
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'Its SKUs'' orders are read from the line items committed after they are locked.',
                  HINT = 'Change it on its own, outside a REPEATABLE READ or SERIALIZABLE transaction.';
    END IF;
    PERFORM crux.lock_orders_and_line_items();
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM crux.sku_orders k USING old_rows o WHERE k.sku_id = o.sku_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO crux.sku_orders (sku_id, retailer_uuid, created_date, order_uuid,
                                     status_mask)
        SELECT DISTINCT t.sku_id, s.retailer_uuid, s.created_date, li.order_uuid, s.status_mask
          FROM new_rows t
          JOIN crux.line_items li ON li.sku_id = t.sku_id
          JOIN crux.order_summaries s ON s.order_uuid = li.order_uuid
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tracked_skus_delete AFTER DELETE ON crux.tracked_skus REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();
CREATE TRIGGER tracked_skus_insert AFTER INSERT ON crux.tracked_skus REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();
CREATE TRIGGER tracked_skus_truncate BEFORE TRUNCATE ON crux.tracked_skus FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();
CREATE TRIGGER tracked_skus_update AFTER UPDATE ON crux.tracked_skus REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crux.tracked_skus_changed();

REVOKE ALL ON FUNCTION crux.lock_orders_and_line_items() FROM PUBLIC;
