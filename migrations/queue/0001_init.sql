-- queue: the virtual waiting room. Entries are durable here; every instance
-- serves positions from an in-memory index rebuilt from these rows and kept
-- current by polling entries.change_id (see modules/queue/README.md).

-- Global orders: seq gives every entry its place (per event, by seq);
-- change_seq numbers state changes for the instances' incremental sync.
CREATE SEQUENCE queue.entry_seq;
CREATE SEQUENCE queue.change_seq;

-- One row per event that has (or had) a waiting room: the catalog's sale
-- window and queue settings as last seen, and the admin's runtime overrides
-- (NULL = not overridden).
CREATE TABLE queue.rooms (
  event_id            uuid PRIMARY KEY,
  sale_starts_at      timestamptz NOT NULL,
  sale_ends_at        timestamptz NOT NULL,
  event_rate          int,
  event_max_active    int,
  event_capacity      int,
  event_method        text,
  event_pre_queue_min int,
  rate                int CHECK (rate IS NULL OR rate > 0),
  max_active          int CHECK (max_active IS NULL OR max_active > 0),
  capacity            int CHECK (capacity IS NULL OR capacity > 0),
  token_ttl_seconds   int CHECK (token_ttl_seconds IS NULL OR token_ttl_seconds > 0),
  pre_queue_minutes   int CHECK (pre_queue_minutes IS NULL OR pre_queue_minutes >= 0),
  method              text CHECK (method IS NULL OR method IN ('fifo', 'random')),
  paused              boolean NOT NULL DEFAULT false,
  shuffled_at         timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE queue.entries (
  event_id          uuid NOT NULL,
  user_id           uuid NOT NULL,
  seq               bigint NOT NULL,
  status            text NOT NULL CHECK (status IN ('WAITING', 'ADMITTED', 'USED', 'LEFT', 'EXPIRED', 'DROPPED', 'CLEARED')),
  pre_queue         boolean NOT NULL DEFAULT false,
  entered_at        timestamptz NOT NULL DEFAULT now(),
  last_seen_at      timestamptz NOT NULL DEFAULT now(),
  estimated_admit_at timestamptz,
  admitted_at       timestamptz,
  ended_at          timestamptz,
  token             text,
  token_expires_at  timestamptz,
  change_id         bigint NOT NULL,
  PRIMARY KEY (event_id, user_id)
);
-- One active waiting room per user across events.
CREATE UNIQUE INDEX entries_one_active_room ON queue.entries (user_id) WHERE status IN ('WAITING', 'ADMITTED');
CREATE INDEX entries_waiting ON queue.entries (event_id, seq) WHERE status = 'WAITING';
CREATE INDEX entries_admitted ON queue.entries (event_id, token_expires_at) WHERE status = 'ADMITTED';
CREATE INDEX entries_change ON queue.entries (change_id);

-- Reservation (qr_) and payment (qp_) tokens, by SHA-256 of the token.
CREATE TABLE queue.tokens (
  token_hash      text PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('qr', 'qp')),
  user_id         uuid NOT NULL,
  event_id        uuid NOT NULL,
  reservation_id  text,
  expires_at      timestamptz NOT NULL,
  used_at         timestamptz,
  revoked_at      timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tokens_expires ON queue.tokens (expires_at);

-- Admission batches, for admitted-per-minute and the observed rate.
CREATE TABLE queue.admissions (
  id          bigserial PRIMARY KEY,
  event_id    uuid NOT NULL,
  admitted_at timestamptz NOT NULL DEFAULT now(),
  count       int NOT NULL
);
CREATE INDEX admissions_event_time ON queue.admissions (event_id, admitted_at);
