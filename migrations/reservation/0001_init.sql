-- reservation: holds and bookings. The central promise — a seat is in at most
-- one active (PENDING or CONFIRMED) reservation — is the unique partial index
-- `seats_one_active_reservation`: application checks only make it faster.

CREATE SEQUENCE reservation.fence_seq;

CREATE TABLE reservation.reservations (
  id               uuid PRIMARY KEY,
  user_id          uuid NOT NULL,
  event_id         uuid NOT NULL,
  status           text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
  total_amount     bigint NOT NULL CHECK (total_amount >= 0),
  -- Fencing token: a new value from fence_seq at every hold and seat change.
  -- Confirmation must name the fence the payment was made for.
  fence            bigint NOT NULL,
  hold_expires_at  timestamptz NOT NULL,
  payment_id       text,
  cancel_reason    text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  confirmed_at     timestamptz,
  ended_at         timestamptz
);
CREATE INDEX reservations_user ON reservation.reservations (user_id, created_at DESC);
CREATE INDEX reservations_event_active ON reservation.reservations (event_id) WHERE status IN ('PENDING', 'CONFIRMED');
CREATE INDEX reservations_pending_expiry ON reservation.reservations (hold_expires_at) WHERE status = 'PENDING';

CREATE TABLE reservation.reservation_seats (
  reservation_id  uuid NOT NULL REFERENCES reservation.reservations (id),
  event_id        uuid NOT NULL,
  seat_id         uuid NOT NULL,
  user_id         uuid NOT NULL,
  label           text NOT NULL,
  grade           text NOT NULL,
  price           bigint NOT NULL CHECK (price >= 0),
  fence           bigint NOT NULL,
  active          boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  released_at     timestamptz,
  PRIMARY KEY (reservation_id, seat_id, fence)
);
CREATE UNIQUE INDEX seats_one_active_reservation ON reservation.reservation_seats (event_id, seat_id) WHERE active;
CREATE INDEX seats_user_event_active ON reservation.reservation_seats (user_id, event_id) WHERE active;

-- Idempotency-Key per user: the first request's answer is replayed for the
-- same key and body; another body → 422; a concurrent duplicate → 409.
CREATE TABLE reservation.idempotency_keys (
  user_id          uuid NOT NULL,
  key              text NOT NULL,
  operation        text NOT NULL,
  request_hash     text NOT NULL,
  state            text NOT NULL CHECK (state IN ('IN_PROGRESS', 'DONE')),
  response_status  int,
  response_body    text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_created ON reservation.idempotency_keys (created_at);

-- Transactional outbox and consumer bookkeeping (events::OutboxDdl("reservation")).
CREATE TABLE reservation.outbox (
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
CREATE INDEX outbox_pending ON reservation.outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_published ON reservation.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE TABLE reservation.processed_events (
  consumer      text NOT NULL,
  event_id      uuid NOT NULL,
  event_type    text NOT NULL,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
