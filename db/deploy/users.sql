-- Deploy coachdb:users to pg
-- requires: registry_read
BEGIN;

CREATE TABLE public.users (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text NOT NULL
                 CONSTRAINT users_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'
                                                      AND length(email) <= 320),
    display_name text
                 CONSTRAINT users_display_name_length CHECK (length(display_name) BETWEEN 1 AND 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_updated_after_created CHECK (updated_at >= created_at)
);

-- One account per address, whatever its case.
CREATE UNIQUE INDEX users_email_key ON public.users (lower(email));

COMMENT ON TABLE public.users IS 'Users of the Elite Trading Coach AI platform';

COMMIT;
