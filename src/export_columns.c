/*
 * export_columns.c
 *		The columns of an export, in CSV order, declared once: each one's name
 *		(what a request's "fields" names, the CSV header) and the expression
 *		crux.export_csv reads it with, from the batch's orders (o, with their
 *		retailer r and user u) or line items (li). request.c validates "fields"
 *		against this table, csv.c builds its two queries and its header from it.
 *		The SQL objects of the install script that return the same rows
 *		(crux.export_row, crux.export_rows) name the same columns in the same
 *		order, which sql/11_export_csv.sql checks.
 */
#include "postgres.h"

#include "crux_orders.h"

const CruxExportColumn crux_export_columns[CRUX_N_EXPORT_FIELDS] = {
	{"order_uuid", CRUX_COLUMN_OF_ORDER, "o.uuid"},
	{"order_status", CRUX_COLUMN_OF_ORDER, "o.status"},
	{"is_allocated", CRUX_COLUMN_COMPUTED, "NULL::pg_catalog.bool"},
	{"purchase_order_id", CRUX_COLUMN_OF_ORDER, "o.purchase_order_id"},
	{"created_date", CRUX_COLUMN_OF_ORDER, "o.created_date"},
	{"notes", CRUX_COLUMN_OF_ORDER, "o.notes"},
	{"estimated_shipping_cost", CRUX_COLUMN_OF_ORDER, "o.estimated_shipping_cost"},
	{"drop_ship_fee", CRUX_COLUMN_OF_ORDER, "o.drop_ship_fee"},
	{"order_fee", CRUX_COLUMN_OF_ORDER, "o.order_fee"},
	{"retailer_name", CRUX_COLUMN_OF_ORDER, "r.name"},
	{"retailer_uuid", CRUX_COLUMN_OF_ORDER, "o.retailer_uuid"},
	{"user_name", CRUX_COLUMN_OF_ORDER, "u.name"},
	{"user_email", CRUX_COLUMN_OF_ORDER, "u.email"},
	{"address_name", CRUX_COLUMN_OF_ORDER, "o.address_name"},
	{"address_business_name", CRUX_COLUMN_OF_ORDER, "o.address_business_name"},
	{"address_address1", CRUX_COLUMN_OF_ORDER, "o.address_address1"},
	{"address_address2", CRUX_COLUMN_OF_ORDER, "o.address_address2"},
	{"address_city", CRUX_COLUMN_OF_ORDER, "o.address_city"},
	{"address_state", CRUX_COLUMN_OF_ORDER, "o.address_state"},
	{"address_postal_code", CRUX_COLUMN_OF_ORDER, "o.address_postal_code"},
	{"address_phone_number", CRUX_COLUMN_OF_ORDER, "o.address_phone_number"},
	{"shipping_carrier", CRUX_COLUMN_OF_ORDER, "o.shipping_carrier"},
	{"shipping_method", CRUX_COLUMN_OF_ORDER, "o.shipping_method"},
	{"line_item_uuid", CRUX_COLUMN_OF_LINE_ITEM, "li.uuid"},
	{"line_item_status", CRUX_COLUMN_OF_LINE_ITEM, "li.status"},
	{"item_uuid", CRUX_COLUMN_OF_LINE_ITEM, "li.item_uuid"},
	{"item_name", CRUX_COLUMN_OF_LINE_ITEM, "li.item_name"},
	{"sku_uuid", CRUX_COLUMN_OF_LINE_ITEM, "li.sku_uuid"},
	{"sku_id", CRUX_COLUMN_OF_LINE_ITEM, "li.sku_id"},
	{"sku_name", CRUX_COLUMN_OF_LINE_ITEM, "li.sku_name"},
	{"cost", CRUX_COLUMN_OF_LINE_ITEM, "li.cost"},
	{"supplier_uuid", CRUX_COLUMN_OF_LINE_ITEM, "li.supplier_uuid"},
	{"supplier_name", CRUX_COLUMN_OF_LINE_ITEM, "li.supplier_name"},
	{"quantity_ordered", CRUX_COLUMN_OF_LINE_ITEM, "li.quantity_ordered"},
	{"quantity_allocated", CRUX_COLUMN_OF_LINE_ITEM, "li.quantity_allocated"},
	{"quantity_backordered", CRUX_COLUMN_OF_LINE_ITEM, "li.quantity_backordered"},
	{"quantity_rejected", CRUX_COLUMN_OF_LINE_ITEM, "li.quantity_rejected"},
	{"backorder_date", CRUX_COLUMN_OF_LINE_ITEM, "li.backorder_date"},
	{"tracking_numbers", CRUX_COLUMN_OF_TRACKING, NULL}
};
