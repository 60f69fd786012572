-- Verify coachdb:users on pg
SELECT id, email, display_name, created_at, updated_at FROM public.users WHERE false;
SELECT 1 / count(*) FROM pg_catalog.pg_indexes
 WHERE schemaname = 'public' AND tablename = 'users' AND indexname = 'users_email_key';
