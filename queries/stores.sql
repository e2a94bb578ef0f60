-- stores: each store's current record (queries/shared.sql chooses it: the greatest ts, then
-- event_id, then the greater district, time zone, region and name).
SELECT store_id, name, district, region, timezone FROM current_stores
