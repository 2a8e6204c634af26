#pragma once
// Domain events published by the catalog module on `catalog.events`
// (envelope v1, docs/events.md).

#include <string_view>

namespace ticketd::catalog::domain {

inline constexpr std::string_view kTopic = "catalog.events";
inline constexpr std::string_view kAggregateType = "Event";

/// An event was cancelled: reservations are cancelled and paid ones refunded.
/// Payload v1: {eventId, title, reason, cancelledAt}.
inline constexpr std::string_view kEventCancelled = "EventCancelled";

}  // namespace ticketd::catalog::domain
