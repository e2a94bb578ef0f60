-- products: each product's current record: the greatest ts, then event_id (missing ones first),
-- then the greater cost (as `current_products` chooses), name, category, department, list price,
-- and supplier, lead time and case pack (each missing first).
SELECT sku, name, category, department, unit_cost, list_price, supplier, lead_time_days, case_pack FROM (
    SELECT sku, name, category, department, unit_cost, list_price, supplier, lead_time_days, case_pack,
           ROW_NUMBER() OVER (
        PARTITION BY sku
        ORDER BY ts DESC NULLS LAST, event_id DESC NULLS LAST, unit_cost DESC, name DESC, category DESC,
                 department DESC, list_price DESC, supplier DESC NULLS LAST, lead_time_days DESC NULLS LAST,
                 case_pack DESC NULLS LAST
    ) AS rn
    FROM product_records) p
WHERE rn = 1
