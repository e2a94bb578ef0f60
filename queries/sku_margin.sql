-- sku_margin: the reference definition over the raw event tables (DESIGN.md, Views).
-- Uses the views of shared.sql. One row per (store, sku, business day) with a sale or refund
-- line. A post-voided sale counts nowhere. cogs prices each line at the latest receipt of its (store, sku) at or before its ts
-- (greater event_id first among equal ts), else the product's current catalog cost, else 0.
WITH lines AS (
    SELECT 'sale' AS kind, l.event_id, l.line_no, l.store_id, l.sku, l.ts,
           l.qty AS sold, 0 AS returned, l.qty * l.unit_price AS gross, l.discount,
           CAST(0 AS DECIMAL(18, 2)) AS refund,
           CASE WHEN l.promo_id IS NULL THEN 0 ELSE l.qty END AS promo_units
    FROM effective_sale_lines l
    UNION ALL
    SELECT 'refund', r.event_id, r.line_no, r.store_id, r.sku, r.ts,
           0, r.qty, CAST(0 AS DECIMAL(18, 2)), CAST(0 AS DECIMAL(18, 2)), r.amount, 0
    FROM refund_lines r
),
receipt_costs AS (
    SELECT l.kind, l.event_id, l.line_no, i.unit_cost,
           ROW_NUMBER() OVER (
               PARTITION BY l.kind, l.event_id, l.line_no ORDER BY i.ts DESC, i.event_id DESC) AS rn
    FROM lines l
    JOIN inventory i ON i.kind = 'receipt' AND i.store_id = l.store_id AND i.sku = l.sku AND i.ts <= l.ts
)
SELECT
    l.store_id,
    l.sku,
    business_date(l.ts, s.timezone) AS business_date,
    SUM(l.sold) AS units_sold,
    SUM(l.returned) AS units_returned,
    CAST(SUM(l.gross) AS DECIMAL(18, 2)) AS gross_sales,
    CAST(SUM(l.discount) AS DECIMAL(18, 2)) AS discounts,
    CAST(SUM(l.refund) AS DECIMAL(18, 2)) AS refunds,
    CAST(SUM(l.gross) - SUM(l.discount) - SUM(l.refund) AS DECIMAL(18, 2)) AS net_sales,
    CAST(SUM((l.sold - l.returned) * COALESCE(c.unit_cost, p.unit_cost, 0)) AS DECIMAL(18, 2)) AS cogs,
    CAST(SUM(l.gross) - SUM(l.discount) - SUM(l.refund)
         - SUM((l.sold - l.returned) * COALESCE(c.unit_cost, p.unit_cost, 0)) AS DECIMAL(18, 2)) AS gross_margin,
    -- the ratio of the exact cent amounts
    CAST(CAST((SUM(l.gross) - SUM(l.discount) - SUM(l.refund)
               - SUM((l.sold - l.returned) * COALESCE(c.unit_cost, p.unit_cost, 0))) * 100 AS BIGINT) AS DOUBLE)
        / NULLIF(CAST(CAST((SUM(l.gross) - SUM(l.discount) - SUM(l.refund)) * 100 AS BIGINT) AS DOUBLE), 0) AS margin_pct,
    SUM(l.promo_units) AS promo_units
FROM lines l
JOIN current_stores s ON s.store_id = l.store_id
LEFT JOIN receipt_costs c ON c.kind = l.kind AND c.event_id = l.event_id AND c.line_no = l.line_no AND c.rn = 1
LEFT JOIN current_products p ON p.sku = l.sku
GROUP BY l.store_id, l.sku, business_date(l.ts, s.timezone)
