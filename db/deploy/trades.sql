-- Deploy coachdb:trades to pg
-- requires: users
BEGIN;

CREATE TABLE public.trades (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- a user's trade journal goes with the user
    user_id     bigint NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    symbol      text NOT NULL
                CONSTRAINT trades_symbol_format CHECK (symbol ~ '^[A-Z0-9][A-Z0-9.:/_-]{0,31}$'),
    side        text NOT NULL CONSTRAINT trades_side_known CHECK (side IN ('buy', 'sell')),
    quantity    numeric(20, 8) NOT NULL CONSTRAINT trades_quantity_positive CHECK (quantity > 0),
    entry_price numeric(20, 8) NOT NULL CONSTRAINT trades_entry_price_positive CHECK (entry_price > 0),
    exit_price  numeric(20, 8) CONSTRAINT trades_exit_price_positive CHECK (exit_price > 0),
    opened_at   timestamptz NOT NULL,
    closed_at   timestamptz,
    notes       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- a trade is either open (no exit) or closed (exit price and time, not before the open)
    CONSTRAINT trades_closed_consistently CHECK ((exit_price IS NULL) = (closed_at IS NULL)),
    CONSTRAINT trades_closed_after_opened CHECK (closed_at >= opened_at)
);

-- A user's trades by time, newest first; also covers the foreign key.
CREATE INDEX trades_user_id_opened_at_idx ON public.trades (user_id, opened_at DESC);

COMMENT ON TABLE public.trades IS 'A user''s trades (journal), read by time';

COMMIT;
