-- Deploy coachdb:coaching_sessions to pg
-- requires: users, conversations
BEGIN;

CREATE TABLE public.coaching_sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- a user's sessions go with the user
    user_id         bigint NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    -- the session outlives a deleted conversation (its record stays, the link is cleared)
    conversation_id bigint REFERENCES public.conversations (id) ON DELETE SET NULL,
    topic           text CONSTRAINT coaching_sessions_topic_length CHECK (length(topic) BETWEEN 1 AND 500),
    status          text NOT NULL DEFAULT 'scheduled'
                    CONSTRAINT coaching_sessions_status_known
                    CHECK (status IN ('scheduled', 'active', 'completed', 'cancelled')),
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT coaching_sessions_ended_after_started CHECK (ended_at >= started_at)
);

-- A user's sessions by time, newest first; also covers the user foreign key.
CREATE INDEX coaching_sessions_user_id_started_at_idx
    ON public.coaching_sessions (user_id, started_at DESC);
-- Covers the conversation foreign key (ON DELETE SET NULL looks sessions up by it).
CREATE INDEX coaching_sessions_conversation_id_idx
    ON public.coaching_sessions (conversation_id);

COMMENT ON TABLE public.coaching_sessions IS 'A user''s coaching sessions, read by time';

COMMIT;
