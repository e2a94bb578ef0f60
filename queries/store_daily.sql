-- store_daily: the reference definition over the raw event tables (DESIGN.md, Views; docs/views.md).
-- One row per (store, business day) with a row of sku_margin: its sums over the store-day; the
-- transactions are the sales that count (not post-voided); each tender kind's amount is what they
-- tendered in it less what the day's refunds gave back in it; the forecast is the mean net sales of
-- the same store on days d-7, d-14, d-21 and d-28 that have a row.
WITH days AS (
    SELECT store_id, business_date,
           SUM(units_sold) AS items, SUM(gross_sales) AS gross_sales, SUM(discounts) AS discounts,
           SUM(refunds) AS refunds, SUM(cogs) AS cogs,
           SUM(gross_sales) - SUM(discounts) - SUM(refunds) AS net_sales
    FROM sku_margin
    GROUP BY store_id, business_date
),
sales AS (
    SELECT DISTINCT l.event_id, l.store_id, business_date(l.ts, s.timezone) AS business_date
    FROM effective_sale_lines l
    JOIN current_stores s ON s.store_id = l.store_id
),
counted AS (
    SELECT store_id, business_date, COUNT(*) AS transactions FROM sales GROUP BY store_id, business_date
),
paid AS (
    SELECT x.store_id, x.business_date, t.kind, t.amount
    FROM sale_tenders t JOIN sales x ON x.event_id = t.event_id
    UNION ALL
    SELECT r.store_id, business_date(r.ts, s.timezone), r.tender_kind, -r.amount
    FROM refund_lines r JOIN current_stores s ON s.store_id = r.store_id
),
tenders AS (
    SELECT store_id, business_date,
           SUM(CASE WHEN kind = 'cash' THEN amount ELSE 0 END) AS cash,
           SUM(CASE WHEN kind = 'card' THEN amount ELSE 0 END) AS card,
           SUM(CASE WHEN kind = 'gift_card' THEN amount ELSE 0 END) AS gift_card,
           SUM(CASE WHEN kind = 'wallet' THEN amount ELSE 0 END) AS wallet,
           SUM(CASE WHEN kind = 'store_credit' THEN amount ELSE 0 END) AS store_credit
    FROM paid
    GROUP BY store_id, business_date
),
forecast AS (
    SELECT d.store_id, d.business_date, SUM(b.net_sales) AS net_sum, COUNT(*) AS days
    FROM days d
    JOIN days b ON b.store_id = d.store_id
        AND b.business_date IN (d.business_date - INTERVAL '7' DAY, d.business_date - INTERVAL '14' DAY,
                                d.business_date - INTERVAL '21' DAY, d.business_date - INTERVAL '28' DAY)
    GROUP BY d.store_id, d.business_date
)
SELECT
    d.store_id,
    d.business_date,
    COALESCE(c.transactions, 0) AS transactions,
    d.items,
    CAST(d.gross_sales AS DECIMAL(18, 2)) AS gross_sales,
    CAST(d.discounts AS DECIMAL(18, 2)) AS discounts,
    CAST(d.refunds AS DECIMAL(18, 2)) AS refunds,
    CAST(d.net_sales AS DECIMAL(18, 2)) AS net_sales,
    CAST(d.cogs AS DECIMAL(18, 2)) AS cogs,
    CAST(d.net_sales - d.cogs AS DECIMAL(18, 2)) AS gross_margin,
    -- ratios of the exact cent amounts
    CAST(CAST((d.net_sales - d.cogs) * 100 AS BIGINT) AS DOUBLE)
        / NULLIF(CAST(CAST(d.net_sales * 100 AS BIGINT) AS DOUBLE), 0) AS margin_pct,
    CAST(CAST((d.gross_sales - d.discounts) * 100 AS BIGINT) AS DOUBLE)
        / NULLIF(CAST(COALESCE(c.transactions, 0) AS DOUBLE), 0) / 100.0 AS avg_basket,
    CAST(d.items AS DOUBLE) / NULLIF(CAST(COALESCE(c.transactions, 0) AS DOUBLE), 0) AS units_per_basket,
    CAST(COALESCE(t.cash, 0) AS DECIMAL(18, 2)) AS tender_cash,
    CAST(COALESCE(t.card, 0) AS DECIMAL(18, 2)) AS tender_card,
    CAST(COALESCE(t.gift_card, 0) AS DECIMAL(18, 2)) AS tender_gift_card,
    CAST(COALESCE(t.wallet, 0) AS DECIMAL(18, 2)) AS tender_wallet,
    CAST(COALESCE(t.store_credit, 0) AS DECIMAL(18, 2)) AS tender_store_credit,
    CAST(CAST(f.net_sum * 100 AS BIGINT) AS DOUBLE) / CAST(f.days AS DOUBLE) / 100.0 AS forecast_net_sales,
    CASE WHEN f.net_sum > 0 THEN
        CAST(CAST((d.net_sales * f.days - f.net_sum) * 100 AS BIGINT) AS DOUBLE)
            / CAST(CAST(f.net_sum * 100 AS BIGINT) AS DOUBLE) * 100.0
    END AS deviation_pct
FROM days d
LEFT JOIN counted c ON c.store_id = d.store_id AND c.business_date = d.business_date
LEFT JOIN tenders t ON t.store_id = d.store_id AND t.business_date = d.business_date
LEFT JOIN forecast f ON f.store_id = d.store_id AND f.business_date = d.business_date
