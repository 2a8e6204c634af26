-- payment: payments, the gateway request log, received webhooks, and the
-- sandbox gateway's own state (a stand-in for PortOne that speaks its wire
-- format; used only when payment.gateway = "sandbox").

CREATE TABLE payment.payments (
  id               uuid PRIMARY KEY,          -- also the gateway's paymentId
  user_id          uuid NOT NULL,
  reservation_id   uuid NOT NULL,
  event_id         uuid NOT NULL,
  payment_key      text NOT NULL,             -- the client's idempotency key
  amount           bigint NOT NULL CHECK (amount >= 0),
  currency         text NOT NULL DEFAULT 'KRW',
  order_name       text NOT NULL,
  fence            bigint NOT NULL,           -- the reservation's fence when the payment started
  gateway          text NOT NULL,
  status           text NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED', 'REFUND_PENDING', 'REFUNDED')),
  pre_registered   boolean NOT NULL DEFAULT false,
  failure_reason   text,
  refund_reason    text,
  refund_attempts  int NOT NULL DEFAULT 0,
  refund_last_error text,
  refund_next_at   timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  paid_at          timestamptz,
  refunded_at      timestamptz,
  UNIQUE (user_id, payment_key)
);
CREATE INDEX payments_user ON payment.payments (user_id, created_at DESC);
CREATE INDEX payments_reservation ON payment.payments (reservation_id);
CREATE INDEX payments_pending ON payment.payments (created_at) WHERE status = 'PENDING';
-- Money to give back at the gateway (a refund, or the cancel after an amount
-- mismatch): retried with backoff until refunded_at is set.
CREATE INDEX payments_refund_due ON payment.payments (refund_next_at) WHERE refund_next_at IS NOT NULL AND refunded_at IS NULL;

-- Every gateway exchange (secrets never stored: no Authorization header, no card data).
CREATE TABLE payment.gateway_log (
  id           bigserial PRIMARY KEY,
  payment_id   text,
  operation    text NOT NULL,
  method       text NOT NULL,
  url          text NOT NULL,
  request      text,
  status       int,
  response     text,
  error        text,
  duration_ms  int NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_log_payment ON payment.gateway_log (payment_id, id);

CREATE TABLE payment.webhooks (
  webhook_id   text PRIMARY KEY,
  type         text NOT NULL,
  payment_id   text,
  received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payment.sandbox_payments (
  id                text PRIMARY KEY,
  store_id          text NOT NULL,
  transaction_id    text NOT NULL,
  status            text NOT NULL CHECK (status IN ('READY', 'PAID', 'FAILED', 'CANCELLED')),
  total             bigint NOT NULL,
  paid              bigint NOT NULL DEFAULT 0,
  cancelled         bigint NOT NULL DEFAULT 0,
  currency          text NOT NULL DEFAULT 'KRW',
  failure_reason    text,
  failure_pg_code   text,
  stall_until       timestamptz,
  requested_at      timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  paid_at           timestamptz,
  failed_at         timestamptz,
  cancelled_at      timestamptz,
  cancellation_id   text,
  cancel_reason     text
);

-- Transactional outbox and consumer bookkeeping (events::OutboxDdl("payment")).
CREATE TABLE payment.outbox (
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
CREATE INDEX outbox_pending ON payment.outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_published ON payment.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE TABLE payment.processed_events (
  consumer      text NOT NULL,
  event_id      uuid NOT NULL,
  event_type    text NOT NULL,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
