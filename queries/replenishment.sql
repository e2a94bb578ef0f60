-- replenishment: the reference definition over the raw event tables (DESIGN.md, Views; docs/views.md).
-- One row per (store, sku) with a row in `inventory_position` (its on hand and watermark day, which
-- must be known), and a product record (`products`: cost, category, department, supplier, lead time,
-- case pack). Demand: the units sold on each weekday of the 28 days ending on the watermark day, over
-- the days of that weekday in them on which the store traded (had a sale that counts or a refund line).
-- Day k ahead is expected to sell its weekday's units (none if negative) / its weekday's days traded
-- (none without), times (1 + 2 x the greatest discount of the promotions covering the SKU that day):
-- kept exactly as units x 120000 (12 x 10000; 12 / days traded is whole). A promotion covers the SKU it names, or every SKU of the category it names, from the store-local
-- day of its start to that of the millisecond before its end. Cycle: lead time (3 without one) + 2
-- safety days (the reorder point) + 7 review days (the order-up-to level), both rounded up. Projected
-- stock-out: the first day ahead (within 90, or the cycle if longer) whose cumulative demand reaches on
-- hand; the watermark day with none on hand; none for a SKU that did not sell. Suggested: whole cases
-- up to the order-up-to level, for a selling SKU at or under its reorder point. Slow mover, once the
-- store traded settings.slow_judged_days (14 by default) of the 28 days: stock on hand and no unit sold, or on hand x days traded > 90 x units sold.
WITH stock AS (
    SELECT i.store_id, i.sku, i.on_hand, i.as_of_date, CAST(i.as_of_date AS INT) AS today,
           p.unit_cost, p.category, COALESCE(p.supplier, p.department) AS order_group,
           COALESCE(p.lead_time_days, 3) AS lead_time_days, COALESCE(p.case_pack, 1) AS case_pack
    FROM inventory_position i
    JOIN products p ON p.sku = i.sku
    WHERE i.as_of_date IS NOT NULL
),
sold AS (
    SELECT k.store_id, k.sku, (CAST(business_date(l.ts, s.timezone) AS INT) + 3) % 7 AS weekday,
           SUM(l.qty) AS units
    FROM stock k
    JOIN effective_sale_lines l ON l.store_id = k.store_id AND l.sku = k.sku
    JOIN current_stores s ON s.store_id = l.store_id
    WHERE CAST(business_date(l.ts, s.timezone) AS INT) BETWEEN k.today - 27 AND k.today
    GROUP BY k.store_id, k.sku, (CAST(business_date(l.ts, s.timezone) AS INT) + 3) % 7
),
traded AS (
    SELECT DISTINCT t.store_id, t.day, (t.day + 3) % 7 AS weekday
    FROM (
        SELECT l.store_id, CAST(business_date(l.ts, s.timezone) AS INT) AS day
        FROM effective_sale_lines l JOIN current_stores s ON s.store_id = l.store_id
        UNION ALL
        SELECT r.store_id, CAST(business_date(r.ts, s.timezone) AS INT) AS day
        FROM refund_lines r JOIN current_stores s ON s.store_id = r.store_id) t
),
-- Per (store, sku) and weekday the store traded in the window: its days traded and the units sold
-- on them (a day with a sale is a day traded).
by_weekday AS (
    SELECT x.store_id, x.sku, x.weekday, x.days, COALESCE(d.units, 0) AS units
    FROM (
        SELECT k.store_id, k.sku, t.weekday, COUNT(*) AS days
        FROM stock k
        JOIN traded t ON t.store_id = k.store_id AND t.day BETWEEN k.today - 27 AND k.today
        GROUP BY k.store_id, k.sku, t.weekday) x
    LEFT JOIN sold d ON d.store_id = x.store_id AND d.sku = x.sku AND d.weekday = x.weekday
),
weekdays AS (
    SELECT k.store_id, k.sku,
           COALESCE(SUM(CASE WHEN w.weekday = 0 THEN w.units END), 0) AS mon,
           COALESCE(SUM(CASE WHEN w.weekday = 1 THEN w.units END), 0) AS tue,
           COALESCE(SUM(CASE WHEN w.weekday = 2 THEN w.units END), 0) AS wed,
           COALESCE(SUM(CASE WHEN w.weekday = 3 THEN w.units END), 0) AS thu,
           COALESCE(SUM(CASE WHEN w.weekday = 4 THEN w.units END), 0) AS fri,
           COALESCE(SUM(CASE WHEN w.weekday = 5 THEN w.units END), 0) AS sat,
           COALESCE(SUM(CASE WHEN w.weekday = 6 THEN w.units END), 0) AS sun,
           COALESCE(SUM(CASE WHEN w.weekday = 0 THEN w.days END), 0) AS mon_days,
           COALESCE(SUM(CASE WHEN w.weekday = 1 THEN w.days END), 0) AS tue_days,
           COALESCE(SUM(CASE WHEN w.weekday = 2 THEN w.days END), 0) AS wed_days,
           COALESCE(SUM(CASE WHEN w.weekday = 3 THEN w.days END), 0) AS thu_days,
           COALESCE(SUM(CASE WHEN w.weekday = 4 THEN w.days END), 0) AS fri_days,
           COALESCE(SUM(CASE WHEN w.weekday = 5 THEN w.days END), 0) AS sat_days,
           COALESCE(SUM(CASE WHEN w.weekday = 6 THEN w.days END), 0) AS sun_days,
           COALESCE(SUM(w.units), 0) AS units,
           COALESCE(SUM(w.days), 0) AS days_traded,
           COALESCE(SUM(GREATEST(w.units, 0)), 0) > 0 AS selling
    FROM stock k
    LEFT JOIN by_weekday w ON w.store_id = k.store_id AND w.sku = k.sku
    GROUP BY k.store_id, k.sku
),
covering AS (
    SELECT k.store_id, k.sku,
           CAST(business_date(r."start", s.timezone) AS INT) AS first_day,
           CAST(business_date(r."end" - INTERVAL '1 millisecond', s.timezone) AS INT) AS last_day,
           CAST(r.discount_pct * 100 AS BIGINT) AS discount_bp
    FROM stock k
    JOIN promotions r ON r.sku = k.sku OR r.category = k.category
    JOIN current_stores s ON s.store_id = k.store_id
),
ahead AS (
    SELECT k.store_id, k.sku, a.k AS ahead, k.today + a.k AS day
    FROM stock k
    CROSS JOIN (SELECT unnest(range(1, 400)) AS k) a
    WHERE a.k <= GREATEST(90, k.lead_time_days + 9)
),
promoted AS (
    SELECT d.store_id, d.sku, d.ahead, d.day, COALESCE(MAX(c.discount_bp), 0) AS discount_bp
    FROM ahead d
    LEFT JOIN covering c ON c.store_id = d.store_id AND c.sku = d.sku AND d.day BETWEEN c.first_day AND c.last_day
    GROUP BY d.store_id, d.sku, d.ahead, d.day
),
projected AS (
    SELECT p.store_id, p.sku, p.ahead, p.discount_bp,
           SUM(CASE WHEN w.days > 0 THEN GREATEST(w.units, 0) * (12 / w.days) ELSE 0 END
               * (10000 + 2 * p.discount_bp)) OVER (PARTITION BY p.store_id, p.sku ORDER BY p.ahead) AS sold
    FROM promoted p
    LEFT JOIN by_weekday w ON w.store_id = p.store_id AND w.sku = p.sku AND w.weekday = (p.day + 3) % 7
),
cycle AS (
    SELECT k.store_id, k.sku,
           (MAX(CASE WHEN p.ahead = k.lead_time_days + 2 THEN p.sold END) + 119999) / 120000 AS reorder_point,
           (MAX(CASE WHEN p.ahead = k.lead_time_days + 9 THEN p.sold END) + 119999) / 120000 AS order_up_to,
           SUM(CASE WHEN p.ahead <= k.lead_time_days + 9 AND p.discount_bp > 0 THEN 1 ELSE 0 END) AS promo_days,
           MIN(CASE WHEN p.sold >= k.on_hand * 120000 THEN p.ahead END) AS out_ahead
    FROM stock k
    JOIN projected p ON p.store_id = k.store_id AND p.sku = k.sku
    GROUP BY k.store_id, k.sku
),
planned AS (
    SELECT k.*, w.mon, w.tue, w.wed, w.thu, w.fri, w.sat, w.sun, w.mon_days, w.tue_days, w.wed_days,
           w.thu_days, w.fri_days, w.sat_days, w.sun_days, w.units, w.days_traded, c.reorder_point,
           c.order_up_to, c.promo_days,
           CASE WHEN w.selling AND c.out_ahead IS NOT NULL
                THEN CASE WHEN k.on_hand <= 0 THEN 0 ELSE c.out_ahead END END AS out_days,
           CASE WHEN w.selling AND k.on_hand <= c.reorder_point AND c.order_up_to > k.on_hand
                THEN (c.order_up_to - k.on_hand + k.case_pack - 1) / k.case_pack * k.case_pack
                ELSE 0 END AS suggested_qty
    FROM stock k
    JOIN weekdays w ON w.store_id = k.store_id AND w.sku = k.sku
    JOIN cycle c ON c.store_id = k.store_id AND c.sku = k.sku
)
SELECT
    store_id, sku, as_of_date, on_hand,
    units AS units_sold_28d,
    days_traded,
    CAST(units AS DOUBLE) / CAST(NULLIF(days_traded, 0) AS DOUBLE) AS avg_daily_units,
    CAST(mon AS DOUBLE) / CAST(NULLIF(mon_days, 0) AS DOUBLE) AS avg_units_mon,
    CAST(tue AS DOUBLE) / CAST(NULLIF(tue_days, 0) AS DOUBLE) AS avg_units_tue,
    CAST(wed AS DOUBLE) / CAST(NULLIF(wed_days, 0) AS DOUBLE) AS avg_units_wed,
    CAST(thu AS DOUBLE) / CAST(NULLIF(thu_days, 0) AS DOUBLE) AS avg_units_thu,
    CAST(fri AS DOUBLE) / CAST(NULLIF(fri_days, 0) AS DOUBLE) AS avg_units_fri,
    CAST(sat AS DOUBLE) / CAST(NULLIF(sat_days, 0) AS DOUBLE) AS avg_units_sat,
    CAST(sun AS DOUBLE) / CAST(NULLIF(sun_days, 0) AS DOUBLE) AS avg_units_sun,
    lead_time_days, case_pack, promo_days, reorder_point, order_up_to,
    CAST(CAST(today + out_days AS INT) AS DATE) AS projected_stockout_date,
    out_days AS days_to_stockout,
    suggested_qty,
    unit_cost,
    CAST(suggested_qty * unit_cost AS DECIMAL(18, 2)) AS suggested_cost,
    CAST(on_hand * unit_cost AS DECIMAL(18, 2)) AS stock_value,
    order_group,
    on_hand > 0 AND days_traded >= c.slow_judged_days AND (units <= 0 OR on_hand * days_traded > 90 * units)
        AS slow_mover
FROM planned CROSS JOIN settings c
