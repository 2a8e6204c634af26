-- A failed payment whose PaymentFailed releases the reservation's hold (no
-- other payment of the reservation was under way). While it stands, no new
-- payment starts for the same seats (fence): the hold is being released.
ALTER TABLE payment.payments ADD COLUMN releases_hold boolean NOT NULL DEFAULT false;
