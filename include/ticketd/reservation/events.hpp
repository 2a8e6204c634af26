#pragma once
// Domain events published by the reservation module on `reservation.events`
// (envelope v1, docs/events.md). Every payload carries at least
// {reservationId, eventId, userId, seatIds}; aggregate = Reservation.

#include <string_view>

namespace ticketd::reservation::domain {

inline constexpr std::string_view kTopic = "reservation.events";
inline constexpr std::string_view kAggregateType = "Reservation";

/// Seats held (a new hold or a seat change): + {seats, totalAmount, fence, holdExpiresAt, releasedSeatIds}.
inline constexpr std::string_view kReservationHeld = "ReservationHeld";
/// PENDING → CONFIRMED after payment: + {seats, totalAmount, paymentId}. Catalog marks the seats SOLD.
inline constexpr std::string_view kReservationConfirmed = "ReservationConfirmed";
/// PENDING|CONFIRMED → CANCELLED: + {wasConfirmed, reason, paymentId}. Catalog frees the seats; payment
/// refunds a confirmed booking (wasConfirmed) or voids a pending payment.
inline constexpr std::string_view kReservationCancelled = "ReservationCancelled";
/// PENDING → EXPIRED (the hold timed out): seats AVAILABLE again.
inline constexpr std::string_view kReservationExpired = "ReservationExpired";
/// Money arrived for a reservation that can no longer be confirmed (expired,
/// cancelled, other seats): + {paymentId, reason}. Payment refunds automatically.
inline constexpr std::string_view kConfirmationRejected = "ReservationConfirmationRejected";

}  // namespace ticketd::reservation::domain
