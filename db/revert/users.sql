-- Revert coachdb:users from pg
BEGIN;

DROP TABLE public.users;

COMMIT;
