-- promotion_summary: the reference definition (docs/views.md): the rows of the reference
-- promotion_performance summed per promotion, back in exact cents (a baseline figure is a twelfth
-- of an integer: times 12, or 1200 for money, it is an integer again), with the same figures.
WITH sums AS (
    SELECT promo_id, COUNT(*) AS store_sku_days, SUM(promo_units) AS pu,
           SUM(CAST(promo_sales * 100 AS BIGINT)) AS ps, SUM(CAST(discount * 100 AS BIGINT)) AS disc,
           SUM(CAST(cogs * 100 AS BIGINT)) AS cogs, SUM(CAST(ROUND(baseline_units * 12) AS BIGINT)) AS bu,
           SUM(CAST(ROUND(baseline_margin * 1200) AS BIGINT)) AS bm, SUM(CAST(margin_erosion * 100 AS BIGINT)) AS erosion
    FROM promotion_performance
    GROUP BY promo_id
)
SELECT
    promo_id, store_sku_days,
    pu AS promo_units,
    CAST(CAST(ps AS DECIMAL(38, 2)) / 100 AS DECIMAL(18, 2)) AS promo_sales,
    CAST(CAST(disc AS DECIMAL(38, 2)) / 100 AS DECIMAL(18, 2)) AS discount,
    CAST(CAST(cogs AS DECIMAL(38, 2)) / 100 AS DECIMAL(18, 2)) AS cogs,
    CAST(CAST(ps - cogs AS DECIMAL(38, 2)) / 100 AS DECIMAL(18, 2)) AS margin,
    CAST(bu AS DOUBLE) / 12.0 AS baseline_units,
    CAST(bm AS DOUBLE) / 1200.0 AS baseline_margin,
    CAST(12 * pu - bu AS DOUBLE) / 12.0 AS lift_units,
    CASE WHEN bu > 0 THEN CAST(12 * pu - bu AS DOUBLE) / CAST(bu AS DOUBLE) * 100.0 END AS lift_pct,
    CAST(12 * (ps - cogs) - bm AS DOUBLE) / 1200.0 AS incremental_margin,
    CAST(CAST(erosion AS DECIMAL(38, 2)) / 100 AS DECIMAL(18, 2)) AS margin_erosion,
    CASE
        WHEN bu <= 0 THEN 'no_baseline'
        WHEN 100 * (12 * pu - bu) >= 20 * bu AND 12 * (ps - cogs) >= bm THEN 'profitable'
        WHEN 100 * (12 * pu - bu) >= 20 * bu THEN 'lift_without_margin'
        WHEN 12 * (ps - cogs) < bm THEN 'loses_margin_without_lift'
        ELSE 'flat'
    END AS verdict
FROM sums
