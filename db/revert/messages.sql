-- Revert coachdb:messages from pg
BEGIN;

DROP TABLE public.messages;

COMMIT;
