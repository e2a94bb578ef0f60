-- inventory_position: the reference definition over the raw event tables (docs/views.md).
-- Uses the views of shared.sql. One row per (store, sku) with an inventory event or a sale or refund line that counts.
-- on_hand = the last count (greatest ts, then event_id) + every movement strictly after it.
-- Demand: units sold over the 14 business days ending on the store-local day of the watermark
-- (the latest event time seen, less one hour of allowed lateness).
WITH moves AS (
    SELECT store_id, sku, ts, CASE WHEN kind = 'transfer_out' THEN -qty ELSE qty END AS qty
    FROM inventory WHERE kind <> 'count'
    UNION ALL SELECT store_id, sku, ts, -qty FROM effective_sale_lines
    UNION ALL SELECT store_id, sku, ts, qty FROM refund_lines
),
last_counts AS (
    SELECT store_id, sku, ts, qty FROM (
        SELECT store_id, sku, ts, qty, ROW_NUMBER() OVER (
            PARTITION BY store_id, sku ORDER BY ts DESC, event_id DESC) AS rn
        FROM inventory WHERE kind = 'count') c
    WHERE rn = 1
),
pairs AS (
    SELECT store_id, sku FROM moves UNION SELECT store_id, sku FROM inventory
),
stock AS (
    SELECT p.store_id, p.sku, c.ts AS last_count_at,
           COALESCE(MAX(c.qty), 0) + COALESCE(SUM(m.qty), 0) AS on_hand
    FROM pairs p
    LEFT JOIN last_counts c ON c.store_id = p.store_id AND c.sku = p.sku
    LEFT JOIN moves m ON m.store_id = p.store_id AND m.sku = p.sku AND (c.ts IS NULL OR m.ts > c.ts)
    GROUP BY p.store_id, p.sku, c.ts
),
as_of AS (
    SELECT s.store_id, business_date(w.at, s.timezone) AS day FROM current_stores s CROSS JOIN watermark w
    WHERE w.at IS NOT NULL
),
demand AS (
    SELECT x.store_id, x.sku, SUM(x.qty) AS units
    FROM effective_sale_lines x
    JOIN current_stores s ON s.store_id = x.store_id
    JOIN as_of a ON a.store_id = x.store_id
    WHERE business_date(x.ts, s.timezone) <= a.day
      AND business_date(x.ts, s.timezone) > a.day - INTERVAL '14 days'
    GROUP BY x.store_id, x.sku
)
SELECT
    k.store_id,
    k.sku,
    k.on_hand,
    k.last_count_at,
    COALESCE(d.units, 0) AS units_sold_14d,
    CAST(COALESCE(d.units, 0) AS DOUBLE) / 14.0 AS avg_daily_units,
    CAST(k.on_hand AS DOUBLE) / NULLIF(CAST(COALESCE(d.units, 0) AS DOUBLE) / 14.0, 0) AS days_of_cover,
    COALESCE(d.units, 0) > 0 AND k.on_hand * 14 < 5 * COALESCE(d.units, 0) AS reorder,
    k.on_hand < 0 AS negative_stock,
    a.day AS as_of_date
FROM stock k
LEFT JOIN demand d ON d.store_id = k.store_id AND d.sku = k.sku
LEFT JOIN as_of a ON a.store_id = k.store_id
