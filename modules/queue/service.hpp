#pragma once
// The waiting room: enter / status / leave, the admission scheduler (one
// leader per event across instances, by Postgres advisory lock), tokens, the
// per-event in-memory index and its sync from Postgres, SSE subscribers and
// the admin operations.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "queue/index.hpp"
#include "queue/inputs.hpp"
#include "queue/options.hpp"
#include "ticketd/catalog/catalog.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/events.hpp"
#include "ticketd/core/stream.hpp"
#include "ticketd/queue/queue.hpp"

namespace ticketd::metrics {
class Counter;
class Registry;
}

namespace ticketd::queue {

using Clock = std::chrono::system_clock;

/// The body of enter/status (API.md "Waiting room").
struct Answer {
  std::string event_id;
  EntryStatus status = EntryStatus::kWaiting;
  std::int64_t position = 0;
  std::int64_t ahead = 0;
  std::int64_t estimated_wait_seconds = 0;
  int next_poll_seconds = 1;
  std::string token;  // qr_… when ADMITTED
  Clock::time_point token_expires_at{};
};

class QueueService final : public QueueTokens {
 public:
  QueueService(QueueOptions options, db::Pool& pool, catalog::CatalogReader& catalog, metrics::Registry* registry);
  ~QueueService() override;
  QueueService(const QueueService&) = delete;
  QueueService& operator=(const QueueService&) = delete;

  /// Rebuilds the index from Postgres (in the background, retried while the
  /// database is unreachable), then runs the sync and scheduler threads.
  void Start();
  void Stop();
  /// True once the index has been rebuilt.
  [[nodiscard]] bool ready() const { return ready_.load(); }

  // ---- the routes ----
  /// Errors (ApiError): NOT_FOUND (no such event), SALE_NOT_OPEN 409,
  /// ALREADY_IN_OTHER_QUEUE 409, QUEUE_FULL 503. Idempotent.
  boost::asio::awaitable<Answer> Enter(std::string event_id, std::string user_id);
  /// NOT_FOUND when the user is not waiting or admitted in this room.
  boost::asio::awaitable<Answer> Status(std::string event_id, std::string user_id);
  /// NOT_FOUND when the user is not waiting or admitted in this room.
  boost::asio::awaitable<void> Leave(std::string event_id, std::string user_id);

  /// SSE: a stream slot for `user`, counted across every instance (table
  /// queue.streams); nullopt when the user already holds
  /// `max_streams_per_user`. Every slot returned is released once, by id.
  boost::asio::awaitable<std::optional<std::string>> ReserveStream(const UserKey& user);
  void ReleaseStream(const std::string& stream_id);
  /// Registers a stream's writer so an admission (or leaving) wakes it at once.
  void AttachStream(const UserKey& user, const std::shared_ptr<http::StreamWriter>& writer);
  void DetachStream(const UserKey& user, const std::shared_ptr<http::StreamWriter>& writer);
  [[nodiscard]] const QueueOptions& options() const { return options_; }

  boost::asio::awaitable<boost::json::object> AdminStats(std::string event_id);
  boost::asio::awaitable<boost::json::object> AdminUpdate(std::string event_id, SettingsPatch patch);
  /// Ends every WAITING/ADMITTED entry of the room (status CLEARED) and
  /// revokes unused reservation tokens; returns how many entries ended.
  boost::asio::awaitable<std::int64_t> AdminClear(std::string event_id);

  // ---- QueueTokens ----
  boost::asio::awaitable<TokenCheck> ValidateReservationToken(std::string token, std::string user_id,
                                                              std::string event_id) override;
  boost::asio::awaitable<std::string> IssuePaymentToken(std::string user_id, std::string event_id,
                                                        std::string reservation_id, std::chrono::seconds ttl) override;
  boost::asio::awaitable<TokenCheck> ValidatePaymentToken(std::string token, std::string user_id,
                                                          std::string reservation_id) override;
  boost::asio::awaitable<TokenCheck> Consume(std::string token, std::string user_id) override;
  boost::asio::awaitable<int> ConsumePaymentTokens(std::string reservation_id) override;
  /// Consumer effect for reservation.events (in the consumer's transaction):
  /// a confirmed reservation's qp_ tokens are used up. Not earlier (at the
  /// payment's success): a payment for seats changed since is refused and
  /// refunded, and the customer pays for the new seats with the same token.
  void OnReservationConfirmed(pqxx::work& tx, const events::Envelope& e);

  // ---- background steps (public for tests; the threads call them) ----
  /// Loads rooms and live entries into a fresh index. Blocking.
  void RebuildSync();
  /// Reads changes made since the last sync (any instance) into the index:
  /// the entries, and with `full` the rooms and admission batches. Blocking.
  void SyncOnce(bool full = true);
  /// Resumes once a sync that started after this call has been applied: the
  /// index then holds every change committed before the call, by any
  /// instance (a read barrier; concurrent callers share one sync). If that
  /// sync fails (Postgres unreachable: nobody can change the room), the
  /// index stays as last read.
  boost::asio::awaitable<void> AwaitFresh();
  /// Writes the coalesced last-seen refreshes. Blocking.
  void FlushTouches();
  /// One scheduler pass over every room: take leadership where free, then
  /// expire, drop stale users, shuffle, admit. Blocking. Returns the number admitted.
  std::int64_t SchedulerTick();
  /// Events this instance currently leads.
  [[nodiscard]] std::set<std::string> LeadEvents() const;
  /// Approximate index memory (bytes) and live entries, over all rooms.
  [[nodiscard]] std::pair<std::size_t, std::size_t> IndexFootprint() const;

 private:
  struct Room;
  struct CachedEvent {
    std::optional<catalog::EventInfo> info;
    std::chrono::steady_clock::time_point fetched{};
  };

  struct PendingEnter;
  void EnterWriterLoop();
  void WriteEnters(const std::vector<std::shared_ptr<PendingEnter>>& batch);

  std::shared_ptr<Room> FindRoom(const std::string& event_id) const;
  std::shared_ptr<Room> GetOrCreateRoom(const std::string& event_id);
  boost::asio::awaitable<std::optional<catalog::EventInfo>> LoadEvent(const std::string& event_id);
  void ApplyRow(const std::string& event_id, const UserKey& user, std::int64_t seq, EntryStatus status,
                std::int64_t change_id, const std::string& token, std::int64_t token_expires_micros,
                std::vector<UserKey>* admitted);
  std::optional<Answer> AnswerFromIndex(const std::string& event_id, const UserKey& user);
  void Touch(const std::string& event_id, const UserKey& user);
  void WakeUsers(const std::vector<UserKey>& users);
  std::int64_t TickRoom(pqxx::connection& conn, const std::string& event_id);
  void SyncLoop();
  void SchedulerLoop();
  /// The body of a sync, in `tx`, under sync_mu_: entries changed since the
  /// cursor (in rounds until caught up), rooms, admission batches.
  void SyncDelta(pqxx::work& tx, bool full = true);
  /// Deletes released stream slots, extends the open ones (sync thread).
  void MaintainStreams(bool refresh);

  QueueOptions options_;
  db::Pool& pool_;
  catalog::CatalogReader& catalog_;

  mutable std::shared_mutex rooms_mu_;
  std::unordered_map<std::string, std::shared_ptr<Room>> rooms_;

  std::mutex events_mu_;
  std::unordered_map<std::string, CachedEvent> events_;

  std::mutex touch_mu_;
  std::unordered_map<std::string, std::vector<UserKey>> touches_;

  std::mutex subs_mu_;
  struct Subscriber {
    std::vector<std::shared_ptr<http::StreamWriter>> writers;
  };
  std::unordered_map<UserKey, Subscriber, UserKeyHash> subs_;
  // Stream slots of this process in queue.streams (under subs_mu_): the open
  // ones (their expiry is extended) and the released ones not deleted yet.
  std::string instance_id_;
  std::set<std::string> open_streams_;
  std::vector<std::string> released_streams_;

  // Sync cursor (under sync_mu_).
  std::mutex sync_mu_;
  std::int64_t change_cursor_ = 0;
  std::map<std::int64_t, std::chrono::steady_clock::time_point> gaps_;
  std::int64_t admissions_cursor_ = 0;

  // Scheduler (under tick_mu_; leading_ under leader_mu_).
  std::mutex tick_mu_;
  std::unique_ptr<pqxx::connection> leader_conn_;
  mutable std::mutex leader_mu_;
  std::set<std::string> leading_;
  std::map<std::string, double> allowance_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_drop_;
  std::chrono::steady_clock::time_point last_tick_{};

  // Entering is group-committed: concurrent enters share one transaction
  // (one fsync) on a couple of writer threads.
  std::mutex enter_mu_;
  std::condition_variable enter_cv_;
  std::deque<std::shared_ptr<PendingEnter>> enter_queue_;
  bool enter_stopping_ = false;
  std::vector<std::thread> enter_writers_;

  // Metrics (null without a registry): the gauges are refreshed at scrape time.
  void RegisterMetrics(metrics::Registry& registry);
  metrics::Counter* admitted_total_ = nullptr;
  metrics::Counter* entered_total_ = nullptr;
  std::atomic<std::int64_t> streams_open_{0};

  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  // Read barriers (under fresh_mu_): syncs started, waiters for a later one.
  struct FreshWaiter {
    std::int64_t after = 0;
    std::function<void()> complete;
  };
  std::mutex fresh_mu_;
  std::condition_variable fresh_cv_;
  std::int64_t syncs_started_ = 0;
  bool sync_requested_ = false;
  bool sync_running_ = false;
  std::vector<FreshWaiter> fresh_waiters_;
  std::thread sync_thread_;
  std::thread scheduler_thread_;
};

}  // namespace ticketd::queue
