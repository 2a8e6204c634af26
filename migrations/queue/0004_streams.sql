-- SSE stream slots, counted per user across every instance
-- (queue.max_streams_per_user). A slot is extended every 10 s while its
-- stream is open and deleted when it ends; a killed instance's slots expire.
CREATE TABLE queue.streams (
  id           uuid PRIMARY KEY,
  user_id      uuid NOT NULL,
  instance_id  uuid NOT NULL,
  opened_at    timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX streams_user ON queue.streams (user_id);
