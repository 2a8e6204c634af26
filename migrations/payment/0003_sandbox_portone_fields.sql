-- The sandbox gateway answers with every field PortOne's server SDK types
-- require: the order's name and the customer given at the payment window, and
-- the webhook history (`Payment.webhooks`: each delivery's request and the
-- receiver's response, as PortOne's console shows it).
ALTER TABLE payment.sandbox_payments ADD COLUMN order_name text;
ALTER TABLE payment.sandbox_payments ADD COLUMN customer jsonb NOT NULL DEFAULT '{}';

CREATE TABLE payment.sandbox_webhooks (
  id             text PRIMARY KEY,
  payment_id     text NOT NULL,
  type           text NOT NULL,
  payment_status text NOT NULL,
  url            text NOT NULL,
  status         text,
  request_header text NOT NULL,
  request_body   text NOT NULL,
  response_code  text,
  response_body  text,
  triggered_at   timestamptz NOT NULL DEFAULT now(),
  responded_at   timestamptz
);
CREATE INDEX sandbox_webhooks_payment ON payment.sandbox_webhooks (payment_id, triggered_at);
