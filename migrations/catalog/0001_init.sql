-- catalog: venues, halls with seat templates, events and their seats.
-- An event's status is derived from the clock and its sale window (never
-- stored); SOLD is the only seat state persisted here (HELD belongs to
-- reservation). Text search uses pg_trgm (trusted extension, PG ≥ 13).

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA catalog;

CREATE TABLE catalog.venues (
  id          uuid PRIMARY KEY,
  name        text NOT NULL,
  address     text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE catalog.halls (
  id          uuid PRIMARY KEY,
  venue_id    uuid NOT NULL REFERENCES catalog.venues (id) ON DELETE CASCADE,
  name        text NOT NULL,
  template    jsonb NOT NULL,
  seat_count  int NOT NULL CHECK (seat_count > 0 AND seat_count <= 100000),
  grades      text[] NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (venue_id, name)
);
CREATE INDEX halls_venue ON catalog.halls (venue_id);

CREATE TABLE catalog.events (
  id              uuid PRIMARY KEY,
  venue_id        uuid NOT NULL REFERENCES catalog.venues (id),
  hall_id         uuid NOT NULL REFERENCES catalog.halls (id),
  title           text NOT NULL,
  artist          text NOT NULL,
  description     text NOT NULL DEFAULT '',
  poster_url      text NOT NULL DEFAULT '',
  starts_at       timestamptz NOT NULL,
  ends_at         timestamptz NOT NULL,
  sale_starts_at  timestamptz NOT NULL,
  sale_ends_at    timestamptz NOT NULL,
  prices          jsonb NOT NULL,
  queue           jsonb NOT NULL DEFAULT '{}',
  seat_count      int NOT NULL,
  sold_total      bigint NOT NULL DEFAULT 0,  -- seats ever sold; > 0 forbids deletion
  cancelled_at    timestamptz,
  cancel_reason   text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (starts_at < ends_at),
  CHECK (sale_starts_at < sale_ends_at),
  CHECK (sale_ends_at <= ends_at)
);
CREATE INDEX events_starts ON catalog.events (starts_at, id);
CREATE INDEX events_sale ON catalog.events (sale_starts_at, sale_ends_at);
CREATE INDEX events_venue ON catalog.events (venue_id, starts_at);
CREATE INDEX events_hall ON catalog.events (hall_id);
CREATE INDEX events_search ON catalog.events USING gin ((title || ' ' || artist) gin_trgm_ops);
CREATE INDEX events_artist ON catalog.events USING gin (artist gin_trgm_ops);

CREATE TABLE catalog.seats (
  id              uuid PRIMARY KEY,
  event_id        uuid NOT NULL REFERENCES catalog.events (id) ON DELETE CASCADE,
  ordinal         int NOT NULL,
  section         text NOT NULL,
  row_label       text NOT NULL,
  number          int NOT NULL,
  label           text NOT NULL,
  grade           text NOT NULL,
  price           bigint NOT NULL CHECK (price >= 0),
  status          text NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'SOLD')),
  reservation_id  uuid,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, label),
  UNIQUE (event_id, ordinal)
);
CREATE INDEX seats_reservation ON catalog.seats (reservation_id) WHERE reservation_id IS NOT NULL;

-- Transactional outbox and consumer bookkeeping (events::OutboxDdl("catalog")).
CREATE TABLE catalog.outbox (
  id              bigserial PRIMARY KEY,
  event_id        uuid NOT NULL UNIQUE,
  topic           text NOT NULL,
  aggregate_type  text NOT NULL,
  aggregate_id    text NOT NULL,
  event_type      text NOT NULL,
  version         int  NOT NULL,
  envelope        jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  published_at    timestamptz,
  attempts        int NOT NULL DEFAULT 0,
  last_error      text,
  failed_at       timestamptz
);
CREATE INDEX outbox_pending ON catalog.outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_published ON catalog.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE TABLE catalog.processed_events (
  consumer      text NOT NULL,
  event_id      uuid NOT NULL,
  event_type    text NOT NULL,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
