#pragma once
// The catalog module's public surface for other modules (queue, reservation,
// payment). Plain data in and out so that it could become an RPC.
//
// Ownership of seat state: SOLD is persisted by catalog (it consumes
// ReservationConfirmed / ReservationCancelled from `reservation.events`);
// HELD belongs to reservation, which reports holds and releases to the live
// seat map through SeatMapFeed (in-process, immediate) and through its domain
// events (every instance). Both paths are idempotent and carry the reservation
// id, so replays and reordering across reservations cannot resurrect a stale state.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ticketd::catalog {

using TimePoint = std::chrono::system_clock::time_point;

/// UPCOMING → ON_SALE → SALE_ENDED → ENDED, and CANCELLED from any state.
/// Derived from the clock and the sale window, never stored.
enum class EventStatus { kUpcoming, kOnSale, kSaleEnded, kEnded, kCancelled };
const char* ToString(EventStatus status);

/// The largest `maxActive` (admitted at once) an event's waiting room takes,
/// wherever it is set: the event's `queue`, the queue admin route, the config.
inline constexpr int kMaxActiveLimit = 10'000'000;

/// Per-event waiting-room settings given when the event was created
/// (`queue` in POST /admin/events). Unset fields: the queue module's defaults.
struct QueueSettings {
  std::optional<int> admission_rate_per_second;
  std::optional<int> max_active;
  std::optional<int> capacity;
  std::optional<std::string> method;  // "fifo" | "random"
  std::optional<int> pre_queue_minutes;
};

struct EventInfo {
  std::string event_id;
  std::string title;
  std::string artist;
  std::string venue_name;
  TimePoint starts_at;
  TimePoint ends_at;
  TimePoint sale_starts_at;
  TimePoint sale_ends_at;
  bool cancelled = false;
  std::int64_t seat_count = 0;
  QueueSettings queue;

  /// The status at `now` (see EventStatus).
  [[nodiscard]] EventStatus StatusAt(TimePoint now) const;
};

enum class SeatStatus : std::uint8_t { kAvailable = 0, kHeld = 1, kSold = 2 };
const char* ToString(SeatStatus status);

struct SeatQuote {
  std::string seat_id;
  std::string label;  // "{section}-{row}-{number}"
  std::string grade;
  std::int64_t price = 0;  // KRW
  SeatStatus status = SeatStatus::kAvailable;
};

struct SeatResolution {
  bool event_found = false;
  std::vector<SeatQuote> seats;             // in the order asked, known seats only
  std::vector<std::string> unknown_seat_ids;  // not seats of this event
};

/// Read access to events and seats. Thread-safe.
class CatalogReader {
 public:
  virtual ~CatalogReader() = default;
  /// The event, or nullopt when it does not exist (or was deleted).
  /// Errors: DependencyUnavailable when Postgres is down.
  virtual boost::asio::awaitable<std::optional<EventInfo>> FindEvent(std::string event_id) = 0;
  /// Resolves seat ids of an event to grades and prices with their live
  /// status, from the in-memory seat index (no database round trip).
  /// FindEvent of an event on sale loads its index asynchronously, so call it
  /// first on an I/O thread; otherwise the first call for an event loads the
  /// index from Postgres on the calling thread.
  virtual SeatResolution ResolveSeats(const std::string& event_id, const std::vector<std::string>& seat_ids) = 0;
};

/// Live seat-state updates from the reservation module. Idempotent and
/// order-free: each call states what one reservation now claims, so the same
/// call twice, or calls of different reservations in any order, converge on
/// the truth (a late release of an old hold never frees a newer one).
class SeatMapFeed {
 public:
  virtual ~SeatMapFeed() = default;
  /// A hold or seat change of `reservation_id` at `fence` (the reservation's
  /// fence after the change): `seat_ids` is every seat it now holds (HELD);
  /// seats it held before and not now (`released_seat_ids`) are no longer its.
  /// A change older than one already shown for the reservation (a smaller
  /// fence), or after it was sold or ended, is ignored.
  virtual void SeatsHeld(const std::string& event_id, const std::string& reservation_id, std::int64_t fence,
                         const std::vector<std::string>& seat_ids,
                         const std::vector<std::string>& released_seat_ids) = 0;
  /// The reservation ended (released, expired, cancelled, payment failed or
  /// refunded): every seat it claims is no longer its (whatever `seat_ids`
  /// says), and no later change about it applies.
  virtual void SeatsReleased(const std::string& event_id, const std::string& reservation_id,
                             const std::vector<std::string>& seat_ids) = 0;
};

/// One held seat of an active reservation, with the reservation's fence (its
/// seat-set version) at the time of the read.
struct ActiveHold {
  std::string reservation_id;
  std::string seat_id;
  std::int64_t fence = 0;
};

/// Where a seat map being loaded learns the seats currently held (HELD lives
/// in reservation, not in catalog): every active reservation's seats. Called
/// on a database thread; blocking is fine. The map applies them like any
/// other hold (a reservation that ended or changed its seats since the read
/// keeps its newer state).
class HeldSeatsSource {
 public:
  virtual ~HeldSeatsSource() = default;
  virtual std::vector<ActiveHold> ActiveHoldsSync(const std::string& event_id) = 0;
};

}  // namespace ticketd::catalog
