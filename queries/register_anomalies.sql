-- register_anomalies: the reference definition over the raw event tables (docs/views.md).
-- Uses the tables of shared.sql (till_measures). One row per (store, register, business day) with a sale that
-- counts, a void or a refund; 7-day figures cover that day and the 6 before. The other registers:
-- the whole store over the same 7 days less the register itself.
-- Expected rate p = (the other registers' events + 1) / their transactions; n = the register's
-- 7-day transactions; z = 2 * (SQRT(events) - SQRT(n * p)).
-- Flagged: n >= 30, the others' transactions >= 30, z >= 4.5 and rate >= 2 * p.
WITH daily AS (
    SELECT store_id, register_id, business_date,
           SUM(transactions) AS transactions,
           SUM(line_voids) AS line_voids,
           SUM(post_voids) AS post_voids,
           SUM(refunds) AS refunds,
           SUM(no_receipt_refunds) AS no_receipt_refunds,
           SUM(refund_amount) AS refund_amount,
           SUM(gross_sales) AS gross_sales
    FROM till_measures GROUP BY store_id, register_id, business_date
),
weekly AS (
    SELECT d.store_id, d.register_id, d.business_date,
           MAX(d.transactions) AS transactions,
           MAX(d.line_voids) AS line_voids,
           MAX(d.post_voids) AS post_voids,
           MAX(d.refunds) AS refunds,
           MAX(d.no_receipt_refunds) AS no_receipt_refunds,
           MAX(d.refund_amount) AS refund_amount,
           MAX(d.gross_sales) AS gross_sales,
           SUM(w.transactions) AS transactions_7d,
           SUM(w.line_voids) AS line_voids_7d,
           SUM(w.post_voids) AS post_voids_7d,
           SUM(w.refunds) AS refunds_7d,
           SUM(w.no_receipt_refunds) AS no_receipt_refunds_7d,
           SUM(w.refund_amount) AS refund_amount_7d,
           SUM(w.gross_sales) AS gross_sales_7d
    FROM daily d
    JOIN daily w ON w.store_id = d.store_id AND w.register_id = d.register_id
        AND w.business_date <= d.business_date AND w.business_date > d.business_date - INTERVAL '7 days'
    GROUP BY d.store_id, d.register_id, d.business_date
),
store_weeks AS (
    SELECT d.store_id, d.business_date,
           SUM(w.transactions) AS transactions,
           SUM(w.line_voids) AS line_voids,
           SUM(w.post_voids) AS post_voids,
           SUM(w.refunds) AS refunds,
           SUM(w.no_receipt_refunds) AS no_receipt_refunds
    FROM (SELECT DISTINCT store_id, business_date FROM daily) d
    JOIN daily w ON w.store_id = d.store_id
        AND w.business_date <= d.business_date AND w.business_date > d.business_date - INTERVAL '7 days'
    GROUP BY d.store_id, d.business_date
),
cashiers AS (
    SELECT d.store_id, d.register_id, d.business_date, COUNT(DISTINCT m.cashier_id) AS cashiers_7d
    FROM daily d
    JOIN till_measures m ON m.store_id = d.store_id AND m.register_id = d.register_id
        AND m.business_date <= d.business_date AND m.business_date > d.business_date - INTERVAL '7 days'
    GROUP BY d.store_id, d.register_id, d.business_date
),
others AS (
    SELECT w.*, c.cashiers_7d, s.district,
           t.transactions - w.transactions_7d AS others_transactions,
           t.line_voids - w.line_voids_7d AS others_line_voids,
           t.post_voids - w.post_voids_7d AS others_post_voids,
           t.refunds - w.refunds_7d AS others_refunds,
           t.no_receipt_refunds - w.no_receipt_refunds_7d AS others_no_receipt_refunds
    FROM weekly w
    JOIN store_weeks t ON t.store_id = w.store_id AND t.business_date = w.business_date
    JOIN cashiers c ON c.store_id = w.store_id AND c.register_id = w.register_id AND c.business_date = w.business_date
    JOIN current_stores s ON s.store_id = w.store_id
),
rated AS (
    SELECT o.*,
           CAST(line_voids_7d AS DOUBLE) / NULLIF(CAST(transactions_7d AS DOUBLE), 0) AS line_void_rate,
           CAST(others_line_voids AS DOUBLE) / NULLIF(CAST(others_transactions AS DOUBLE), 0) AS line_void_rate_others,
           CAST(post_voids_7d AS DOUBLE) / NULLIF(CAST(transactions_7d AS DOUBLE), 0) AS post_void_rate,
           CAST(others_post_voids AS DOUBLE) / NULLIF(CAST(others_transactions AS DOUBLE), 0) AS post_void_rate_others,
           CAST(refunds_7d AS DOUBLE) / NULLIF(CAST(transactions_7d AS DOUBLE), 0) AS refund_rate,
           CAST(others_refunds AS DOUBLE) / NULLIF(CAST(others_transactions AS DOUBLE), 0) AS refund_rate_others,
           CAST(no_receipt_refunds_7d AS DOUBLE) / NULLIF(CAST(transactions_7d AS DOUBLE), 0) AS no_receipt_refund_rate,
           CAST(others_no_receipt_refunds AS DOUBLE) / NULLIF(CAST(others_transactions AS DOUBLE), 0) AS no_receipt_refund_rate_others
    FROM others o
),
expected AS (
    SELECT r.*,
           CAST(others_line_voids + 1 AS DOUBLE) / NULLIF(CAST(others_transactions AS DOUBLE), 0) AS line_void_p,
           CAST(others_post_voids + 1 AS DOUBLE) / NULLIF(CAST(others_transactions AS DOUBLE), 0) AS post_void_p,
           CAST(others_refunds + 1 AS DOUBLE) / NULLIF(CAST(others_transactions AS DOUBLE), 0) AS refund_p,
           CAST(others_no_receipt_refunds + 1 AS DOUBLE) / NULLIF(CAST(others_transactions AS DOUBLE), 0) AS no_receipt_refund_p
    FROM rated r
),
scored AS (
    SELECT e.*,
           CASE WHEN transactions_7d > 0 THEN 2.0 * (SQRT(CAST(line_voids_7d AS DOUBLE)) - SQRT(CAST(transactions_7d AS DOUBLE) * line_void_p)) END AS line_void_rate_z,
           CASE WHEN transactions_7d > 0 THEN 2.0 * (SQRT(CAST(post_voids_7d AS DOUBLE)) - SQRT(CAST(transactions_7d AS DOUBLE) * post_void_p)) END AS post_void_rate_z,
           CASE WHEN transactions_7d > 0 THEN 2.0 * (SQRT(CAST(refunds_7d AS DOUBLE)) - SQRT(CAST(transactions_7d AS DOUBLE) * refund_p)) END AS refund_rate_z,
           CASE WHEN transactions_7d > 0 THEN 2.0 * (SQRT(CAST(no_receipt_refunds_7d AS DOUBLE)) - SQRT(CAST(transactions_7d AS DOUBLE) * no_receipt_refund_p)) END AS no_receipt_refund_rate_z
    FROM expected e
),
flagged AS (
    SELECT s.*, CONCAT_WS(',',
           CASE WHEN transactions_7d >= 30 AND others_transactions >= 30 AND line_void_rate_z >= 4.5 AND line_void_rate >= 2.0 * line_void_p THEN 'line_void_rate' END,
           CASE WHEN transactions_7d >= 30 AND others_transactions >= 30 AND post_void_rate_z >= 4.5 AND post_void_rate >= 2.0 * post_void_p THEN 'post_void_rate' END,
           CASE WHEN transactions_7d >= 30 AND others_transactions >= 30 AND refund_rate_z >= 4.5 AND refund_rate >= 2.0 * refund_p THEN 'refund_rate' END,
           CASE WHEN transactions_7d >= 30 AND others_transactions >= 30 AND no_receipt_refund_rate_z >= 4.5 AND no_receipt_refund_rate >= 2.0 * no_receipt_refund_p THEN 'no_receipt_refund_rate' END
       ) AS flags
    FROM scored s
)
SELECT store_id, register_id, business_date, district,
       transactions,
       line_voids,
       post_voids,
       refunds,
       no_receipt_refunds,
       refund_amount,
       gross_sales,
       transactions_7d,
       line_voids_7d,
       post_voids_7d,
       refunds_7d,
       no_receipt_refunds_7d,
       refund_amount_7d,
       gross_sales_7d,
       cashiers_7d,
       others_transactions AS other_registers_transactions_7d,
       line_void_rate,
       line_void_rate_others,
       line_void_rate_z,
       post_void_rate,
       post_void_rate_others,
       post_void_rate_z,
       refund_rate,
       refund_rate_others,
       refund_rate_z,
       no_receipt_refund_rate,
       no_receipt_refund_rate_others,
       no_receipt_refund_rate_z,
       flags <> '' AS flagged,
       flags
FROM flagged
