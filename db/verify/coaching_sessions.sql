-- Verify coachdb:coaching_sessions on pg
SELECT id, user_id, conversation_id, topic, status, started_at, ended_at, created_at
  FROM public.coaching_sessions WHERE false;
SELECT 1 / (count(*) = 2)::int FROM pg_catalog.pg_indexes
 WHERE schemaname = 'public' AND tablename = 'coaching_sessions'
   AND indexname IN ('coaching_sessions_user_id_started_at_idx',
                     'coaching_sessions_conversation_id_idx');
