-- The install script is safe to run into a schema that already holds hostile
-- objects: functions shadowing built-ins, operators that lie, tables named like
-- ours. A fresh database, schema api full of traps, CREATE EXTENSION ... SCHEMA api
-- with that schema first in the search_path; then everything still works.
CREATE DATABASE crux_hostile_install;
\c crux_hostile_install
SET client_min_messages = warning;
CREATE SCHEMA api;
CREATE FUNCTION api.gen_random_uuid() RETURNS uuid LANGUAGE sql
    AS $$SELECT '00000000-0000-0000-0000-000000000000'::uuid$$;
CREATE FUNCTION api.now() RETURNS timestamptz LANGUAGE sql
    AS $$SELECT timestamptz '1970-01-01 00:00Z'$$;
CREATE FUNCTION api.lies(integer, integer) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR api.> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = api.lies);
CREATE OPERATOR api.>= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = api.lies);
CREATE FUNCTION api.plus(integer, integer) RETURNS integer LANGUAGE sql AS 'SELECT 0';
CREATE OPERATOR api.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = api.plus);
CREATE FUNCTION api.same(uuid, uuid) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR api.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = api.same);
CREATE FUNCTION api.least(text, text) RETURNS text LANGUAGE sql AS $$SELECT 'hostile'$$;
CREATE FUNCTION api.pg_extension_config_dump(regclass, text) RETURNS void LANGUAGE sql AS '';
CREATE TABLE api.orders (uuid uuid);
CREATE TABLE api.claim_roles (role_name name);
SET search_path = api, public;

CREATE EXTENSION crux_orders SCHEMA api;

INSERT INTO crux.organizations (name) VALUES ('R');
INSERT INTO crux.orders (retailer_uuid, purchase_order_id)
SELECT uuid, 'PO-' || g FROM crux.organizations, generate_series(1, 3) g;
INSERT INTO crux.line_items (order_uuid, status, sku_id, quantity_ordered)
SELECT uuid, 'allocated', 'B-' || purchase_order_id, 1 FROM crux.orders;
INSERT INTO crux.line_items (order_uuid, status, sku_id, quantity_ordered)
SELECT uuid, 'delivered', 'A-' || purchase_order_id, 2 FROM crux.orders WHERE purchase_order_id = 'PO-1';
-- defaults came from pg_catalog: distinct random uuids, the real now()
SELECT count(DISTINCT uuid) AS distinct_uuids, bool_and(created_date > '2000-01-01') AS real_now
  FROM crux.orders;
-- checks use the real operators: a quantity of 0 is refused, 1 accepted above
\set VERBOSITY terse
INSERT INTO crux.line_items (order_uuid, quantity_ordered) SELECT uuid, 0 FROM crux.orders LIMIT 1;
\set VERBOSITY default
-- summaries use the real + and least
SELECT o.purchase_order_id, s.status_mask, s.n_allocated, s.n_delivered, s.min_sku_id
  FROM crux.orders o JOIN crux.order_summaries s ON s.order_uuid = o.uuid
 ORDER BY o.purchase_order_id;
-- the API answers correctly with the traps first in the search_path
SELECT api.crux_get_orders('{"line_item_status": "delivered"}') ->> 'total_results' AS delivered,
       api.crux_get_orders('{}') ->> 'total_results' AS all_orders,
       api.crux_get_orders('{"term": "PO-2"}') #>> '{orders,0,purchase_order_id}' AS term;
-- the tables are registered for pg_dump
SELECT count(*) AS dumped_tables FROM pg_extension, unnest(extconfig) WHERE extname = 'crux_orders';
SELECT crux.recount_summaries();

\c contrib_regression
DROP DATABASE crux_hostile_install;
