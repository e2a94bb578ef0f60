-- refund_void_anomalies: the reference definition over the raw event tables (docs/views.md).
-- Uses the tables of shared.sql (till_measures) and rule_breaks. One row per (store, cashier, business day) with a
-- sale that counts, a void, a refund or a rule break; 7-day figures cover that day and the 6 before.
-- Peers: the district's cashiers that day with 30 or more transactions over their 7 days.
-- Expected rate p = GREATEST(median, the peers' pooled rate); n = the cashier's 7-day transactions.
-- z = (rate - median) / GREATEST(1.4826 * MAD, SQRT(GREATEST(p, 1/n) / n)); for count rates also
-- count_z = 2 * (SQRT(events) - SQRT(n * p)). Flagged: n >= 30, z >= 3.5 and (count rates) count_z >= 3.5.
WITH measures AS (
    SELECT store_id, cashier_id, business_date, transactions, line_voids, post_voids, refunds,
           no_receipt_refunds, refund_amount, discount_amount, manual_discount_amount, gross_sales,
           0 AS rule_breaks
    FROM till_measures
    UNION ALL
    SELECT store_id, cashier_id, business_date, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 FROM rule_breaks
),
daily AS (
    SELECT store_id, cashier_id, business_date,
           SUM(transactions) AS transactions,
           SUM(line_voids) AS line_voids,
           SUM(post_voids) AS post_voids,
           SUM(refunds) AS refunds,
           SUM(no_receipt_refunds) AS no_receipt_refunds,
           SUM(refund_amount) AS refund_amount,
           SUM(discount_amount) AS discount_amount,
           SUM(manual_discount_amount) AS manual_discount_amount,
           SUM(gross_sales) AS gross_sales,
           SUM(rule_breaks) AS rule_breaks
    FROM measures GROUP BY store_id, cashier_id, business_date
),
weekly AS (
    SELECT d.store_id, d.cashier_id, d.business_date, s.district,
           MAX(d.transactions) AS transactions,
           MAX(d.line_voids) AS line_voids,
           MAX(d.post_voids) AS post_voids,
           MAX(d.refunds) AS refunds,
           MAX(d.no_receipt_refunds) AS no_receipt_refunds,
           MAX(d.refund_amount) AS refund_amount,
           MAX(d.discount_amount) AS discount_amount,
           MAX(d.manual_discount_amount) AS manual_discount_amount,
           MAX(d.gross_sales) AS gross_sales,
           MAX(d.rule_breaks) AS rule_breaks,
           SUM(w.transactions) AS transactions_7d,
           SUM(w.line_voids) AS line_voids_7d,
           SUM(w.post_voids) AS post_voids_7d,
           SUM(w.refunds) AS refunds_7d,
           SUM(w.no_receipt_refunds) AS no_receipt_refunds_7d,
           SUM(w.refund_amount) AS refund_amount_7d,
           SUM(w.discount_amount) AS discount_amount_7d,
           SUM(w.manual_discount_amount) AS manual_discount_amount_7d,
           SUM(w.gross_sales) AS gross_sales_7d,
           SUM(w.rule_breaks) AS rule_breaks_7d
    FROM daily d
    JOIN daily w ON w.store_id = d.store_id AND w.cashier_id = d.cashier_id
        AND w.business_date <= d.business_date AND w.business_date > d.business_date - INTERVAL '7 days'
    JOIN current_stores s ON s.store_id = d.store_id
    GROUP BY d.store_id, d.cashier_id, d.business_date, s.district
),
rated AS (
    SELECT w.*,
           CAST(line_voids_7d AS DOUBLE) / NULLIF(CAST(transactions_7d AS DOUBLE), 0) AS line_void_rate,
           CAST(post_voids_7d AS DOUBLE) / NULLIF(CAST(transactions_7d AS DOUBLE), 0) AS post_void_rate,
           CAST(refunds_7d AS DOUBLE) / NULLIF(CAST(transactions_7d AS DOUBLE), 0) AS refund_rate,
           CAST(no_receipt_refunds_7d AS DOUBLE) / NULLIF(CAST(transactions_7d AS DOUBLE), 0) AS no_receipt_refund_rate,
           CAST(CAST(manual_discount_amount_7d * 100 AS BIGINT) AS DOUBLE) / NULLIF(CAST(CAST(gross_sales_7d * 100 AS BIGINT) AS DOUBLE), 0) AS manual_discount_rate
    FROM weekly w
),
medians AS (
    SELECT district, business_date,
           median(CASE WHEN transactions_7d >= 30 THEN line_void_rate END) AS line_void_rate_median,
           CAST(SUM(CASE WHEN transactions_7d >= 30 THEN line_voids_7d END) AS DOUBLE)
               / NULLIF(CAST(SUM(CASE WHEN transactions_7d >= 30 THEN transactions_7d END) AS DOUBLE), 0) AS line_void_rate_district,
           median(CASE WHEN transactions_7d >= 30 THEN post_void_rate END) AS post_void_rate_median,
           CAST(SUM(CASE WHEN transactions_7d >= 30 THEN post_voids_7d END) AS DOUBLE)
               / NULLIF(CAST(SUM(CASE WHEN transactions_7d >= 30 THEN transactions_7d END) AS DOUBLE), 0) AS post_void_rate_district,
           median(CASE WHEN transactions_7d >= 30 THEN refund_rate END) AS refund_rate_median,
           CAST(SUM(CASE WHEN transactions_7d >= 30 THEN refunds_7d END) AS DOUBLE)
               / NULLIF(CAST(SUM(CASE WHEN transactions_7d >= 30 THEN transactions_7d END) AS DOUBLE), 0) AS refund_rate_district,
           median(CASE WHEN transactions_7d >= 30 THEN no_receipt_refund_rate END) AS no_receipt_refund_rate_median,
           CAST(SUM(CASE WHEN transactions_7d >= 30 THEN no_receipt_refunds_7d END) AS DOUBLE)
               / NULLIF(CAST(SUM(CASE WHEN transactions_7d >= 30 THEN transactions_7d END) AS DOUBLE), 0) AS no_receipt_refund_rate_district,
           median(CASE WHEN transactions_7d >= 30 THEN manual_discount_rate END) AS manual_discount_rate_median,
           CAST(SUM(CASE WHEN transactions_7d >= 30 THEN CAST(manual_discount_amount_7d * 100 AS BIGINT) END) AS DOUBLE)
               / NULLIF(CAST(SUM(CASE WHEN transactions_7d >= 30 THEN CAST(gross_sales_7d * 100 AS BIGINT) END) AS DOUBLE), 0) AS manual_discount_rate_district
    FROM rated GROUP BY district, business_date
),
mads AS (
    SELECT r.district, r.business_date,
           median(CASE WHEN r.transactions_7d >= 30 THEN abs(r.line_void_rate - m.line_void_rate_median) END) AS line_void_rate_mad,
           median(CASE WHEN r.transactions_7d >= 30 THEN abs(r.post_void_rate - m.post_void_rate_median) END) AS post_void_rate_mad,
           median(CASE WHEN r.transactions_7d >= 30 THEN abs(r.refund_rate - m.refund_rate_median) END) AS refund_rate_mad,
           median(CASE WHEN r.transactions_7d >= 30 THEN abs(r.no_receipt_refund_rate - m.no_receipt_refund_rate_median) END) AS no_receipt_refund_rate_mad,
           median(CASE WHEN r.transactions_7d >= 30 THEN abs(r.manual_discount_rate - m.manual_discount_rate_median) END) AS manual_discount_rate_mad
    FROM rated r JOIN medians m ON m.district = r.district AND m.business_date = r.business_date
    GROUP BY r.district, r.business_date
),
spread AS (
    SELECT r.*,
           m.line_void_rate_median, d.line_void_rate_mad, m.line_void_rate_district,
           m.post_void_rate_median, d.post_void_rate_mad, m.post_void_rate_district,
           m.refund_rate_median, d.refund_rate_mad, m.refund_rate_district,
           m.no_receipt_refund_rate_median, d.no_receipt_refund_rate_mad, m.no_receipt_refund_rate_district,
           m.manual_discount_rate_median, d.manual_discount_rate_mad, m.manual_discount_rate_district
    FROM rated r
    JOIN medians m ON m.district = r.district AND m.business_date = r.business_date
    JOIN mads d ON d.district = r.district AND d.business_date = r.business_date
),
scored AS (
    SELECT s.*,
           (line_void_rate - line_void_rate_median) / GREATEST(1.4826 * line_void_rate_mad, SQRT(GREATEST(GREATEST(line_void_rate_median, line_void_rate_district), 1.0 / transactions_7d) / transactions_7d)) AS line_void_rate_z,
           2.0 * (SQRT(CAST(line_voids_7d AS DOUBLE)) - SQRT(CAST(transactions_7d AS DOUBLE) * GREATEST(line_void_rate_median, line_void_rate_district))) AS line_void_rate_count_z,
           (post_void_rate - post_void_rate_median) / GREATEST(1.4826 * post_void_rate_mad, SQRT(GREATEST(GREATEST(post_void_rate_median, post_void_rate_district), 1.0 / transactions_7d) / transactions_7d)) AS post_void_rate_z,
           2.0 * (SQRT(CAST(post_voids_7d AS DOUBLE)) - SQRT(CAST(transactions_7d AS DOUBLE) * GREATEST(post_void_rate_median, post_void_rate_district))) AS post_void_rate_count_z,
           (refund_rate - refund_rate_median) / GREATEST(1.4826 * refund_rate_mad, SQRT(GREATEST(GREATEST(refund_rate_median, refund_rate_district), 1.0 / transactions_7d) / transactions_7d)) AS refund_rate_z,
           2.0 * (SQRT(CAST(refunds_7d AS DOUBLE)) - SQRT(CAST(transactions_7d AS DOUBLE) * GREATEST(refund_rate_median, refund_rate_district))) AS refund_rate_count_z,
           (no_receipt_refund_rate - no_receipt_refund_rate_median) / GREATEST(1.4826 * no_receipt_refund_rate_mad, SQRT(GREATEST(GREATEST(no_receipt_refund_rate_median, no_receipt_refund_rate_district), 1.0 / transactions_7d) / transactions_7d)) AS no_receipt_refund_rate_z,
           2.0 * (SQRT(CAST(no_receipt_refunds_7d AS DOUBLE)) - SQRT(CAST(transactions_7d AS DOUBLE) * GREATEST(no_receipt_refund_rate_median, no_receipt_refund_rate_district))) AS no_receipt_refund_rate_count_z,
           (manual_discount_rate - manual_discount_rate_median) / GREATEST(1.4826 * manual_discount_rate_mad, SQRT(GREATEST(GREATEST(manual_discount_rate_median, manual_discount_rate_district), 1.0 / transactions_7d) / transactions_7d)) AS manual_discount_rate_z
    FROM spread s
),
flagged AS (
    SELECT s.*, CONCAT_WS(',',
           CASE WHEN transactions_7d >= 30 AND line_void_rate_z >= 3.5 AND line_void_rate_count_z >= 3.5 THEN 'line_void_rate' END,
           CASE WHEN transactions_7d >= 30 AND post_void_rate_z >= 3.5 AND post_void_rate_count_z >= 3.5 THEN 'post_void_rate' END,
           CASE WHEN transactions_7d >= 30 AND refund_rate_z >= 3.5 AND refund_rate_count_z >= 3.5 THEN 'refund_rate' END,
           CASE WHEN transactions_7d >= 30 AND no_receipt_refund_rate_z >= 3.5 AND no_receipt_refund_rate_count_z >= 3.5 THEN 'no_receipt_refund_rate' END,
           CASE WHEN transactions_7d >= 30 AND manual_discount_rate_z >= 3.5 THEN 'manual_discount_rate' END
       ) AS flags
    FROM scored s
)
SELECT store_id, cashier_id, business_date, district,
       transactions,
       line_voids,
       post_voids,
       refunds,
       no_receipt_refunds,
       refund_amount,
       discount_amount,
       manual_discount_amount,
       gross_sales,
       rule_breaks,
       transactions_7d,
       line_voids_7d,
       post_voids_7d,
       refunds_7d,
       no_receipt_refunds_7d,
       refund_amount_7d,
       discount_amount_7d,
       manual_discount_amount_7d,
       gross_sales_7d,
       rule_breaks_7d,
       line_void_rate,
       line_void_rate_median,
       line_void_rate_mad,
       line_void_rate_district,
       line_void_rate_z,
       post_void_rate,
       post_void_rate_median,
       post_void_rate_mad,
       post_void_rate_district,
       post_void_rate_z,
       refund_rate,
       refund_rate_median,
       refund_rate_mad,
       refund_rate_district,
       refund_rate_z,
       no_receipt_refund_rate,
       no_receipt_refund_rate_median,
       no_receipt_refund_rate_mad,
       no_receipt_refund_rate_district,
       no_receipt_refund_rate_z,
       manual_discount_rate,
       manual_discount_rate_median,
       manual_discount_rate_mad,
       manual_discount_rate_district,
       manual_discount_rate_z,
       flags <> '' AS flagged,
       flags
FROM flagged
