-- Deploy coachdb:messages to pg
-- requires: conversations
BEGIN;

CREATE TABLE public.messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- messages go with their conversation
    conversation_id bigint NOT NULL REFERENCES public.conversations (id) ON DELETE CASCADE,
    author          text NOT NULL
                    CONSTRAINT messages_author_known CHECK (author IN ('user', 'coach', 'system')),
    content         text NOT NULL
                    CONSTRAINT messages_content_not_empty CHECK (length(content) > 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A conversation's messages in time order (id breaks ties within one timestamp); also
-- covers the foreign key.
CREATE INDEX messages_conversation_id_created_at_idx
    ON public.messages (conversation_id, created_at, id);

COMMENT ON TABLE public.messages IS 'Messages of a conversation, read in time order';

COMMIT;
