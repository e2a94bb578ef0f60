-- rule_breaks: the reference definition over the raw event tables (docs/views.md).
-- A refund citing a transaction is matched with the sale of that transaction_id anywhere in the
-- chain; a post-void with the sale it cancels in its own store.
WITH cited AS (
    SELECT * FROM refunds WHERE original_transaction_id IS NOT NULL
),
against_sale AS (
    SELECT c.*, t.net AS sale_net, t.paid_by_card, t.paid_in_cash, t.cashier_id AS sale_cashier_id
    FROM cited c JOIN effective_transactions t ON t.transaction_id = c.original_transaction_id
)
SELECT store_id, cashier_id, business_date, 'refund_without_sale' AS rule, refund_id,
       original_transaction_id AS transaction_id, amount
FROM cited c
WHERE NOT EXISTS (SELECT 1 FROM effective_transactions t WHERE t.transaction_id = c.original_transaction_id)
UNION ALL
SELECT store_id, cashier_id, business_date, 'refund_above_original', refund_id, original_transaction_id, amount
FROM against_sale WHERE amount > sale_net
UNION ALL
SELECT store_id, cashier_id, business_date, 'cash_refund_of_card_sale', refund_id, original_transaction_id, amount
FROM against_sale WHERE tender_kind = 'cash' AND paid_by_card AND NOT paid_in_cash
UNION ALL
SELECT store_id, cashier_id, business_date, 'refund_by_same_cashier', refund_id, original_transaction_id, amount
FROM against_sale WHERE cashier_id = sale_cashier_id
UNION ALL
SELECT v.store_id, v.cashier_id, business_date(v.ts, s.timezone), 'post_void_after_tender', CAST(NULL AS VARCHAR),
       v.transaction_id, t.tendered
FROM voids v
JOIN current_stores s ON s.store_id = v.store_id
JOIN transactions t ON t.store_id = v.store_id AND t.transaction_id = v.transaction_id
WHERE v.scope = 'post' AND t.tendered > 0
