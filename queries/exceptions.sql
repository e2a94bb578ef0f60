-- exceptions: the reference definition (docs/views.md), in plain SQL over the reference tables of
-- the views it reads (refund_void_anomalies, register_anomalies, rule_breaks, labor_demand, sku_margin,
-- inventory_position, store_daily, category_daily, promotion_performance, replenishment) and current_stores and watermark of shared.sql. It shares no code with the dataflow's
-- mapping (schemas/src/views/exceptions.rs): kinds, severities, subjects, amounts, evidence text
-- and ids are all written out again here.
--
-- How each kind arises:
--   excess_voids, excess_refunds, discount_abuse: a cashier-day whose `flags` list line/post-void,
--     refund/no-receipt refund, or manual discount rates; high when the worst z of those is >= 7
--     (twice the 3.5 threshold), else medium. The evidence has one part per flagged rate, in the
--     order of the rates, joined by '; '.
--   register_voids, register_refunds: a register-day whose `flags` list line/post-void, or refund/
--     no-receipt refund rates; high when the worst z of those is >= 9 (twice the registers' 4.5),
--     else medium; the evidence as above, against the store's other registers.
--   the five rule_breaks rules: subject = the refund, or the voided sale for post-voids.
--   understaffed_peak: a store-day with 3 or more understaffed hours (high with 6 or more); the
--     evidence has one part per such hour, by hour.
--   negative_margin: net sales > 0 and a negative margin; low when every unit was on promotion.
--   ghost_inventory (negative stock), else reorder: dated by inventory_position.as_of_date.
--   sales_below_forecast: a store-day before its store's watermark day, its forecast the mean of the
--     same weekday over two to four of the four weeks before (the days that have a row) with a
--     sum above zero, whose net sales are 55% or less of it; or 85% or less of it with a department
--     (its sum over those days at least 10% of the store's) selling 25% or less of its own mean over
--     the same days (a day it sold nothing counting zero). High at 50% or less. The evidence names
--     the three departments furthest under their own forecast.
--   promotion_loses_margin: a promotion at a store whose promotion_performance rows, summed (3 or
--     more, their baselines expecting 100 units or more), lift units under 20% and lose margin
--     against the baseline; subject = promo_id, dated by its first row's day; high when there is no
--     lift at all; amount = the incremental margin, rounded half away from zero to the cent.
--   slow_mover: a replenishment row flagged slow_mover, dated by its as_of_date; high with no sale in
--     the 28 days, else low; amount = the stock value.
--
-- Text is built the way Rust's formatting writes it:
--   * money: sign, whole units, '.', two digits of cents (from the exact cents);
--   * `{:.1}` of a DOUBLE: the exact binary value rounded to one decimal, ties to even. The
--     `tenths` steps below do this exactly with integers: |v| = whole + fraction (both exact),
--     fraction * 2^57 is an integer whenever it can matter (|v| >= 1/32), and 10 * that splits
--     into the tenths digit (÷ 2^57) and a remainder compared with half (2^56);
--   * exception_id: `{:016x}` of the 64-bit FNV-1a hash of 'kind|store_id|subject|D', D the
--     business day as days since 1970-01-01. The recursive `fnv` steps fold the key's UTF-8 bytes
--     one at a time, the hash held as two 32-bit halves (hi, lo) so that nothing overflows:
--     h xor b touches lo only (x = lo + b - 2 (lo & b)), and h * (2^40 + 435) mod 2^64 is
--     lo' = x * 435 mod 2^32, hi' = (hi * 435 + x * 2^8 + (x * 435) div 2^32) mod 2^32.
WITH RECURSIVE
-- One row per flagged rate of a cashier-day, with the exception kind it belongs to.
anomaly_rates AS (
    SELECT store_id, cashier_id, business_date, district, transactions_7d,
           'excess_voids' AS kind, CAST(NULL AS DECIMAL(18, 2)) AS amount,
           0 AS i, 'line_void_rate' AS rate,
           line_void_rate AS rate_value, line_void_rate_median AS median, line_void_rate_z AS z
    FROM refund_void_anomalies WHERE strpos(concat(',', flags, ','), ',line_void_rate,') > 0
    UNION ALL
    SELECT store_id, cashier_id, business_date, district, transactions_7d,
           'excess_voids', CAST(NULL AS DECIMAL(18, 2)),
           1, 'post_void_rate', post_void_rate, post_void_rate_median, post_void_rate_z
    FROM refund_void_anomalies WHERE strpos(concat(',', flags, ','), ',post_void_rate,') > 0
    UNION ALL
    SELECT store_id, cashier_id, business_date, district, transactions_7d,
           'excess_refunds', CAST(refund_amount_7d AS DECIMAL(18, 2)),
           2, 'refund_rate', refund_rate, refund_rate_median, refund_rate_z
    FROM refund_void_anomalies WHERE strpos(concat(',', flags, ','), ',refund_rate,') > 0
    UNION ALL
    SELECT store_id, cashier_id, business_date, district, transactions_7d,
           'excess_refunds', CAST(refund_amount_7d AS DECIMAL(18, 2)),
           3, 'no_receipt_refund_rate', no_receipt_refund_rate, no_receipt_refund_rate_median, no_receipt_refund_rate_z
    FROM refund_void_anomalies WHERE strpos(concat(',', flags, ','), ',no_receipt_refund_rate,') > 0
    UNION ALL
    SELECT store_id, cashier_id, business_date, district, transactions_7d,
           'discount_abuse', CAST(manual_discount_amount_7d AS DECIMAL(18, 2)),
           4, 'manual_discount_rate', manual_discount_rate, manual_discount_rate_median, manual_discount_rate_z
    FROM refund_void_anomalies WHERE strpos(concat(',', flags, ','), ',manual_discount_rate,') > 0
),
-- One row per flagged rate of a register-day, with the exception kind it belongs to.
register_rates AS (
    SELECT store_id, register_id, business_date, district, transactions_7d, cashiers_7d,
           'register_voids' AS kind, CAST(NULL AS DECIMAL(18, 2)) AS amount,
           0 AS i, 'line_void_rate' AS rate,
           line_void_rate AS rate_value, line_void_rate_others AS others, line_void_rate_z AS z
    FROM register_anomalies WHERE strpos(concat(',', flags, ','), ',line_void_rate,') > 0
    UNION ALL
    SELECT store_id, register_id, business_date, district, transactions_7d, cashiers_7d,
           'register_voids', CAST(NULL AS DECIMAL(18, 2)),
           1, 'post_void_rate', post_void_rate, post_void_rate_others, post_void_rate_z
    FROM register_anomalies WHERE strpos(concat(',', flags, ','), ',post_void_rate,') > 0
    UNION ALL
    SELECT store_id, register_id, business_date, district, transactions_7d, cashiers_7d,
           'register_refunds', CAST(refund_amount_7d AS DECIMAL(18, 2)),
           2, 'refund_rate', refund_rate, refund_rate_others, refund_rate_z
    FROM register_anomalies WHERE strpos(concat(',', flags, ','), ',refund_rate,') > 0
    UNION ALL
    SELECT store_id, register_id, business_date, district, transactions_7d, cashiers_7d,
           'register_refunds', CAST(refund_amount_7d AS DECIMAL(18, 2)),
           3, 'no_receipt_refund_rate', no_receipt_refund_rate, no_receipt_refund_rate_others, no_receipt_refund_rate_z
    FROM register_anomalies WHERE strpos(concat(',', flags, ','), ',no_receipt_refund_rate,') > 0
),
-- Understaffed hours.
short_hours AS (
    SELECT store_id, business_date, hour, transactions, staff_on_clock, required_staff
    FROM labor_demand WHERE status = 'understaffed'
),
-- Inventory rows that raise an exception, of stores with a record.
stock AS (
    SELECT p.store_id, p.sku, p.on_hand, p.units_sold_14d, p.days_of_cover, p.negative_stock, p.as_of_date, s.district
    FROM inventory_position p
    JOIN current_stores s ON s.store_id = p.store_id
    WHERE p.as_of_date IS NOT NULL AND (p.negative_stock OR p.reorder)
),
-- SKU-days sold below cost, with their money in exact cents.
margins AS (
    SELECT m.store_id, m.sku, m.business_date, m.units_sold, m.promo_units, m.gross_margin, s.district,
           CAST(m.net_sales * 100 AS BIGINT) AS net_cents, CAST(m.cogs * 100 AS BIGINT) AS cogs_cents
    FROM sku_margin m
    JOIN current_stores s ON s.store_id = m.store_id
    WHERE m.gross_margin < 0 AND m.net_sales > 0
),
-- Each promotion at each store, summed in exact cents (a baseline figure is a twelfth of an
-- integer: times 12, or 1200 for money, an integer again).
promo_stores AS (
    SELECT p.promo_id, p.store_id, s.district, MIN(p.business_date) AS first_day, COUNT(*) AS days,
           SUM(p.promo_units) AS pu, SUM(CAST(p.discount * 100 AS BIGINT)) AS disc,
           SUM(CAST(p.margin * 100 AS BIGINT)) AS margin, SUM(CAST(ROUND(p.baseline_units * 12) AS BIGINT)) AS bu,
           SUM(CAST(ROUND(p.baseline_margin * 1200) AS BIGINT)) AS bm, SUM(CAST(p.margin_erosion * 100 AS BIGINT)) AS erosion
    FROM promotion_performance p
    JOIN current_stores s ON s.store_id = p.store_id
    GROUP BY p.promo_id, p.store_id, s.district
),
promo_losing AS (
    SELECT promo_id, store_id, district, first_day, days, pu, disc, bu, erosion, 12 * margin - bm AS incr12
    FROM promo_stores
    WHERE days >= 3 AND bu >= 1200 AND 100 * (12 * pu - bu) < 20 * bu AND 12 * margin - bm < 0
),
-- Every DOUBLE the evidence prints with one decimal, keyed by where it goes: (src, store_id,
-- subject, business_date, i) and its slot in that part of the evidence.
numbers AS (
    SELECT 'anomaly' AS src, store_id, cashier_id AS subject, business_date, i, 1 AS slot, 100.0 * rate_value AS v
    FROM anomaly_rates
    UNION ALL
    SELECT 'anomaly', store_id, cashier_id, business_date, i, 2, 100.0 * median FROM anomaly_rates
    UNION ALL
    SELECT 'anomaly', store_id, cashier_id, business_date, i, 3, COALESCE(z, 0.0) FROM anomaly_rates
    UNION ALL
    SELECT 'register', store_id, register_id, business_date, i, 1, 100.0 * rate_value FROM register_rates
    UNION ALL
    SELECT 'register', store_id, register_id, business_date, i, 2, 100.0 * others FROM register_rates
    UNION ALL
    SELECT 'register', store_id, register_id, business_date, i, 3, COALESCE(z, 0.0) FROM register_rates
    UNION ALL
    SELECT 'staffing', store_id, store_id AS subject, business_date, hour, 1, staff_on_clock FROM short_hours
    UNION ALL
    SELECT 'staffing', store_id, store_id AS subject, business_date, hour, 2, required_staff FROM short_hours
    UNION ALL
    SELECT 'reorder', store_id, sku, as_of_date, 0, 1, days_of_cover FROM stock WHERE NOT negative_stock
    UNION ALL
    SELECT 'promotion', store_id, promo_id, first_day, 0, 1, CAST(bu AS DOUBLE) / 12.0 FROM promo_losing
),
-- `{:.1}`, step 1: |v| split exactly into its whole part and its fraction.
tenths AS (
    SELECT src, store_id, subject, business_date, i, slot, v < 0 AS negative,
           floor(abs(v)) AS whole, abs(v) - floor(abs(v)) AS fraction
    FROM numbers WHERE v IS NOT NULL
),
-- Step 2: 10 × fraction in units of 2^-57 (an exact integer whenever fraction >= 1/32; below
-- that the digit is 0 either way).
tenths_scaled AS (
    SELECT src, store_id, subject, business_date, i, slot, negative, CAST(whole AS BIGINT) AS whole,
           10 * CAST(fraction * CAST(144115188075855872 AS DOUBLE) AS BIGINT) AS scaled
    FROM tenths
),
-- Step 3: the tenths digit, rounded half to even (it may reach 10: a carry into the whole part).
tenths_rounded AS (
    SELECT src, store_id, subject, business_date, i, slot, negative, whole,
           scaled / 144115188075855872
               + CASE WHEN scaled % 144115188075855872 > 72057594037927936
                        OR (scaled % 144115188075855872 = 72057594037927936
                            AND (scaled / 144115188075855872) % 2 = 1)
                      THEN 1 ELSE 0 END AS digit
    FROM tenths_scaled
),
-- Step 4: the text, back in one row per evidence part (t1, t2, t3 by slot).
formatted AS (
    SELECT src, store_id, subject, business_date, i,
           MAX(CASE WHEN slot = 1 THEN txt END) AS t1,
           MAX(CASE WHEN slot = 2 THEN txt END) AS t2,
           MAX(CASE WHEN slot = 3 THEN txt END) AS t3
    FROM (
        SELECT src, store_id, subject, business_date, i, slot,
               concat(CASE WHEN negative THEN '-' ELSE '' END, CAST(whole + digit / 10 AS VARCHAR), '.',
                      CAST(digit % 10 AS VARCHAR)) AS txt
        FROM tenths_rounded) x
    GROUP BY src, store_id, subject, business_date, i
),
-- One evidence part per flagged rate:
-- '<rate> <rate %> over 7 days (<n> transactions), district median <median %>, z <z>'.
anomaly_parts AS (
    SELECT r.kind, r.district, r.store_id, r.cashier_id, r.business_date, r.amount, r.i, r.z,
           concat(r.rate, ' ', CASE WHEN f.t1 IS NULL THEN '-' ELSE concat(f.t1, '%') END,
                  ' over 7 days (', CAST(r.transactions_7d AS VARCHAR), ' transactions), district median ',
                  CASE WHEN f.t2 IS NULL THEN '-' ELSE concat(f.t2, '%') END,
                  ', z ', f.t3) AS evidence_part
    FROM anomaly_rates r
    LEFT JOIN formatted f ON f.src = 'anomaly' AND f.store_id = r.store_id AND f.subject = r.cashier_id
        AND f.business_date = r.business_date AND f.i = r.i
),
-- One evidence part per flagged rate of a register: '<rate> <rate %> over 7 days (<n> transactions,
-- <c> cashiers), other registers <others %>, z <z>'.
register_parts AS (
    SELECT r.kind, r.district, r.store_id, r.register_id, r.business_date, r.amount, r.i, r.z,
           concat(r.rate, ' ', CASE WHEN f.t1 IS NULL THEN '-' ELSE concat(f.t1, '%') END,
                  ' over 7 days (', CAST(r.transactions_7d AS VARCHAR), ' transactions, ',
                  CAST(r.cashiers_7d AS VARCHAR), ' cashiers), other registers ',
                  CASE WHEN f.t2 IS NULL THEN '-' ELSE concat(f.t2, '%') END,
                  ', z ', f.t3) AS evidence_part
    FROM register_rates r
    LEFT JOIN formatted f ON f.src = 'register' AND f.store_id = r.store_id AND f.subject = r.register_id
        AND f.business_date = r.business_date AND f.i = r.i
),
-- Store-days with 3 or more understaffed hours; one evidence part per hour, by hour:
-- 'HH:00 <n> transactions, <staff> staff on clock, <required> required'.
staffing AS (
    SELECT h.store_id, h.business_date, COUNT(*) AS short_count,
           CAST(string_agg(
               concat(lpad(CAST(h.hour AS VARCHAR), 2, '0'), ':00 ', CAST(h.transactions AS VARCHAR),
                      ' transactions, ', f.t1, ' staff on clock, ', f.t2, ' required'),
               '; ' ORDER BY h.hour) AS VARCHAR) AS evidence
    FROM short_hours h
    LEFT JOIN formatted f ON f.src = 'staffing' AND f.store_id = h.store_id AND f.subject = h.store_id
        AND f.business_date = h.business_date AND f.i = h.hour
    GROUP BY h.store_id, h.business_date
    HAVING COUNT(*) >= 3
),
-- Net sales in exact cents, by store-day and by department-day.
day_nets AS (
    SELECT store_id, business_date, CAST(net_sales * 100 AS BIGINT) AS net_cents FROM store_daily
),
department_nets AS (
    SELECT store_id, COALESCE(department, '(no product record)') AS name, business_date,
           SUM(CAST(net_sales * 100 AS BIGINT)) AS net_cents
    FROM category_daily
    GROUP BY store_id, COALESCE(department, '(no product record)'), business_date
),
-- Ended store-days 15% or more under a forecast of two weeks or more: net, forecast sum, weeks.
under_forecast AS (
    SELECT d.store_id, s.district, d.business_date, d.net_cents, SUM(b.net_cents) AS sum_cents, COUNT(*) AS weeks
    FROM day_nets d
    JOIN current_stores s ON s.store_id = d.store_id
    CROSS JOIN watermark w
    JOIN day_nets b ON b.store_id = d.store_id
        AND b.business_date IN (d.business_date - INTERVAL '7' DAY, d.business_date - INTERVAL '14' DAY,
                                d.business_date - INTERVAL '21' DAY, d.business_date - INTERVAL '28' DAY)
    WHERE w.at IS NOT NULL AND d.business_date < business_date(w.at, s.timezone)
    GROUP BY d.store_id, s.district, d.business_date, d.net_cents
    HAVING COUNT(*) >= 2 AND SUM(b.net_cents) > 0 AND 100 * d.net_cents * COUNT(*) <= 85 * SUM(b.net_cents)
),
-- Each department of those store-days: its net that day and its sum over the forecast's days.
department_parts AS (
    SELECT u.store_id, u.business_date, n.name, n.net_cents, CAST(0 AS BIGINT) AS before_cents
    FROM under_forecast u
    JOIN department_nets n ON n.store_id = u.store_id AND n.business_date = u.business_date
    UNION ALL
    SELECT u.store_id, u.business_date, n.name, CAST(0 AS BIGINT), n.net_cents
    FROM under_forecast u
    JOIN department_nets n ON n.store_id = u.store_id
        AND n.business_date IN (u.business_date - INTERVAL '7' DAY, u.business_date - INTERVAL '14' DAY,
                                u.business_date - INTERVAL '21' DAY, u.business_date - INTERVAL '28' DAY)
),
department_days AS (
    SELECT p.store_id, p.business_date, p.name, SUM(p.net_cents) AS net_cents, SUM(p.before_cents) AS before_cents,
           MIN(u.weeks) AS weeks, MIN(u.sum_cents) AS store_sum_cents
    FROM department_parts p
    JOIN under_forecast u ON u.store_id = p.store_id AND u.business_date = p.business_date
    GROUP BY p.store_id, p.business_date, p.name
),
-- Store-days a department explains: 10% or more of the forecast, selling 25% or less of its own.
explained AS (
    SELECT DISTINCT store_id, business_date
    FROM department_days
    WHERE 100 * before_cents >= 10 * store_sum_cents AND 100 * net_cents * weeks <= 25 * before_cents
),
-- The store-days raised (55% or less, or explained), their forecast's mean and shortfall in
-- cents, each rounded half away from zero.
under_cents AS (
    SELECT u.store_id, u.district, u.business_date, u.net_cents, u.sum_cents, u.weeks,
           (2 * u.sum_cents + u.weeks) / (2 * u.weeks) AS mean_cents,
           CASE WHEN u.net_cents * u.weeks - u.sum_cents < 0
                THEN -((2 * (u.sum_cents - u.net_cents * u.weeks) + u.weeks) / (2 * u.weeks))
                ELSE (2 * (u.net_cents * u.weeks - u.sum_cents) + u.weeks) / (2 * u.weeks) END AS short_cents
    FROM under_forecast u
    LEFT JOIN explained x ON x.store_id = u.store_id AND x.business_date = u.business_date
    WHERE 100 * u.net_cents * u.weeks <= 55 * u.sum_cents OR x.store_id IS NOT NULL
),
-- Each department under its own mean: the shortfall and the mean, rounded likewise.
department_short AS (
    SELECT store_id, business_date, name, net_cents,
           CASE WHEN net_cents * weeks - before_cents < 0
                THEN -((2 * (before_cents - net_cents * weeks) + weeks) / (2 * weeks))
                ELSE (2 * (net_cents * weeks - before_cents) + weeks) / (2 * weeks) END AS short_cents,
           CASE WHEN before_cents < 0
                THEN -((2 * (-before_cents) + weeks) / (2 * weeks))
                ELSE (2 * before_cents + weeks) / (2 * weeks) END AS mean_cents
    FROM department_days
),
-- The three furthest under, furthest first (then by name): '<department> <net> against <mean>'.
department_ranked AS (
    SELECT store_id, business_date, name, net_cents, mean_cents,
           ROW_NUMBER() OVER (PARTITION BY store_id, business_date ORDER BY short_cents, name) AS rn
    FROM department_short WHERE short_cents < 0
),
department_evidence AS (
    SELECT store_id, business_date,
           CAST(string_agg(concat(name, ' ',
                                  concat(CASE WHEN net_cents < 0 THEN '-' ELSE '' END, CAST(abs(net_cents) / 100 AS VARCHAR), '.', lpad(CAST(abs(net_cents) % 100 AS VARCHAR), 2, '0')),
                                  ' against ',
                                  concat(CASE WHEN mean_cents < 0 THEN '-' ELSE '' END, CAST(abs(mean_cents) / 100 AS VARCHAR), '.', lpad(CAST(abs(mean_cents) % 100 AS VARCHAR), 2, '0'))),
                           ', ' ORDER BY rn) AS VARCHAR) AS furthest
    FROM department_ranked WHERE rn <= 3
    GROUP BY store_id, business_date
),
raised AS (
    SELECT kind, district, store_id, cashier_id AS subject, business_date,
           CASE WHEN MAX(z) >= 7.0 THEN 'high' ELSE 'medium' END AS severity,
           MAX(amount) AS amount,
           CAST(string_agg(evidence_part, '; ' ORDER BY i) AS VARCHAR) AS evidence
    FROM anomaly_parts
    GROUP BY kind, district, store_id, cashier_id, business_date
    UNION ALL
    SELECT kind, district, store_id, register_id, business_date,
           CASE WHEN MAX(z) >= 9.0 THEN 'high' ELSE 'medium' END,
           MAX(amount),
           CAST(string_agg(evidence_part, '; ' ORDER BY i) AS VARCHAR)
    FROM register_parts
    GROUP BY kind, district, store_id, register_id, business_date
    UNION ALL
    SELECT b.rule, s.district, b.store_id, COALESCE(b.refund_id, b.transaction_id), b.business_date,
           CASE WHEN b.rule IN ('refund_without_sale', 'cash_refund_of_card_sale') THEN 'high'
                WHEN b.rule IN ('refund_above_original', 'refund_by_same_cashier') THEN 'medium'
                ELSE 'low' END,
           CAST(b.amount AS DECIMAL(18, 2)),
           CASE WHEN b.refund_id IS NOT NULL
                THEN concat('refund ', b.refund_id, ' by ', b.cashier_id, ' cites sale ', b.transaction_id)
                ELSE concat('sale ', b.transaction_id, ' voided by ', b.cashier_id, ' after tender') END
    FROM rule_breaks b
    JOIN current_stores s ON s.store_id = b.store_id
    UNION ALL
    SELECT 'understaffed_peak', s.district, d.store_id, d.store_id AS subject, d.business_date,
           CASE WHEN d.short_count >= 6 THEN 'high' ELSE 'medium' END,
           CAST(NULL AS DECIMAL(18, 2)),
           d.evidence
    FROM staffing d
    JOIN current_stores s ON s.store_id = d.store_id
    UNION ALL
    -- '<units> units, net sales <net>, cost <cogs>[, all on promotion]'
    SELECT 'negative_margin', district, store_id, sku, business_date,
           CASE WHEN promo_units >= units_sold THEN 'low' ELSE 'medium' END,
           CAST(gross_margin AS DECIMAL(18, 2)),
           concat(CAST(units_sold AS VARCHAR), ' units, net sales ',
                  CASE WHEN net_cents < 0 THEN '-' ELSE '' END, CAST(abs(net_cents) / 100 AS VARCHAR), '.',
                  lpad(CAST(abs(net_cents) % 100 AS VARCHAR), 2, '0'),
                  ', cost ',
                  CASE WHEN cogs_cents < 0 THEN '-' ELSE '' END, CAST(abs(cogs_cents) / 100 AS VARCHAR), '.',
                  lpad(CAST(abs(cogs_cents) % 100 AS VARCHAR), 2, '0'),
                  CASE WHEN promo_units >= units_sold THEN ', all on promotion' ELSE '' END)
    FROM margins
    UNION ALL
    -- 'net sales <net> against a forecast of <mean> (the same weekday, <n> weeks)[; furthest under: …]'
    SELECT 'sales_below_forecast', u.district, u.store_id, u.store_id AS subject, u.business_date,
           CASE WHEN 100 * u.net_cents * u.weeks <= 50 * u.sum_cents THEN 'high' ELSE 'medium' END,
           CAST(concat(CASE WHEN u.short_cents < 0 THEN '-' ELSE '' END, CAST(abs(u.short_cents) / 100 AS VARCHAR), '.', lpad(CAST(abs(u.short_cents) % 100 AS VARCHAR), 2, '0')) AS DECIMAL(18, 2)),
           concat('net sales ', concat(CASE WHEN u.net_cents < 0 THEN '-' ELSE '' END, CAST(abs(u.net_cents) / 100 AS VARCHAR), '.', lpad(CAST(abs(u.net_cents) % 100 AS VARCHAR), 2, '0')),
                  ' against a forecast of ', concat(CASE WHEN u.mean_cents < 0 THEN '-' ELSE '' END, CAST(abs(u.mean_cents) / 100 AS VARCHAR), '.', lpad(CAST(abs(u.mean_cents) % 100 AS VARCHAR), 2, '0')),
                  ' (the same weekday, ', CAST(u.weeks AS VARCHAR), ' weeks)',
                  CASE WHEN e.furthest IS NULL THEN '' ELSE concat('; furthest under: ', e.furthest) END)
    FROM under_cents u
    LEFT JOIN department_evidence e ON e.store_id = u.store_id AND e.business_date = u.business_date
    UNION ALL
    -- '<units> units on promotion where <baseline> were expected from the same weekdays of the four
    -- weeks before (<n> SKU-days); discount <d>, of which <e> on units that would have sold anyway'
    SELECT 'promotion_loses_margin', g.district, g.store_id, g.promo_id, g.first_day,
           CASE WHEN 12 * pu - bu <= 0 THEN 'high' ELSE 'medium' END,
           CAST(concat('-', CAST(((2 * (-incr12) + 12) / 24) / 100 AS VARCHAR), '.',
                       lpad(CAST(((2 * (-incr12) + 12) / 24) % 100 AS VARCHAR), 2, '0')) AS DECIMAL(18, 2)),
           concat(CAST(pu AS VARCHAR), ' units on promotion where ', f.t1,
                  ' were expected from the same weekdays of the four weeks before (', CAST(days AS VARCHAR), ' SKU-days); discount ',
                  concat(CASE WHEN disc < 0 THEN '-' ELSE '' END, CAST(abs(disc) / 100 AS VARCHAR), '.', lpad(CAST(abs(disc) % 100 AS VARCHAR), 2, '0')), ', of which ', concat(CASE WHEN erosion < 0 THEN '-' ELSE '' END, CAST(abs(erosion) / 100 AS VARCHAR), '.', lpad(CAST(abs(erosion) % 100 AS VARCHAR), 2, '0')),
                  ' on units that would have sold anyway')
    FROM promo_losing g
    LEFT JOIN formatted f ON f.src = 'promotion' AND f.store_id = g.store_id AND f.subject = g.promo_id
        AND f.business_date = g.first_day AND f.i = 0
    UNION ALL
    SELECT 'ghost_inventory', district, store_id, sku, as_of_date, 'high', CAST(NULL AS DECIMAL(18, 2)),
           concat('on hand ', CAST(on_hand AS VARCHAR), ' after the last count; ',
                  CAST(units_sold_14d AS VARCHAR), ' sold in 14 days')
    FROM stock
    WHERE negative_stock
    UNION ALL
    SELECT 'reorder', k.district, k.store_id, k.sku, k.as_of_date, 'low', CAST(NULL AS DECIMAL(18, 2)),
           concat('on hand ', CAST(k.on_hand AS VARCHAR), ', ',
                  CASE WHEN f.t1 IS NULL THEN 'no recent sales' ELSE concat(f.t1, ' days of cover') END)
    FROM stock k
    LEFT JOIN formatted f ON f.src = 'reorder' AND f.store_id = k.store_id AND f.subject = k.sku
        AND f.business_date = k.as_of_date AND f.i = 0
    WHERE NOT k.negative_stock
    UNION ALL
    -- '<on hand> on hand, no sale in <d> days traded', or
    -- '<on hand> on hand, <sold> sold in <d> days traded: <on hand × d div sold> days of cover'
    SELECT 'slow_mover', s.district, r.store_id, r.sku, r.as_of_date,
           CASE WHEN r.units_sold_28d <= 0 THEN 'high' ELSE 'low' END,
           CAST(r.stock_value AS DECIMAL(18, 2)),
           CASE WHEN r.units_sold_28d <= 0
                THEN concat(CAST(r.on_hand AS VARCHAR), ' on hand, no sale in ', CAST(r.days_traded AS VARCHAR),
                            ' days traded')
                ELSE concat(CAST(r.on_hand AS VARCHAR), ' on hand, ', CAST(r.units_sold_28d AS VARCHAR),
                            ' sold in ', CAST(r.days_traded AS VARCHAR), ' days traded: ',
                            CAST(r.on_hand * r.days_traded / r.units_sold_28d AS VARCHAR), ' days of cover') END
    FROM replenishment r
    JOIN current_stores s ON s.store_id = r.store_id
    WHERE r.slow_mover
),
-- The key the id hashes: 'kind|store_id|subject|days since 1970-01-01'.
keyed AS (
    SELECT r.*,
           arrow_cast(concat(r.kind, '|', r.store_id, '|', r.subject, '|',
                             CAST(CAST(r.business_date AS INT) AS VARCHAR)), 'Utf8') AS hash_key
    FROM raised r
),
-- FNV-1a over the key's bytes (hex_key holds them as hex), one byte per step.
fnv AS (
    SELECT hash_key, hex_key, CAST(length(hex_key) / 2 AS BIGINT) AS byte_count, CAST(0 AS BIGINT) AS pos,
           CAST(3421674724 AS BIGINT) AS hi, CAST(2216829733 AS BIGINT) AS lo
    FROM (SELECT DISTINCT hash_key, encode(hash_key, 'hex') AS hex_key FROM keyed) k
    UNION ALL
    SELECT hash_key, hex_key, byte_count, pos + 1,
           (hi * 435 + x * 256 + (x * 435) / 4294967296) % 4294967296,
           (x * 435) % 4294967296
    FROM (
        SELECT hash_key, hex_key, byte_count, pos, hi, lo + b - 2 * (lo & b) AS x
        FROM (
            SELECT hash_key, hex_key, byte_count, pos, hi, lo,
                   CAST((strpos('0123456789abcdef', substr(hex_key, 2 * pos + 1, 1)) - 1) * 16
                        + (strpos('0123456789abcdef', substr(hex_key, 2 * pos + 2, 1)) - 1) AS BIGINT) AS b
            FROM fnv
            WHERE pos < byte_count) byte_at) mixed
),
hashed AS (
    SELECT hash_key, concat(lpad(to_hex(hi), 8, '0'), lpad(to_hex(lo), 8, '0')) AS exception_id
    FROM fnv
    WHERE pos = byte_count
)
SELECT
    arrow_cast(h.exception_id, 'Utf8') AS exception_id,
    arrow_cast(k.district, 'Utf8') AS district,
    arrow_cast(k.store_id, 'Utf8') AS store_id,
    arrow_cast(k.kind, 'Utf8') AS kind,
    arrow_cast(k.severity, 'Utf8') AS severity,
    arrow_cast(k.subject, 'Utf8') AS subject,
    k.business_date,
    CAST(k.amount AS DECIMAL(18, 2)) AS amount,
    arrow_cast(k.evidence, 'Utf8') AS evidence
FROM keyed k
JOIN hashed h ON h.hash_key = k.hash_key
