-- The waiting room consumes reservation.events (a confirmed reservation uses
-- up its qp_ payment tokens): the idempotent consumer's record.
CREATE TABLE queue.processed_events (
  consumer      text NOT NULL,
  event_id      uuid NOT NULL,
  event_type    text NOT NULL,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
