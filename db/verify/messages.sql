-- Verify coachdb:messages on pg
SELECT id, conversation_id, author, content, created_at FROM public.messages WHERE false;
SELECT 1 / count(*) FROM pg_catalog.pg_indexes
 WHERE schemaname = 'public' AND tablename = 'messages'
   AND indexname = 'messages_conversation_id_created_at_idx';
