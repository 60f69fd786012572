-- Verify coachdb:conversations on pg
SELECT id, user_id, title, created_at, updated_at FROM public.conversations WHERE false;
SELECT 1 / count(*) FROM pg_catalog.pg_indexes
 WHERE schemaname = 'public' AND tablename = 'conversations'
   AND indexname = 'conversations_user_id_created_at_idx';
