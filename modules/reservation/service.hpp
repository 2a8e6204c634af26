#pragma once
// The reservation service: holds, seat changes, releases, cancellations,
// reads, the expiry sweeper and the saga steps driven by payment and catalog
// events. Every state change and its domain event commit in one transaction;
// the unique partial index on active seat rows is what makes double selling
// impossible (everything else only makes it fast or friendly).

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ticketd/catalog/catalog.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/events.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/queue/queue.hpp"
#include "ticketd/reservation/reservation.hpp"

namespace ticketd::reservation {

struct ReservationOptions {
  std::chrono::seconds hold_ttl{300};
  int max_seats_per_user = 4;
  std::chrono::milliseconds sweep_interval{1000};
  /// Cancellation closes on the show's calendar day in this UTC offset (Asia/Seoul: +540).
  int venue_utc_offset_minutes = 540;
  std::chrono::hours idempotency_retention{24};
  /// A request still IN_PROGRESS after this long is taken to have died; its key can be retried.
  std::chrono::seconds idempotency_stale{60};
};

/// A finished HTTP answer (what idempotent replays return).
struct Answer {
  int status = 200;
  std::string body;  // JSON (problem+json when status >= 400)
  std::string location;
};

struct HoldInput {
  std::string user_id;
  std::string request_id;
  std::string queue_token;
  std::string idempotency_key;
  std::string event_id;
  std::vector<std::string> seat_ids;
};

class ReservationService final : public ReservationReader, public catalog::HeldSeatsSource {
 public:
  ReservationService(ReservationOptions options, db::Pool& pool, catalog::CatalogReader& catalog,
                     catalog::SeatMapFeed& seat_map, queue::QueueTokens& tokens, metrics::Registry* registry);
  ~ReservationService() override;

  boost::asio::awaitable<Answer> Hold(HoldInput in);
  boost::asio::awaitable<boost::json::object> ChangeSeats(std::string user_id, std::string reservation_id,
                                                          std::vector<std::string> seat_ids);
  boost::asio::awaitable<void> Release(std::string user_id, std::string reservation_id);
  boost::asio::awaitable<Answer> Cancel(std::string user_id, std::string reservation_id, std::string request_id,
                                        std::string idempotency_key);
  boost::asio::awaitable<boost::json::object> Get(std::string user_id, std::string reservation_id);
  boost::asio::awaitable<boost::json::object> List(std::string user_id, std::optional<std::string> status, int page,
                                                   int size);

  // ReservationReader
  boost::asio::awaitable<std::optional<ReservationSummary>> FindReservation(std::string reservation_id) override;
  // catalog::HeldSeatsSource (seat maps loading in catalog)
  std::vector<catalog::ActiveHold> ActiveHoldsSync(const std::string& event_id) override;

  // Saga steps (consumer group ticketd.reservation), run in the consumer's transaction.
  void OnPaymentSucceeded(pqxx::work& tx, const events::Envelope& e);
  void OnPaymentFailed(pqxx::work& tx, const events::Envelope& e);
  void OnPaymentRefunded(pqxx::work& tx, const events::Envelope& e);
  void OnEventCancelled(pqxx::work& tx, const events::Envelope& e);

  /// Expires PENDING reservations past their hold (several instances share the
  /// work: FOR UPDATE SKIP LOCKED). Returns how many expired. Blocking.
  int SweepOnce();
  void Start();
  void Stop();

 private:
  struct Resolved {
    std::vector<catalog::SeatQuote> seats;
    std::int64_t total = 0;
  };
  boost::asio::awaitable<Resolved> ResolveForHold(const std::string& event_id, const std::vector<std::string>& seat_ids);
  /// One hold attempt. With `claim_hash`, the Idempotency-Key is claimed in
  /// the hold's transaction (nullopt: the key exists already; `*claimed` is set
  /// once the claim committed).
  boost::asio::awaitable<std::optional<Answer>> HoldOnce(HoldInput in, const std::string* claim_hash, bool* claimed);
  boost::asio::awaitable<Answer> CancelOnce(std::string user_id, std::string reservation_id);
  /// One try of CancelOnce; nullopt when the reservation changed between the
  /// checks and the row lock (`last`: answer from the state found instead).
  boost::asio::awaitable<std::optional<Answer>> CancelAttempt(const std::string& user_id,
                                                              const std::string& reservation_id, bool last);
  boost::asio::awaitable<Answer> Idempotent(std::string user_id, std::string key, std::string operation,
                                            std::string request_hash, std::string request_id,
                                            std::function<boost::asio::awaitable<Answer>()> work);
  boost::asio::awaitable<void> ForgetKey(const std::string& user_id, const std::string& key);
  boost::asio::awaitable<void> RecordAnswer(const std::string& user_id, const std::string& key, const Answer& answer);
  /// Stores a definite failure as the key's answer, or settles against what the key holds already.
  boost::asio::awaitable<Answer> RememberFailure(const std::string& user_id, const std::string& key,
                                                 const std::string& operation, const std::string& request_hash,
                                                 Answer answer);
  /// Ends an active reservation in `tx`: status, seats inactive, the domain event.
  /// Returns the seat ids released.
  std::vector<std::string> EndReservation(pqxx::work& tx, const std::string& reservation_id, const std::string& status,
                                          const std::string& reason, const events::Metadata& meta);
  void SweepLoop();

  ReservationOptions options_;
  db::Pool& pool_;
  catalog::CatalogReader& catalog_;
  catalog::SeatMapFeed& seat_map_;
  queue::QueueTokens& tokens_;
  metrics::Counter* holds_ok_ = nullptr;
  metrics::Counter* holds_conflict_ = nullptr;
  metrics::Counter* expired_ = nullptr;
  metrics::Counter* confirmed_ = nullptr;
  metrics::Counter* rejected_ = nullptr;
  std::thread sweeper_;
  std::atomic<bool> stop_{false};
};

}  // namespace ticketd::reservation
