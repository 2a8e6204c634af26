#pragma once
// Domain events published by the payment module on `payment.events`
// (envelope v1, docs/events.md). Aggregate = Payment; every payload carries
// {paymentId, reservationId, userId, amount, currency}.

#include <string_view>

namespace ticketd::payment::domain {

inline constexpr std::string_view kTopic = "payment.events";
inline constexpr std::string_view kAggregateType = "Payment";

/// The gateway confirmed the money (verified: PAID, amount and currency ours): + {fence, eventId}.
inline constexpr std::string_view kPaymentSucceeded = "PaymentSucceeded";
/// The payment failed (declined, cancelled at the gateway, amount mismatch): + {reason}.
inline constexpr std::string_view kPaymentFailed = "PaymentFailed";
/// The money went back to the customer (full cancel at the gateway): + {reason}.
inline constexpr std::string_view kPaymentRefunded = "PaymentRefunded";

}  // namespace ticketd::payment::domain
