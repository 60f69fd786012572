-- Deploy coachdb:conversations to pg
-- requires: users
BEGIN;

CREATE TABLE public.conversations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- a user's conversations go with the user
    user_id    bigint NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    title      text CONSTRAINT conversations_title_length CHECK (length(title) BETWEEN 1 AND 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conversations_updated_after_created CHECK (updated_at >= created_at)
);

-- A user's conversations, newest first; also covers the foreign key.
CREATE INDEX conversations_user_id_created_at_idx
    ON public.conversations (user_id, created_at DESC);

COMMENT ON TABLE public.conversations IS 'A user''s chat conversations with the coach';

COMMIT;
