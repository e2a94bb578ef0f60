-- Tables the reference definitions share, computed in every reference session.

-- The current record of each store: the greatest (ts, event_id), missing values first.
CREATE TABLE current_stores AS
SELECT store_id, name, district, region, timezone FROM (
    SELECT store_id, name, district, region, timezone, ROW_NUMBER() OVER (
        PARTITION BY store_id
        ORDER BY ts DESC NULLS LAST, event_id DESC NULLS LAST, district DESC, timezone DESC, region DESC, name DESC
    ) AS rn
    FROM store_records) s
WHERE rn = 1;

-- The current catalog cost of each product, chosen the same way (then the greater cost).
CREATE TABLE current_products AS
SELECT sku, unit_cost FROM (
    SELECT sku, unit_cost, ROW_NUMBER() OVER (
        PARTITION BY sku ORDER BY ts DESC NULLS LAST, event_id DESC NULLS LAST, unit_cost DESC) AS rn
    FROM product_records) p
WHERE rn = 1;

-- Sale lines that count: a post-voided sale counts nowhere.
CREATE TABLE effective_sale_lines AS
SELECT l.* FROM sale_lines l
WHERE NOT EXISTS (
    SELECT 1 FROM voids v
    WHERE v.scope = 'post' AND v.store_id = l.store_id AND v.transaction_id = l.transaction_id);

-- The watermark: the chain's clock less the allowed lateness of one hour. The chain's clock is
-- the second latest of the stores' latest event times (the latest while one store has events), so
-- one store whose clock runs ahead cannot move time for the chain. Always one row (NULL before any
-- store-dated event).
CREATE TABLE watermark AS
WITH store_latest AS (
    SELECT store_id, MAX(ts) AS latest FROM (
        SELECT store_id, ts FROM sale_lines UNION ALL SELECT store_id, ts FROM refund_lines
        UNION ALL SELECT store_id, ts FROM voids UNION ALL SELECT store_id, ts FROM inventory
        UNION ALL SELECT store_id, ts FROM shifts) t
    GROUP BY store_id
),
ranked AS (
    SELECT latest, ROW_NUMBER() OVER (ORDER BY latest DESC) AS rank, COUNT(*) OVER () AS stores
    FROM store_latest
)
SELECT (SELECT latest FROM ranked WHERE rank = LEAST(2, stores)) - INTERVAL '1 hour' AS at;

-- One row per sale: its totals, how it was paid, and its store-local day and hour.
CREATE TABLE transactions AS
WITH lines AS (
    SELECT event_id, store_id, transaction_id, ts, register_id, cashier_id, customer_ref,
           SUM(qty) AS items, SUM(qty * unit_price) AS gross, SUM(discount) AS discount,
           SUM(CASE WHEN promo_id IS NULL THEN discount ELSE 0 END) AS manual_discount
    FROM sale_lines
    GROUP BY event_id, store_id, transaction_id, ts, register_id, cashier_id, customer_ref
),
paid AS (
    SELECT event_id, SUM(amount) AS tendered,
           BOOL_OR(kind = 'card' AND amount <> 0) AS by_card,
           BOOL_OR(kind = 'cash' AND amount <> 0) AS in_cash
    FROM sale_tenders GROUP BY event_id
)
SELECT l.*, l.gross - l.discount AS net,
       COALESCE(p.tendered, 0) AS tendered,
       COALESCE(p.by_card, false) AS paid_by_card,
       COALESCE(p.in_cash, false) AS paid_in_cash,
       business_date(l.ts, s.timezone) AS business_date,
       local_hour(l.ts, s.timezone) AS hour
FROM lines l
JOIN current_stores s ON s.store_id = l.store_id
LEFT JOIN paid p ON p.event_id = l.event_id;

-- Sales that count.
CREATE TABLE effective_transactions AS
SELECT t.* FROM transactions t
WHERE NOT EXISTS (
    SELECT 1 FROM voids v
    WHERE v.scope = 'post' AND v.store_id = t.store_id AND v.transaction_id = t.transaction_id);

-- One row per refund, with its store-local day and hour.
CREATE TABLE refunds AS
SELECT r.event_id, r.store_id, r.refund_id, r.ts, r.register_id, r.cashier_id, r.original_transaction_id, r.tender_kind,
       SUM(r.amount) AS amount,
       business_date(r.ts, s.timezone) AS business_date,
       local_hour(r.ts, s.timezone) AS hour
FROM refund_lines r
JOIN current_stores s ON s.store_id = r.store_id
GROUP BY r.event_id, r.store_id, r.refund_id, r.ts, r.register_id, r.cashier_id, r.original_transaction_id, r.tender_kind, s.timezone;

-- What happened at the tills: one row per sale that counts, void that removed a line or cancelled
-- a sale, and refund, with where (register) and by whom (cashier) it was rung, and what it counts.
CREATE TABLE till_measures AS
WITH void_sizes AS (
    SELECT event_id, COUNT(*) AS lines FROM void_lines GROUP BY event_id
)
SELECT store_id, register_id, cashier_id, business_date, 1 AS transactions, 0 AS line_voids, 0 AS post_voids,
       0 AS refunds, 0 AS no_receipt_refunds, CAST(0 AS DECIMAL(18,2)) AS refund_amount,
       discount AS discount_amount, manual_discount AS manual_discount_amount, gross AS gross_sales
FROM effective_transactions
UNION ALL
SELECT v.store_id, v.register_id, v.cashier_id, business_date(v.ts, s.timezone), 0,
       CASE WHEN v.scope = 'line' THEN COALESCE(z.lines, 0) ELSE 0 END,
       CASE WHEN v.scope = 'post' THEN 1 ELSE 0 END, 0, 0, 0, 0, 0, 0
FROM voids v
JOIN current_stores s ON s.store_id = v.store_id
LEFT JOIN void_sizes z ON z.event_id = v.event_id
WHERE v.scope = 'post' OR COALESCE(z.lines, 0) > 0
UNION ALL
SELECT store_id, register_id, cashier_id, business_date, 0, 0, 0, 1,
       CASE WHEN original_transaction_id IS NULL THEN 1 ELSE 0 END, amount, 0, 0, 0
FROM refunds;
