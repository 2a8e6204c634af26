#pragma once
// The reservation module's public surface for payment: what a reservation
// costs, who owns it, and whether it can still be confirmed. Plain data in and
// out so that it could become an RPC.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ticketd::reservation {

struct ReservedSeat {
  std::string seat_id;
  std::string label;
  std::string grade;
  std::int64_t price = 0;
};

struct ReservationSummary {
  std::string reservation_id;
  std::string user_id;
  std::string event_id;
  std::string status;  // PENDING | CONFIRMED | CANCELLED | EXPIRED
  std::int64_t total_amount = 0;  // KRW
  /// Fencing token of the current hold: changes whenever the seats change.
  /// A payment records it; PaymentSucceeded must carry it back (`fence`), and
  /// a confirmation for another fence is rejected (and refunded).
  std::int64_t fence = 0;
  std::chrono::system_clock::time_point hold_expires_at;
  std::vector<ReservedSeat> seats;
};

/// Thread-safe. Errors: DependencyUnavailable when Postgres is down.
class ReservationReader {
 public:
  virtual ~ReservationReader() = default;
  virtual boost::asio::awaitable<std::optional<ReservationSummary>> FindReservation(std::string reservation_id) = 0;
};

}  // namespace ticketd::reservation
