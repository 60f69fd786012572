-- Revert coachdb:coaching_sessions from pg
BEGIN;

DROP TABLE public.coaching_sessions;

COMMIT;
