-- promotions: each promotion's current record: the greatest ts, then event_id (missing ones
-- first), then the greater SKU, category (a missing one first), start, end and discount.
SELECT promo_id, sku, category, "start", "end", discount_pct FROM (
    SELECT promo_id, sku, category, "start", "end", discount_pct, ROW_NUMBER() OVER (
        PARTITION BY promo_id
        ORDER BY ts DESC NULLS LAST, event_id DESC NULLS LAST, sku DESC NULLS LAST, category DESC NULLS LAST,
                 "start" DESC, "end" DESC, discount_pct DESC
    ) AS rn
    FROM promotion_records) p
WHERE rn = 1
