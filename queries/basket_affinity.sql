-- basket_affinity: the reference definition over the raw event tables (DESIGN.md, Views; docs/views.md).
-- A basket is a sale that counts; it holds a SKU when it has a line of it with qty > 0. Per district,
-- over the baskets whose store-local business day lies in the window (settings.affinity_window_days,
-- 28 by default) ending at their store's watermark day: the baskets holding a SKU, those holding each
-- SKU and those holding each pair (sku_a < sku_b), for the pairs in at least
-- settings.affinity_min_baskets (20 by default) baskets.
WITH today AS (
    SELECT s.store_id, s.district, business_date(w.at, s.timezone) AS day
    FROM current_stores s CROSS JOIN watermark w
    WHERE w.at IS NOT NULL
),
lines AS (
    SELECT l.event_id, t.district, l.sku,
           CAST(business_date(l.ts, s.timezone) AS INT) AS day, CAST(t.day AS INT) AS today
    FROM effective_sale_lines l
    JOIN current_stores s ON s.store_id = l.store_id
    JOIN today t ON t.store_id = l.store_id
    WHERE l.qty > 0
),
holding AS (
    SELECT DISTINCT l.event_id, l.district, l.sku
    FROM lines l CROSS JOIN settings c
    WHERE l.day <= l.today AND l.day > l.today - c.affinity_window_days
),
baskets AS (
    SELECT district, COUNT(DISTINCT event_id) AS baskets FROM holding GROUP BY district
),
singles AS (
    SELECT district, sku, COUNT(*) AS baskets FROM holding GROUP BY district, sku
),
pairs AS (
    SELECT a.district, a.sku AS sku_a, b.sku AS sku_b, COUNT(*) AS baskets_both
    FROM holding a
    JOIN holding b ON b.event_id = a.event_id AND a.sku < b.sku
    GROUP BY a.district, a.sku, b.sku
)
SELECT
    p.district,
    p.sku_a,
    p.sku_b,
    n.baskets,
    sa.baskets AS baskets_a,
    sb.baskets AS baskets_b,
    p.baskets_both,
    CAST(p.baskets_both AS DOUBLE) / CAST(n.baskets AS DOUBLE) AS support,
    CAST(p.baskets_both AS DOUBLE) / CAST(sa.baskets AS DOUBLE) AS confidence_ab,
    CAST(p.baskets_both AS DOUBLE) / CAST(sb.baskets AS DOUBLE) AS confidence_ba,
    CAST(p.baskets_both AS DOUBLE) * CAST(n.baskets AS DOUBLE)
        / (CAST(sa.baskets AS DOUBLE) * CAST(sb.baskets AS DOUBLE)) AS lift
FROM pairs p
JOIN baskets n ON n.district = p.district
JOIN singles sa ON sa.district = p.district AND sa.sku = p.sku_a
JOIN singles sb ON sb.district = p.district AND sb.sku = p.sku_b
CROSS JOIN settings c
WHERE p.baskets_both >= c.affinity_min_baskets
