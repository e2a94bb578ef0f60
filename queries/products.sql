-- products: each product's current record: the greatest ts, then event_id (missing ones first),
-- then the greater cost (as `current_products` chooses), name, category, department and list price.
SELECT sku, name, category, department, unit_cost, list_price FROM (
    SELECT sku, name, category, department, unit_cost, list_price, ROW_NUMBER() OVER (
        PARTITION BY sku
        ORDER BY ts DESC NULLS LAST, event_id DESC NULLS LAST, unit_cost DESC, name DESC, category DESC,
                 department DESC, list_price DESC
    ) AS rn
    FROM product_records) p
WHERE rn = 1
