-- Views the reference definitions share, created in every reference session.

-- The current record of each store: the greatest (ts, event_id), missing values first.
CREATE VIEW current_stores AS
SELECT store_id, timezone FROM (
    SELECT store_id, timezone, ROW_NUMBER() OVER (
        PARTITION BY store_id ORDER BY ts DESC NULLS LAST, event_id DESC NULLS LAST, timezone DESC) AS rn
    FROM stores) s
WHERE rn = 1;

-- The current catalog cost of each product, chosen the same way (then the greater cost).
CREATE VIEW current_products AS
SELECT sku, unit_cost FROM (
    SELECT sku, unit_cost, ROW_NUMBER() OVER (
        PARTITION BY sku ORDER BY ts DESC NULLS LAST, event_id DESC NULLS LAST, unit_cost DESC) AS rn
    FROM products) p
WHERE rn = 1;

-- Sale lines that count: a post-voided sale counts nowhere.
CREATE VIEW effective_sale_lines AS
SELECT l.* FROM sale_lines l
WHERE NOT EXISTS (
    SELECT 1 FROM voids v
    WHERE v.scope = 'post' AND v.store_id = l.store_id AND v.transaction_id = l.transaction_id);

-- The latest event time seen, less the allowed lateness of one hour.
CREATE VIEW watermark AS
SELECT MAX(ts) - INTERVAL '1 hour' AS at FROM (
    SELECT ts FROM sale_lines UNION ALL SELECT ts FROM refund_lines
    UNION ALL SELECT ts FROM voids UNION ALL SELECT ts FROM loyalty_links
    UNION ALL SELECT ts FROM erasures UNION ALL SELECT ts FROM inventory
    UNION ALL SELECT ts FROM shifts UNION ALL SELECT ts FROM products
    UNION ALL SELECT ts FROM stores UNION ALL SELECT ts FROM promotions) t
