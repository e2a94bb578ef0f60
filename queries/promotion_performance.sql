-- promotion_performance: the reference definition over the raw event tables (DESIGN.md, Views; docs/views.md).
-- One row per (promo_id, store, sku, business day) with a sale line that counts citing a promotion
-- that has a record (the `promotions` table). Baseline: the lines of that sku at that store without
-- a promotion, on the four days d - 7k (k = K .. K+3) where K is the smallest k >= 1 with d - 7k
-- before the promotion's first day at the store (the store-local day of its start). Cost: the
-- product's current catalog cost (`products`), zero without a record. Sums in cents, then:
-- baseline figures per day (the four days' sum over those the store traded, i.e. had a sale that
-- counts, and the sku sold no unit on a promotion at the store; kept as 12 times it, which is exact), lift, incremental margin, the discount
-- given on the units the baseline would have sold anyway (erosion, truncated to the cent) and a verdict.
WITH promoted AS (
    SELECT l.promo_id, l.store_id, l.sku, business_date(l.ts, s.timezone) AS business_date,
           CAST(business_date(l.ts, s.timezone) AS INT) AS day,
           SUM(l.qty) AS units,
           SUM(CAST((l.qty * l.unit_price - l.discount) * 100 AS BIGINT)) AS sales,
           SUM(CAST(l.discount * 100 AS BIGINT)) AS discount
    FROM effective_sale_lines l
    JOIN current_stores s ON s.store_id = l.store_id
    WHERE l.promo_id IS NOT NULL
    GROUP BY l.promo_id, l.store_id, l.sku, business_date(l.ts, s.timezone)
),
known AS (
    SELECT p.*, COALESCE(CAST(c.unit_cost * 100 AS BIGINT), 0) AS cost,
           p.day - 7 * GREATEST(1, (p.day - CAST(business_date(r."start", s.timezone) AS INT) + 7) / 7) AS last_base
    FROM promoted p
    JOIN promotions r ON r.promo_id = p.promo_id
    JOIN current_stores s ON s.store_id = p.store_id
    LEFT JOIN products c ON c.sku = p.sku
),
plain AS (
    SELECT l.store_id, l.sku, CAST(business_date(l.ts, s.timezone) AS INT) AS day,
           SUM(l.qty) AS units, SUM(CAST((l.qty * l.unit_price - l.discount) * 100 AS BIGINT)) AS sales
    FROM effective_sale_lines l
    JOIN current_stores s ON s.store_id = l.store_id
    WHERE l.promo_id IS NULL
    GROUP BY l.store_id, l.sku, CAST(business_date(l.ts, s.timezone) AS INT)
),
promotion_days AS (
    SELECT l.store_id, l.sku, CAST(business_date(l.ts, s.timezone) AS INT) AS day
    FROM effective_sale_lines l
    JOIN current_stores s ON s.store_id = l.store_id
    WHERE l.promo_id IS NOT NULL
    GROUP BY l.store_id, l.sku, CAST(business_date(l.ts, s.timezone) AS INT)
    HAVING SUM(l.qty) > 0
),
store_days AS (
    SELECT DISTINCT store_id, CAST(business_date AS INT) AS day FROM effective_transactions
),
traded AS (
    SELECT k.promo_id, k.store_id, k.sku, k.day, COUNT(*) AS days
    FROM known k
    JOIN store_days t ON t.store_id = k.store_id
    LEFT JOIN promotion_days x ON x.store_id = k.store_id AND x.sku = k.sku AND x.day = t.day
    WHERE x.sku IS NULL AND t.day IN (k.last_base, k.last_base - 7, k.last_base - 14, k.last_base - 21)
    GROUP BY k.promo_id, k.store_id, k.sku, k.day
),
baseline AS (
    SELECT k.promo_id, k.store_id, k.sku, k.day, SUM(b.units) AS units, SUM(b.sales) AS sales
    FROM known k
    JOIN plain b ON b.store_id = k.store_id AND b.sku = k.sku
    LEFT JOIN promotion_days x ON x.store_id = b.store_id AND x.sku = b.sku AND x.day = b.day
    WHERE x.sku IS NULL AND b.day IN (k.last_base, k.last_base - 7, k.last_base - 14, k.last_base - 21)
    GROUP BY k.promo_id, k.store_id, k.sku, k.day
),
scaled AS (
    SELECT k.*, COALESCE(b.units, 0) AS b_units, COALESCE(b.sales, 0) AS b_sales, COALESCE(12 / t.days, 0) AS scale
    FROM known k
    LEFT JOIN baseline b ON b.promo_id = k.promo_id AND b.store_id = k.store_id AND b.sku = k.sku AND b.day = k.day
    LEFT JOIN traded t ON t.promo_id = k.promo_id AND t.store_id = k.store_id AND t.sku = k.sku AND t.day = k.day
),
figures AS (
    SELECT promo_id, store_id, sku, business_date,
           units AS pu, sales AS ps, discount AS disc, units * cost AS cogs,
           b_units * scale AS bu, b_sales * scale AS bs, b_units * scale * cost AS bcogs
    FROM scaled
)
SELECT
    promo_id, store_id, sku, business_date,
    pu AS promo_units,
    CAST(CAST(ps AS DECIMAL(38, 2)) / 100 AS DECIMAL(18, 2)) AS promo_sales,
    CAST(CAST(disc AS DECIMAL(38, 2)) / 100 AS DECIMAL(18, 2)) AS discount,
    CAST(CAST(cogs AS DECIMAL(38, 2)) / 100 AS DECIMAL(18, 2)) AS cogs,
    CAST(CAST(ps - cogs AS DECIMAL(38, 2)) / 100 AS DECIMAL(18, 2)) AS margin,
    CAST(bu AS DOUBLE) / 12.0 AS baseline_units,
    CAST(bs - bcogs AS DOUBLE) / 1200.0 AS baseline_margin,
    CAST(12 * pu - bu AS DOUBLE) / 12.0 AS lift_units,
    CASE WHEN bu > 0 THEN CAST(12 * pu - bu AS DOUBLE) / CAST(bu AS DOUBLE) * 100.0 END AS lift_pct,
    CAST(12 * (ps - cogs) - (bs - bcogs) AS DOUBLE) / 1200.0 AS incremental_margin,
    CAST(CAST(CASE WHEN pu > 0 THEN disc * LEAST(12 * pu, GREATEST(bu, 0)) / (12 * pu) ELSE 0 END AS DECIMAL(38, 2)) / 100
         AS DECIMAL(18, 2)) AS margin_erosion,
    CASE
        WHEN bu <= 0 THEN 'no_baseline'
        WHEN 100 * (12 * pu - bu) >= 20 * bu AND 12 * (ps - cogs) >= bs - bcogs THEN 'profitable'
        WHEN 100 * (12 * pu - bu) >= 20 * bu THEN 'lift_without_margin'
        WHEN 12 * (ps - cogs) < bs - bcogs THEN 'loses_margin_without_lift'
        ELSE 'flat'
    END AS verdict
FROM figures
