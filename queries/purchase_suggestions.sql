-- purchase_suggestions: the reference definition (DESIGN.md, Views; docs/views.md), over the
-- `replenishment` reference: per (store, watermark day, order group), the rows with a suggested
-- quantity gathered into one draft order.
SELECT store_id, as_of_date AS business_date, order_group,
       COUNT(*) AS skus,
       SUM(suggested_qty) AS units,
       SUM(suggested_qty / case_pack) AS cases,
       CAST(SUM(suggested_cost) AS DECIMAL(18, 2)) AS cost,
       MIN(projected_stockout_date) AS earliest_stockout_date
FROM replenishment
WHERE suggested_qty > 0
GROUP BY store_id, as_of_date, order_group
