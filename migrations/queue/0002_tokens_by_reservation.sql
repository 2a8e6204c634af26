-- Payment tokens are used up by reservation once its payment succeeds
-- (QueueTokens::ConsumePaymentTokens).
CREATE INDEX tokens_reservation ON queue.tokens (reservation_id) WHERE kind = 'qp';
