-- Revert coachdb:conversations from pg
BEGIN;

DROP TABLE public.conversations;

COMMIT;
