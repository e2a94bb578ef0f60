-- labor_demand: the reference definition over the raw event tables (docs/views.md).
-- Uses the views of shared.sql. One row per (store, business day, local hour) with a sale that
-- counts, a refund or staff on the clock. A shift runs from a clock_in to that staff member's next
-- shift event at the store; a shift still open runs to the watermark. Forecast: the mean
-- transactions of that hour over the previous 4 same weekdays on which the store traded.
-- Target: 14 transactions per labor hour (the default of `tillflow run --labor-target`).
WITH spans AS (
    SELECT store_id, kind, ts AS start_ts,
           LEAD(ts) OVER (PARTITION BY store_id, staff_id ORDER BY ts, event_id) AS end_ts
    FROM shifts
),
intervals AS (
    SELECT p.store_id, p.start_ts, COALESCE(p.end_ts, GREATEST(w.at, p.start_ts)) AS end_ts, s.timezone
    FROM spans p
    CROSS JOIN watermark w
    JOIN current_stores s ON s.store_id = p.store_id
    WHERE p.kind = 'clock_in'
),
slices AS (
    SELECT store_id, unnest(hour_slices(start_ts, end_ts, timezone)) AS slice FROM intervals
),
staff AS (
    SELECT store_id, business_date, hour, SUM(ms) AS staff_ms FROM (
        SELECT store_id, slice['day'] AS business_date, slice['hour'] AS hour, slice['ms'] AS ms FROM slices) x
    GROUP BY store_id, business_date, hour
),
sales AS (
    SELECT store_id, business_date, hour, COUNT(*) AS transactions, SUM(items) AS items, SUM(net) AS net
    FROM effective_transactions GROUP BY store_id, business_date, hour
),
refunded AS (
    SELECT store_id, business_date, hour, SUM(amount) AS amount FROM refunds GROUP BY store_id, business_date, hour
),
slots AS (
    SELECT store_id, business_date, hour FROM sales
    UNION SELECT store_id, business_date, hour FROM refunded
    UNION SELECT store_id, business_date, hour FROM staff
),
traded AS (
    SELECT DISTINCT store_id, business_date FROM effective_transactions
),
history AS (
    SELECT x.store_id, x.business_date, x.hour, COALESCE(SUM(h.transactions), 0) AS transactions
    FROM slots x
    LEFT JOIN sales h ON h.store_id = x.store_id AND h.hour = x.hour AND h.business_date IN (
        x.business_date - INTERVAL '7 days', x.business_date - INTERVAL '14 days',
        x.business_date - INTERVAL '21 days', x.business_date - INTERVAL '28 days')
    GROUP BY x.store_id, x.business_date, x.hour
),
weeks AS (
    SELECT x.store_id, x.business_date, x.hour, COUNT(t.business_date) AS weeks
    FROM slots x
    LEFT JOIN traded t ON t.store_id = x.store_id AND t.business_date IN (
        x.business_date - INTERVAL '7 days', x.business_date - INTERVAL '14 days',
        x.business_date - INTERVAL '21 days', x.business_date - INTERVAL '28 days')
    GROUP BY x.store_id, x.business_date, x.hour
),
figures AS (
    SELECT x.store_id, x.business_date, x.hour,
           COALESCE(s.transactions, 0) AS transactions,
           COALESCE(s.items, 0) AS items,
           COALESCE(s.net, 0) - COALESCE(r.amount, 0) AS net_sales,
           COALESCE(f.staff_ms, 0) AS staff_ms,
           h.transactions AS history_transactions,
           k.weeks AS history_weeks,
           14 AS target
    FROM slots x
    LEFT JOIN sales s ON s.store_id = x.store_id AND s.business_date = x.business_date AND s.hour = x.hour
    LEFT JOIN refunded r ON r.store_id = x.store_id AND r.business_date = x.business_date AND r.hour = x.hour
    LEFT JOIN staff f ON f.store_id = x.store_id AND f.business_date = x.business_date AND f.hour = x.hour
    JOIN history h ON h.store_id = x.store_id AND h.business_date = x.business_date AND h.hour = x.hour
    JOIN weeks k ON k.store_id = x.store_id AND k.business_date = x.business_date AND k.hour = x.hour
),
demand AS (
    SELECT f.*,
           GREATEST(transactions * GREATEST(history_weeks, 1), history_transactions) AS basis,
           GREATEST(history_weeks, 1) * target AS per_person
    FROM figures f
)
SELECT store_id, business_date, hour, transactions, items, net_sales,
       CAST(staff_ms AS DOUBLE) / 3600000.0 AS staff_on_clock,
       CAST(transactions * 3600000 AS DOUBLE) / NULLIF(CAST(staff_ms AS DOUBLE), 0) AS transactions_per_labor_hour,
       CAST(history_transactions AS DOUBLE) / NULLIF(CAST(history_weeks AS DOUBLE), 0) AS forecast_transactions,
       target AS target_per_labor_hour,
       CAST(basis AS DOUBLE) / CAST(per_person AS DOUBLE) AS required_staff,
       CAST(staff_ms AS DOUBLE) / 3600000.0 - CAST(basis AS DOUBLE) / CAST(per_person AS DOUBLE) AS gap,
       CASE WHEN 2 * staff_ms * per_person - 2 * basis * 3600000 < -per_person * 3600000 THEN 'understaffed'
            WHEN 2 * staff_ms * per_person - 2 * basis * 3600000 > 3 * per_person * 3600000 THEN 'overstaffed'
            ELSE 'ok' END AS status
FROM demand
