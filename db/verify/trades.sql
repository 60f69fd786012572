-- Verify coachdb:trades on pg
SELECT id, user_id, symbol, side, quantity, entry_price, exit_price, opened_at, closed_at,
       notes, created_at
  FROM public.trades WHERE false;
SELECT 1 / count(*) FROM pg_catalog.pg_indexes
 WHERE schemaname = 'public' AND tablename = 'trades'
   AND indexname = 'trades_user_id_opened_at_idx';
