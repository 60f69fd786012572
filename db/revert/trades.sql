-- Revert coachdb:trades from pg
BEGIN;

DROP TABLE public.trades;

COMMIT;
