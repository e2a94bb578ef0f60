-- category_daily: the reference definition over the raw event tables (DESIGN.md, Views; docs/views.md).
-- The rows of sku_margin summed by the current department and category of their product (null and
-- null for a SKU without a product record), with the forecast of store_daily per (store,
-- department, category): the mean net sales of days d-7, d-14, d-21 and d-28 that have a row.
WITH classed AS (
    SELECT m.*, p.department, p.category
    FROM sku_margin m
    LEFT JOIN products p ON p.sku = m.sku
),
days AS (
    SELECT store_id, department, category, business_date,
           SUM(units_sold) AS items, SUM(units_returned) AS units_returned,
           SUM(gross_sales) AS gross_sales, SUM(discounts) AS discounts, SUM(refunds) AS refunds,
           SUM(cogs) AS cogs, SUM(gross_sales) - SUM(discounts) - SUM(refunds) AS net_sales
    FROM classed
    GROUP BY store_id, department, category, business_date
),
forecast AS (
    SELECT d.store_id, d.department, d.category, d.business_date, SUM(b.net_sales) AS net_sum, COUNT(*) AS days
    FROM days d
    JOIN days b ON b.store_id = d.store_id
        AND (b.department IS NOT DISTINCT FROM d.department) AND (b.category IS NOT DISTINCT FROM d.category)
        AND b.business_date IN (d.business_date - INTERVAL '7' DAY, d.business_date - INTERVAL '14' DAY,
                                d.business_date - INTERVAL '21' DAY, d.business_date - INTERVAL '28' DAY)
    GROUP BY d.store_id, d.department, d.category, d.business_date
)
SELECT
    d.store_id,
    d.department,
    d.category,
    d.business_date,
    d.items,
    d.units_returned,
    CAST(d.gross_sales AS DECIMAL(18, 2)) AS gross_sales,
    CAST(d.discounts AS DECIMAL(18, 2)) AS discounts,
    CAST(d.refunds AS DECIMAL(18, 2)) AS refunds,
    CAST(d.net_sales AS DECIMAL(18, 2)) AS net_sales,
    CAST(d.cogs AS DECIMAL(18, 2)) AS cogs,
    CAST(d.net_sales - d.cogs AS DECIMAL(18, 2)) AS gross_margin,
    CAST(CAST((d.net_sales - d.cogs) * 100 AS BIGINT) AS DOUBLE)
        / NULLIF(CAST(CAST(d.net_sales * 100 AS BIGINT) AS DOUBLE), 0) AS margin_pct,
    CAST(CAST(f.net_sum * 100 AS BIGINT) AS DOUBLE) / CAST(f.days AS DOUBLE) / 100.0 AS forecast_net_sales,
    CASE WHEN f.net_sum > 0 THEN
        CAST(CAST((d.net_sales * f.days - f.net_sum) * 100 AS BIGINT) AS DOUBLE)
            / CAST(CAST(f.net_sum * 100 AS BIGINT) AS DOUBLE) * 100.0
    END AS deviation_pct
FROM days d
LEFT JOIN forecast f ON f.store_id = d.store_id AND (f.department IS NOT DISTINCT FROM d.department)
    AND (f.category IS NOT DISTINCT FROM d.category) AND f.business_date = d.business_date
