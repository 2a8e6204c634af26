#include "queue/service.hpp"

#include <malloc.h>
#include <openssl/rand.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <pqxx/pqxx>
#include <stdexcept>
#include <tuple>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "ticketd/core/crypto.hpp"
#include "ticketd/core/error.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/log.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/time.hpp"

namespace ticketd::queue {

namespace json = boost::json;
using namespace std::chrono_literals;
using Awaitable = boost::asio::awaitable<Answer>;

const char* ToString(TokenCheck check) {
  switch (check) {
    case TokenCheck::kOk: return "ok";
    case TokenCheck::kInvalid: return "invalid";
    case TokenCheck::kWrongUser: return "wrong_user";
    case TokenCheck::kWrongEvent: return "wrong_event";
    case TokenCheck::kExpired: return "expired";
    case TokenCheck::kUsed: return "used";
  }
  return "invalid";
}

namespace {

constexpr std::size_t kTokenChars = 43;  // base64url of 32 bytes, no padding

// ---- tokens ----

std::string NewToken(std::string_view prefix) {
  return std::string(prefix) + crypto::RandomToken();
}

bool WellFormedToken(std::string_view token, std::string_view prefix) {
  if (token.size() != prefix.size() + kTokenChars || !token.starts_with(prefix)) return false;
  return std::all_of(token.begin() + static_cast<std::ptrdiff_t>(prefix.size()), token.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// Uniform in [0, bound) from the CSPRNG (rejection sampling).
std::uint64_t SecureUniform(std::uint64_t bound) {
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  for (;;) {
    std::uint64_t v = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) throw std::runtime_error("RAND_bytes failed");
    if (v < limit) return v % bound;
  }
}

std::int64_t NowMicros() { return ToMicros(Clock::now()); }

std::string SqlArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += items[i];
  }
  out += '}';
  return out;
}

std::string Opt(const std::optional<int>& v) { return v ? std::to_string(*v) : std::string(); }
std::string Opt(const std::optional<std::string>& v) { return v.value_or(""); }

std::optional<int> OptInt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int>();
}
std::optional<std::string> OptString(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

// ---- rooms ----

struct RoomRow {
  bool known = false;  // a queue.rooms row exists
  std::int64_t sale_starts_micros = 0;
  std::int64_t sale_ends_micros = 0;
  catalog::QueueSettings event;
  SettingsPatch overrides;
  bool shuffled = false;
};

constexpr const char* kRoomColumns =
    "event_id::text, (extract(epoch from sale_starts_at) * 1e6)::bigint, (extract(epoch from sale_ends_at) * 1e6)::bigint, "
    "event_rate, event_max_active, event_capacity, event_method, event_pre_queue_min, "
    "rate, max_active, capacity, token_ttl_seconds, pre_queue_minutes, method, paused, shuffled_at IS NOT NULL";

RoomRow ParseRoom(const pqxx::row& r) {
  RoomRow row;
  row.known = true;
  row.sale_starts_micros = r[1].as<std::int64_t>();
  row.sale_ends_micros = r[2].as<std::int64_t>();
  row.event.admission_rate_per_second = OptInt(r[3]);
  row.event.max_active = OptInt(r[4]);
  row.event.capacity = OptInt(r[5]);
  row.event.method = OptString(r[6]);
  row.event.pre_queue_minutes = OptInt(r[7]);
  row.overrides.admission_rate_per_second = OptInt(r[8]);
  row.overrides.max_active = OptInt(r[9]);
  row.overrides.capacity = OptInt(r[10]);
  row.overrides.token_ttl_seconds = OptInt(r[11]);
  row.overrides.pre_queue_minutes = OptInt(r[12]);
  row.overrides.method = OptString(r[13]);
  row.overrides.paused = r[14].as<bool>();
  row.shuffled = r[15].as<bool>();
  return row;
}

RoomSettings Effective(const RoomSettings& defaults, const RoomRow& r) {
  RoomSettings s = defaults;
  const auto& e = r.event;
  if (e.admission_rate_per_second) s.admission_rate_per_second = *e.admission_rate_per_second;
  if (e.max_active) s.max_active = *e.max_active;
  if (e.capacity) s.capacity = *e.capacity;
  if (e.method) s.method = *e.method;
  if (e.pre_queue_minutes) s.pre_queue_minutes = *e.pre_queue_minutes;
  const auto& o = r.overrides;
  if (o.admission_rate_per_second) s.admission_rate_per_second = *o.admission_rate_per_second;
  if (o.max_active) s.max_active = *o.max_active;
  if (o.capacity) s.capacity = *o.capacity;
  if (o.token_ttl_seconds) s.token_ttl_seconds = *o.token_ttl_seconds;
  if (o.pre_queue_minutes) s.pre_queue_minutes = *o.pre_queue_minutes;
  if (o.method) s.method = *o.method;
  s.paused = o.paused.value_or(false);
  return s;
}

// What the room row records from the catalog, to notice changes.
std::string CatalogSignature(const catalog::EventInfo& e) {
  const auto& q = e.queue;
  return fmt::format("{}|{}|{}|{}|{}|{}|{}", ToMicros(e.sale_starts_at), ToMicros(e.sale_ends_at), Opt(q.admission_rate_per_second),
                     Opt(q.max_active), Opt(q.capacity), Opt(q.method), Opt(q.pre_queue_minutes));
}

struct EntryRow {
  std::string event_id;
  UserKey user;
  std::int64_t seq = 0;
  EntryStatus status = EntryStatus::kWaiting;
  std::int64_t change_id = 0;
  std::string token;
  std::int64_t token_expires_micros = 0;
};

constexpr const char* kEntryColumns =
    "event_id::text, user_id::text, seq, status, change_id, coalesce(token, ''), "
    "coalesce((extract(epoch from token_expires_at) * 1e6)::bigint, 0)";

std::optional<EntryRow> ParseEntry(const pqxx::row& r) {
  EntryRow e;
  e.event_id = r[0].as<std::string>();
  const auto user = ParseUserKey(r[1].as<std::string>());
  const auto status = ParseEntryStatus(r[3].as<std::string>());
  if (!user || !status) return std::nullopt;
  e.user = *user;
  e.seq = r[2].as<std::int64_t>();
  e.status = *status;
  e.change_id = r[4].as<std::int64_t>();
  e.token = r[5].as<std::string>();
  e.token_expires_micros = r[6].as<std::int64_t>();
  return e;
}

Problem SaleNotOpen(std::string detail) { return problems::Make(409, "SALE_NOT_OPEN", "Sale not open", std::move(detail)); }
Problem NotInQueue() { return problems::NotFound("You are not waiting in this room"); }

}  // namespace

struct QueueService::Room {
  std::mutex mu;
  RoomIndex index;
  RateWindow rate;
  struct Admission {
    std::string token;
    std::int64_t expires_micros = 0;
  };
  std::unordered_map<UserKey, Admission, UserKeyHash> admissions;
  RoomRow row;
  std::string catalog_signature;  // of the catalog data written to the row by this instance
};

struct QueueService::PendingEnter {
  std::string event_id;
  std::string user_id;
  bool pre_queue = false;
  std::int64_t estimate_seconds = 0;
  int capacity = 0;  // as this instance saw the room; the writer re-reads the room row
  // The catalog's sale window and queue settings, when this instance has not
  // written them to queue.rooms yet (a first enter, or the event changed).
  struct RoomUpsert {
    std::int64_t sale_starts_micros = 0;
    std::int64_t sale_ends_micros = 0;
    std::string rate, max_active, capacity, method, pre_queue_minutes;  // "" = not set by the event
  };
  std::optional<RoomUpsert> room;
  // results
  std::optional<EntryRow> entry;
  bool full = false;
  bool other_room = false;
  std::exception_ptr error;
  std::function<void()> complete;
};

QueueService::QueueService(QueueOptions options, db::Pool& pool, catalog::CatalogReader& catalog,
                           metrics::Registry* registry)
    : options_(std::move(options)), pool_(pool), catalog_(catalog), instance_id_(NewUuid()) {
  if (registry != nullptr) RegisterMetrics(*registry);
  for (int i = 0; i < 2; ++i) enter_writers_.emplace_back([this] { EnterWriterLoop(); });
}

void QueueService::RegisterMetrics(metrics::Registry& registry) {
  admitted_total_ = &registry.GetCounter("ticketd_queue_admitted_total",
                                         "Users admitted by this instance's schedulers (all rooms)");
  entered_total_ = &registry.GetCounter("ticketd_queue_entered_total", "New waiting-room entries written by this instance");
  auto& streams = registry.GetGauge("ticketd_queue_streams", "Open waiting-room SSE streams on this instance");
  auto& leading = registry.GetGauge("ticketd_queue_rooms_led", "Rooms whose admission scheduler runs on this instance");
  // Per room (label event_id): the index is synced from Postgres, so every
  // instance reports the whole room, not only its own users. A room that is
  // gone (its sale over, nobody waiting or holding a token) has its series
  // removed, so they do not pile up over the site's life.
  auto reported = std::make_shared<std::pair<std::mutex, std::set<std::string>>>();
  registry.OnCollect([this, &registry, &streams, &leading, reported] {
    std::vector<std::pair<std::string, std::shared_ptr<Room>>> rooms;
    {
      std::shared_lock lock(rooms_mu_);
      rooms.assign(rooms_.begin(), rooms_.end());
    }
    std::set<std::string> now;
    for (const auto& [event_id, room] : rooms) {
      std::int64_t waiting = 0;
      std::int64_t admitted = 0;
      std::int64_t sale_ends_micros = 0;
      {
        std::lock_guard lock(room->mu);
        waiting = room->index.waiting();
        admitted = room->index.admitted();
        sale_ends_micros = room->row.sale_ends_micros;
      }
      // Gone: the sale is over and nobody waits or holds a token.
      if (sale_ends_micros != 0 && sale_ends_micros < NowMicros() && waiting == 0 && admitted == 0) continue;
      const metrics::Labels labels{{"event_id", event_id}};
      registry.GetGauge("ticketd_queue_waiting", "Users waiting, per room", labels).Set(static_cast<double>(waiting));
      registry.GetGauge("ticketd_queue_tokens_unused", "Users admitted holding an unused token, per room", labels)
          .Set(static_cast<double>(admitted));
      now.insert(event_id);
    }
    {
      std::lock_guard lock(reported->first);
      for (const auto& gone : reported->second) {
        if (now.contains(gone)) continue;
        registry.Remove("ticketd_queue_waiting", {{"event_id", gone}});
        registry.Remove("ticketd_queue_tokens_unused", {{"event_id", gone}});
      }
      reported->second = std::move(now);
    }
    streams.Set(static_cast<double>(streams_open_.load()));
    leading.Set(static_cast<double>(LeadEvents().size()));
  });
}

QueueService::~QueueService() { Stop(); }

void QueueService::Start() {
  if (sync_thread_.joinable()) return;
  stopping_ = false;
  {
    std::lock_guard lock(fresh_mu_);
    sync_running_ = true;
  }
  sync_thread_ = std::thread([this] { SyncLoop(); });
  scheduler_thread_ = std::thread([this] { SchedulerLoop(); });
}

void QueueService::Stop() {
  stopping_ = true;
  wake_cv_.notify_all();
  {
    std::lock_guard lock(fresh_mu_);  // no lost wake-up between the loop's check and its wait
  }
  fresh_cv_.notify_all();
  {
    std::lock_guard lock(enter_mu_);
    enter_stopping_ = true;
  }
  enter_cv_.notify_all();
  for (auto& t : enter_writers_) {
    if (t.joinable()) t.join();
  }
  if (sync_thread_.joinable()) sync_thread_.join();
  if (scheduler_thread_.joinable()) scheduler_thread_.join();
  if (ready_.load()) {
    try {
      FlushTouches();
    } catch (const std::exception& e) {
      log::Warn("queue: last-seen flush failed at stop", {{"error", e.what()}});
    }
    try {  // this process's stream slots end with it (after a kill -9 they expire)
      pool_.TransactSync(
          [&](pqxx::work& tx) { tx.exec_params0("DELETE FROM queue.streams WHERE instance_id = $1", instance_id_); });
    } catch (const std::exception& e) {
      log::Warn("queue: stream slots not released at stop; they expire", {{"error", e.what()}});
    }
  }
  std::lock_guard tick_lock(tick_mu_);
  leader_conn_.reset();  // ends the session: its advisory locks go with it
  std::lock_guard lock(leader_mu_);
  leading_.clear();
}

// ---- rooms and the index ----

std::shared_ptr<QueueService::Room> QueueService::FindRoom(const std::string& event_id) const {
  std::shared_lock lock(rooms_mu_);
  auto it = rooms_.find(event_id);
  return it == rooms_.end() ? nullptr : it->second;
}

std::shared_ptr<QueueService::Room> QueueService::GetOrCreateRoom(const std::string& event_id) {
  if (auto room = FindRoom(event_id)) return room;
  std::unique_lock lock(rooms_mu_);
  auto& slot = rooms_[event_id];
  if (!slot) slot = std::make_shared<Room>();
  return slot;
}

void QueueService::ApplyRow(const std::string& event_id, const UserKey& user, std::int64_t seq, EntryStatus status,
                            std::int64_t change_id, const std::string& token, std::int64_t token_expires_micros,
                            std::vector<UserKey>* admitted) {
  auto room = GetOrCreateRoom(event_id);
  std::lock_guard lock(room->mu);
  const auto before = room->index.Find(user);
  if (!room->index.Apply(user, seq, status, change_id)) return;
  if (status == EntryStatus::kAdmitted && !token.empty()) {
    room->admissions[user] = Room::Admission{token, token_expires_micros};
    if (admitted != nullptr && (!before || before->status != EntryStatus::kAdmitted)) admitted->push_back(user);
  } else {
    room->admissions.erase(user);
    // Leaving the room (or being dropped) ends a stream too.
    if (admitted != nullptr && before && !IsLive(status)) admitted->push_back(user);
  }
}

std::optional<Answer> QueueService::AnswerFromIndex(const std::string& event_id, const UserKey& user) {
  auto room = FindRoom(event_id);
  if (!room) return std::nullopt;
  const std::int64_t now_micros = NowMicros();
  std::lock_guard lock(room->mu);
  const auto place = room->index.Find(user);
  if (!place) return std::nullopt;
  Answer a;
  a.event_id = event_id;
  a.status = place->status;
  if (place->status == EntryStatus::kAdmitted) {
    auto it = room->admissions.find(user);
    if (it == room->admissions.end()) return std::nullopt;  // token not known here yet: read it from the database
    a.token = it->second.token;
    a.token_expires_at = Clock::time_point(std::chrono::microseconds(it->second.expires_micros));
    a.next_poll_seconds = 60;
    return a;
  }
  const auto settings = Effective(options_.defaults, room->row);
  a.position = place->position;
  a.ahead = std::max<std::int64_t>(0, place->position - 1);
  const std::int64_t now_s = now_micros / 1000000;
  const double rate = room->rate.Rate(now_s, options_.estimate_window.count())
                          .value_or(static_cast<double>(std::max(1, settings.admission_rate_per_second)));
  // Admitted in the batch that reaches my position: ahead / rate, rounded up.
  double wait = std::ceil(static_cast<double>(a.ahead + 1) / std::max(rate, 0.001));
  if (room->row.known && now_micros < room->row.sale_starts_micros) {
    wait += std::ceil(static_cast<double>(room->row.sale_starts_micros - now_micros) / 1e6);
  }
  a.estimated_wait_seconds = static_cast<std::int64_t>(wait);
  a.next_poll_seconds = NextPollSeconds(place->position);
  return a;
}

void QueueService::Touch(const std::string& event_id, const UserKey& user) {
  std::lock_guard lock(touch_mu_);
  touches_[event_id].push_back(user);
}

boost::asio::awaitable<std::optional<catalog::EventInfo>> QueueService::LoadEvent(const std::string& event_id) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(events_mu_);
    auto it = events_.find(event_id);
    if (it != events_.end() && now - it->second.fetched < 1s) co_return it->second.info;
  }
  std::string id = event_id;
  auto info = co_await catalog_.FindEvent(std::move(id));
  {
    std::lock_guard lock(events_mu_);
    if (events_.size() > 10000) events_.clear();
    events_[event_id] = CachedEvent{info, now};
  }
  co_return info;
}

// ---- enter / status / leave ----

namespace {

// Places come from a sequence; two enter transactions committing out of
// order would let the scheduler admit a later place before an earlier one
// becomes visible (seen by the flash-sale benchmark: 2 of 50,000). Taking the
// places under one transaction-scoped lock, across every instance, makes
// commit order equal place order.
void LockEnterOrder(pqxx::work& tx) {
  tx.exec("SELECT pg_advisory_xact_lock(hashtextextended('ticketd.queue.enter_order', 0))");
}

}  // namespace

Awaitable QueueService::Enter(std::string event_id, std::string user_id) {
  const auto user = ParseUserKey(user_id);
  if (!user) throw ApiError(problems::Unauthenticated());
  user_id = ToString(*user);  // canonical (lower-case) forms: the keys of the batch below
  if (const auto event_key = ParseUserKey(event_id)) event_id = ToString(*event_key);
  if (!ready()) throw ApiError(problems::ServiceUnavailable("The waiting room is starting; try again", 2));
  const auto event = co_await LoadEvent(event_id);
  if (!event) throw ApiError(problems::NotFound("No event " + event_id));
  auto room = GetOrCreateRoom(event_id);
  const std::string signature = CatalogSignature(*event);
  bool write_room = false;
  RoomSettings settings;
  std::int64_t waiting = 0;
  {
    std::lock_guard lock(room->mu);
    if (room->catalog_signature != signature) {
      write_room = true;
      room->row.sale_starts_micros = ToMicros(event->sale_starts_at);
      room->row.sale_ends_micros = ToMicros(event->sale_ends_at);
      room->row.event = event->queue;
    }
    settings = Effective(options_.defaults, room->row);
    waiting = room->index.waiting();
  }
  const auto now = Clock::now();
  const auto opens_at = event->sale_starts_at - std::chrono::minutes(settings.pre_queue_minutes);
  if (event->cancelled) throw ApiError(SaleNotOpen("The event was cancelled"));
  if (now < opens_at) throw ApiError(SaleNotOpen("The waiting room opens at " + FormatRfc3339(opens_at)));
  if (now >= event->sale_ends_at) throw ApiError(SaleNotOpen("The sale has ended"));

  // The index as of after this request arrived (every instance's changes):
  // a customer who was admitted, used the token or left through another
  // instance a moment ago is answered from the truth, not a stale copy.
  co_await AwaitFresh();
  if (!write_room) {
    if (auto a = AnswerFromIndex(event_id, *user)) {  // idempotent: the same place
      Touch(event_id, *user);
      co_return *a;
    }
  }
  {
    std::lock_guard lock(room->mu);
    waiting = room->index.waiting();
  }
  const bool pre_queue = now < event->sale_starts_at;
  const double rate = static_cast<double>(std::max(1, settings.admission_rate_per_second));
  const auto estimate_seconds =
      static_cast<std::int64_t>(std::ceil(static_cast<double>(waiting + 1) / rate)) +
      (pre_queue ? std::chrono::duration_cast<std::chrono::seconds>(event->sale_starts_at - now).count() : 0);

  // Group-committed with other arrivals; the writer checks the capacity
  // exactly, across instances, under the enter-order lock.
  auto pending = std::make_shared<PendingEnter>();
  pending->event_id = event_id;
  pending->user_id = user_id;
  pending->pre_queue = pre_queue;
  pending->estimate_seconds = estimate_seconds;
  pending->capacity = settings.capacity;
  if (write_room) {
    pending->room = PendingEnter::RoomUpsert{ToMicros(event->sale_starts_at), ToMicros(event->sale_ends_at),
                                             Opt(event->queue.admission_rate_per_second), Opt(event->queue.max_active),
                                             Opt(event->queue.capacity), Opt(event->queue.method),
                                             Opt(event->queue.pre_queue_minutes)};
  }
  auto initiate = [this, pending](auto handler) {
    // Work stays tracked until the writer thread has let go of `complete`:
    // the caller's io_context cannot be destroyed while it is inside post().
    auto resume_on = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                         boost::asio::execution::outstanding_work.tracked);
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    pending->complete = [shared, resume_on]() { boost::asio::post(resume_on, [shared]() { (*shared)(); }); };
    bool accepted = false;
    {
      std::lock_guard lock(enter_mu_);
      if (!enter_stopping_) {
        enter_queue_.push_back(pending);
        accepted = true;
      }
    }
    if (accepted) {
      enter_cv_.notify_one();
    } else {
      pending->error = std::make_exception_ptr(DependencyUnavailable("postgres", "queue stopping"));
      pending->complete();
    }
  };
  co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(std::move(initiate),
                                                                                        boost::asio::use_awaitable);
  if (pending->error) std::rethrow_exception(pending->error);
  if (pending->other_room) {
    auto find_other = [&](pqxx::work& tx) {
      auto other = tx.exec_params("SELECT event_id::text FROM queue.entries WHERE user_id = $1 AND status IN ('WAITING', 'ADMITTED')",
                                  user_id);
      return other.empty() ? std::string("another event") : other[0][0].as<std::string>();
    };
    const auto other_event = co_await pool_.Transact(std::move(find_other));
    throw ApiError(problems::Make(409, "ALREADY_IN_OTHER_QUEUE", "Already in another waiting room",
                                  "You are already waiting for event " + other_event +
                                      "; leave that waiting room first"));
  }
  if (write_room) {  // the room row was written with the batch
    std::lock_guard lock(room->mu);
    room->row.known = true;
    room->catalog_signature = signature;
  }
  if (pending->full) {
    auto problem = problems::Make(503, "QUEUE_FULL", "Queue full", "The waiting room is full; try again later");
    problem.retry_after = 30;
    throw ApiError(std::move(problem));
  }
  if (!pending->entry) throw std::logic_error("queue: enter returned no entry");
  const auto& e = *pending->entry;
  ApplyRow(event_id, e.user, e.seq, e.status, e.change_id, e.token, e.token_expires_micros, nullptr);
  auto a = AnswerFromIndex(event_id, *user);
  if (!a) throw std::logic_error("queue: entry not in the index after enter");
  co_return *a;
}

void QueueService::EnterWriterLoop() {
  for (;;) {
    std::vector<std::shared_ptr<PendingEnter>> batch;
    {
      std::unique_lock lock(enter_mu_);
      enter_cv_.wait(lock, [this] { return enter_stopping_ || !enter_queue_.empty(); });
      if (enter_queue_.empty()) return;
      while (!enter_queue_.empty() && batch.size() < 1000) {
        batch.push_back(std::move(enter_queue_.front()));
        enter_queue_.pop_front();
      }
    }
    WriteEnters(batch);
    for (auto& p : batch) {
      // Moved out and dropped here: the tracked work on the caller's executor
      // ends with this thread's last touch of it, whoever holds `p` longer.
      auto complete = std::move(p->complete);
      complete();
    }
  }
}

void QueueService::WriteEnters(const std::vector<std::shared_ptr<PendingEnter>>& batch) {
  // One row per (event, user): a double click in the same batch shares the answer.
  std::map<std::pair<std::string, std::string>, std::size_t> first;
  std::vector<std::size_t> distinct;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (first.emplace(std::make_pair(batch[i]->event_id, batch[i]->user_id), i).second) distinct.push_back(i);
  }
  static const std::string insert_sql =
      std::string("INSERT INTO queue.entries (event_id, user_id, seq, status, pre_queue, estimated_admit_at, change_id) "
                  "SELECT x.e, x.u, nextval('queue.entry_seq'), 'WAITING', x.p, now() + x.s * interval '1 second', "
                  "nextval('queue.change_seq') FROM (SELECT e, u, p, s FROM unnest($1::uuid[], $2::uuid[], $3::boolean[], "
                  "$4::bigint[]) WITH ORDINALITY AS v(e, u, p, s, o) ORDER BY o) AS x "
                  "ON CONFLICT (event_id, user_id) DO UPDATE SET seq = EXCLUDED.seq, status = 'WAITING', "
                  "pre_queue = EXCLUDED.pre_queue, entered_at = now(), last_seen_at = now(), "
                  "estimated_admit_at = EXCLUDED.estimated_admit_at, admitted_at = NULL, ended_at = NULL, token = NULL, "
                  "token_expires_at = NULL, change_id = EXCLUDED.change_id "
                  "WHERE queue.entries.status NOT IN ('WAITING', 'ADMITTED') RETURNING ") +
      kEntryColumns;
  static const std::string select_sql = std::string("SELECT ") + kEntryColumns +
                                        " FROM queue.entries JOIN unnest($1::uuid[], $2::uuid[]) AS v(e, u) "
                                        "ON event_id = v.e AND user_id = v.u WHERE status IN ('WAITING', 'ADMITTED')";
  static const std::string upsert_room_sql =
      "INSERT INTO queue.rooms (event_id, sale_starts_at, sale_ends_at, event_rate, event_max_active, event_capacity, "
      "event_method, event_pre_queue_min) VALUES ($1, to_timestamp($2::bigint / 1e6), to_timestamp($3::bigint / 1e6), "
      "NULLIF($4, '')::int, NULLIF($5, '')::int, NULLIF($6, '')::int, NULLIF($7, ''), NULLIF($8, '')::int) "
      "ON CONFLICT (event_id) DO UPDATE SET sale_starts_at = EXCLUDED.sale_starts_at, sale_ends_at = EXCLUDED.sale_ends_at, "
      "event_rate = EXCLUDED.event_rate, event_max_active = EXCLUDED.event_max_active, event_capacity = EXCLUDED.event_capacity, "
      "event_method = EXCLUDED.event_method, event_pre_queue_min = EXCLUDED.event_pre_queue_min, updated_at = now()";
  std::set<std::string> other_rooms;                        // user ids refused: waiting elsewhere
  std::set<std::pair<std::string, std::string>> full;      // (event, user) refused: the room is full
  auto run = [&](const std::vector<std::size_t>& which) {
    std::size_t fresh = 0;  // rows the INSERT wrote (not the replays)
    std::set<std::pair<std::string, std::string>> full_now;
    auto written = pool_.TransactSync([&](pqxx::work& tx) {
      fresh = 0;
      full_now.clear();
      std::map<std::pair<std::string, std::string>, EntryRow> rows;
      std::set<std::string> upserted;
      for (auto i : which) {
        const auto& p = *batch[i];
        if (!p.room || !upserted.insert(p.event_id).second) continue;
        const auto& r = *p.room;
        tx.exec_params0(upsert_room_sql, p.event_id, r.sale_starts_micros, r.sale_ends_micros, r.rate, r.max_active,
                        r.capacity, r.method, r.pre_queue_minutes);
      }
      std::vector<std::string> events, users;
      for (auto i : which) {
        events.push_back(batch[i]->event_id);
        users.push_back(batch[i]->user_id);
      }
      // Users already waiting in another room are refused up front, so that
      // they do not fail the whole batch (a concurrent race still can: then
      // the caller goes one by one).
      std::set<std::string> elsewhere;
      for (const auto& r : tx.exec_params("SELECT v.u::text FROM unnest($1::uuid[], $2::uuid[]) AS v(e, u) JOIN queue.entries q "
                                          "ON q.user_id = v.u AND q.event_id <> v.e WHERE q.status IN ('WAITING', 'ADMITTED')",
                                          SqlArray(events), SqlArray(users))) {
        elsewhere.insert(r[0].as<std::string>());
      }
      for (const auto& u : elsewhere) other_rooms.insert(u);
      // Under the enter-order lock no other enter commits, on any instance;
      // read what was committed before it, and the room counts are exact.
      LockEnterOrder(tx);
      {
        std::lock_guard sync_lock(sync_mu_);
        SyncDelta(tx);
      }
      std::vector<std::string> ins_e, ins_u, ins_p, ins_s, live_e, live_u;
      std::map<std::string, std::int64_t> room_left;  // new places still free, per room
      for (auto i : which) {
        const auto& p = *batch[i];
        if (elsewhere.contains(p.user_id)) continue;
        const auto key = ParseUserKey(p.user_id);
        auto room = GetOrCreateRoom(p.event_id);
        bool live = false;
        {
          std::lock_guard lock(room->mu);
          const auto place = key ? room->index.Find(*key) : std::nullopt;
          live = place && IsLive(place->status);
          if (!room_left.contains(p.event_id)) {
            const int capacity = room->row.known ? Effective(options_.defaults, room->row).capacity : p.capacity;
            room_left[p.event_id] = capacity - room->index.waiting();
          }
        }
        if (live) {  // already in: the same place, whatever the capacity
          live_e.push_back(p.event_id);
          live_u.push_back(p.user_id);
          continue;
        }
        auto& left = room_left[p.event_id];
        if (left <= 0) {
          full_now.emplace(p.event_id, p.user_id);
          continue;
        }
        --left;
        ins_e.push_back(p.event_id);
        ins_u.push_back(p.user_id);
        ins_p.push_back(p.pre_queue ? "t" : "f");
        ins_s.push_back(std::to_string(p.estimate_seconds));
      }
      if (!ins_u.empty()) {
        for (const auto& r : tx.exec_params(insert_sql, SqlArray(ins_e), SqlArray(ins_u), SqlArray(ins_p), SqlArray(ins_s))) {
          if (auto e = ParseEntry(r)) rows[{e->event_id, ToString(e->user)}] = *e;
          ++fresh;
        }
        // A row the insert did not take is live already (the index had not
        // seen it): the same place.
        for (std::size_t k = 0; k < ins_u.size(); ++k) {
          if (!rows.contains({ins_e[k], ins_u[k]})) {
            live_e.push_back(ins_e[k]);
            live_u.push_back(ins_u[k]);
          }
        }
      }
      if (!live_u.empty()) {
        for (const auto& r : tx.exec_params(select_sql, SqlArray(live_e), SqlArray(live_u))) {
          if (auto e = ParseEntry(r)) rows.emplace(std::make_pair(e->event_id, ToString(e->user)), *e);
        }
      }
      return rows;
    });
    full.insert(full_now.begin(), full_now.end());
    if (entered_total_ != nullptr && fresh > 0) entered_total_->Inc(static_cast<double>(fresh));
    return written;
  };
  auto deliver = [&](const std::map<std::pair<std::string, std::string>, EntryRow>& rows) {
    for (const auto& p : batch) {
      auto it = rows.find({p->event_id, p->user_id});
      if (it != rows.end()) p->entry = it->second;
    }
  };
  try {
    deliver(run(distinct));
  } catch (const pqxx::unique_violation&) {
    // Someone in the batch waits in another room: one by one, so only they are refused.
    for (auto i : distinct) {
      try {
        deliver(run({i}));
      } catch (const pqxx::unique_violation&) {
        for (const auto& p : batch) {
          if (p->event_id == batch[i]->event_id && p->user_id == batch[i]->user_id) p->other_room = true;
        }
      } catch (...) {
        const auto error = std::current_exception();
        for (const auto& p : batch) {
          if (p->event_id == batch[i]->event_id && p->user_id == batch[i]->user_id) p->error = error;
        }
      }
    }
  } catch (...) {
    const auto error = std::current_exception();
    for (const auto& p : batch) p->error = error;
  }
  for (const auto& p : batch) {
    if (!p->entry && !p->error && other_rooms.contains(p->user_id)) p->other_room = true;
    if (!p->entry && !p->error && !p->other_room && full.contains({p->event_id, p->user_id})) p->full = true;
    if (!p->entry && !p->other_room && !p->full && !p->error) {
      p->error = std::make_exception_ptr(std::logic_error("queue: enter wrote no entry"));
    }
  }
}

Awaitable QueueService::Status(std::string event_id, std::string user_id) {
  const auto user = ParseUserKey(user_id);
  if (!user) throw ApiError(problems::Unauthenticated());
  if (!ready()) throw ApiError(problems::ServiceUnavailable("The waiting room is starting; try again", 2));
  // Exact on every instance: the index holds every change committed before
  // this request (admitted, used, left, cleared, and everyone ahead).
  co_await AwaitFresh();
  if (auto a = AnswerFromIndex(event_id, *user)) {
    Touch(event_id, *user);
    co_return *a;
  }
  // Not in this instance's index (yet): entered through another instance moments ago?
  auto read = [&](pqxx::work& tx) -> std::optional<EntryRow> {
    auto r = tx.exec_params(std::string("SELECT ") + kEntryColumns +
                                " FROM queue.entries WHERE event_id = $1 AND user_id = $2 AND status IN ('WAITING', 'ADMITTED')",
                            event_id, user_id);
    if (r.empty()) return std::nullopt;
    return ParseEntry(r[0]);
  };
  const auto row = co_await pool_.Transact(std::move(read));
  if (!row) throw ApiError(NotInQueue());
  ApplyRow(event_id, row->user, row->seq, row->status, row->change_id, row->token, row->token_expires_micros, nullptr);
  auto a = AnswerFromIndex(event_id, *user);
  if (!a) throw ApiError(NotInQueue());
  Touch(event_id, *user);
  co_return *a;
}

boost::asio::awaitable<void> QueueService::Leave(std::string event_id, std::string user_id) {
  const auto user = ParseUserKey(user_id);
  if (!user) throw ApiError(problems::Unauthenticated());
  auto work = [&](pqxx::work& tx) -> std::optional<EntryRow> {
    auto r = tx.exec_params(std::string("UPDATE queue.entries SET status = 'LEFT', ended_at = now(), "
                                        "change_id = nextval('queue.change_seq') WHERE event_id = $1 AND user_id = $2 "
                                        "AND status IN ('WAITING', 'ADMITTED') RETURNING ") +
                                kEntryColumns,
                            event_id, user_id);
    if (r.empty()) return std::nullopt;
    auto e = ParseEntry(r[0]);
    if (e && !e->token.empty()) {
      tx.exec_params0("UPDATE queue.tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
                      crypto::Sha256Hex(e->token));
    }
    return e;
  };
  const auto row = co_await pool_.Transact(std::move(work));
  if (!row) throw ApiError(NotInQueue());
  std::vector<UserKey> ended;
  ApplyRow(event_id, row->user, row->seq, row->status, row->change_id, "", 0, &ended);
  WakeUsers(ended);
}

// ---- SSE subscribers ----

namespace {
// A slot lives this long past its last extension (every 10 s while open): a
// killed instance's streams stop counting against their users after it.
constexpr int kStreamSlotSeconds = 30;
}  // namespace

boost::asio::awaitable<std::optional<std::string>> QueueService::ReserveStream(const UserKey& user) {
  const std::string user_id = ToString(user);
  std::string stream_id = NewUuid();
  std::vector<std::string> released;
  {
    std::lock_guard lock(subs_mu_);
    released.swap(released_streams_);
  }
  const int limit = options_.max_streams_per_user;
  auto work = [&](pqxx::work& tx) {
    // Slots this process let go of and has not deleted yet go first (a
    // customer who closed a stream may open another at once).
    if (!released.empty()) tx.exec_params0("DELETE FROM queue.streams WHERE id = ANY($1::uuid[])", SqlArray(released));
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended('ticketd.queue.streams:' || $1, 0))", user_id);
    const auto open = tx.exec_params1("SELECT count(*) FROM queue.streams WHERE user_id = $1 AND expires_at > now()", user_id)[0]
                          .as<std::int64_t>();
    if (open >= limit) return false;
    tx.exec_params0("DELETE FROM queue.streams WHERE user_id = $1 AND expires_at <= now()", user_id);
    tx.exec_params0("INSERT INTO queue.streams (id, user_id, instance_id, expires_at) "
                    "VALUES ($1, $2, $3, now() + $4::int * interval '1 second')",
                    stream_id, user_id, instance_id_, kStreamSlotSeconds);
    return true;
  };
  bool granted = false;
  try {
    granted = co_await pool_.Transact(std::move(work));
  } catch (...) {
    std::lock_guard lock(subs_mu_);
    released_streams_.insert(released_streams_.end(), released.begin(), released.end());
    throw;
  }
  if (!granted) co_return std::nullopt;
  {
    std::lock_guard lock(subs_mu_);
    open_streams_.insert(stream_id);
  }
  streams_open_.fetch_add(1);
  co_return stream_id;
}

void QueueService::ReleaseStream(const std::string& stream_id) {
  {
    std::lock_guard lock(subs_mu_);
    if (open_streams_.erase(stream_id) == 0) return;
    released_streams_.push_back(stream_id);
  }
  streams_open_.fetch_sub(1);
  {
    std::lock_guard lock(fresh_mu_);
    sync_requested_ = true;  // the sync thread deletes it at once
  }
  fresh_cv_.notify_one();
}

void QueueService::MaintainStreams(bool refresh) {
  std::vector<std::string> released;
  std::vector<std::string> open;
  {
    std::lock_guard lock(subs_mu_);
    released.swap(released_streams_);
    if (refresh) open.assign(open_streams_.begin(), open_streams_.end());
  }
  if (released.empty() && open.empty()) return;
  try {
    pool_.TransactSync([&](pqxx::work& tx) {
      if (!released.empty()) tx.exec_params0("DELETE FROM queue.streams WHERE id = ANY($1::uuid[])", SqlArray(released));
      if (!open.empty()) {
        tx.exec_params0("UPDATE queue.streams SET expires_at = now() + $2::int * interval '1 second' WHERE id = ANY($1::uuid[])",
                        SqlArray(open), kStreamSlotSeconds);
      }
    });
  } catch (...) {
    std::lock_guard lock(subs_mu_);
    released_streams_.insert(released_streams_.end(), released.begin(), released.end());
    throw;
  }
}

void QueueService::AttachStream(const UserKey& user, const std::shared_ptr<http::StreamWriter>& writer) {
  std::lock_guard lock(subs_mu_);
  subs_[user].writers.push_back(writer);
}

void QueueService::DetachStream(const UserKey& user, const std::shared_ptr<http::StreamWriter>& writer) {
  std::lock_guard lock(subs_mu_);
  auto it = subs_.find(user);
  if (it == subs_.end()) return;
  std::erase(it->second.writers, writer);
  if (it->second.writers.empty()) subs_.erase(it);
}

void QueueService::WakeUsers(const std::vector<UserKey>& users) {
  if (users.empty()) return;
  std::lock_guard lock(subs_mu_);
  if (subs_.empty()) return;
  for (const auto& u : users) {
    auto it = subs_.find(u);
    if (it == subs_.end()) continue;
    for (const auto& w : it->second.writers) w->Wake();
  }
}

// ---- sync from Postgres ----

void QueueService::RebuildSync() {
  struct Snapshot {
    std::int64_t max_change = 0;
    std::int64_t max_admission = 0;
    std::vector<std::pair<std::string, RoomRow>> rooms;
    std::vector<EntryRow> entries;
    std::vector<std::tuple<std::string, std::int64_t, std::int64_t>> admissions;
  };
  auto snapshot = pool_.TransactSync([](pqxx::work& tx) {
    Snapshot s;
    s.max_change = tx.exec1("SELECT coalesce(max(change_id), 0) FROM queue.entries")[0].as<std::int64_t>();
    for (const auto& r : tx.exec(std::string("SELECT ") + kRoomColumns + " FROM queue.rooms")) {
      s.rooms.emplace_back(r[0].as<std::string>(), ParseRoom(r));
    }
    for (const auto& r : tx.exec(std::string("SELECT ") + kEntryColumns +
                                 " FROM queue.entries WHERE status IN ('WAITING', 'ADMITTED')")) {
      if (auto e = ParseEntry(r)) s.entries.push_back(std::move(*e));
    }
    s.max_admission = tx.exec1("SELECT coalesce(max(id), 0) FROM queue.admissions")[0].as<std::int64_t>();
    for (const auto& r : tx.exec("SELECT event_id::text, extract(epoch from admitted_at)::bigint, count FROM queue.admissions "
                                 "WHERE admitted_at > now() - interval '10 minutes'")) {
      s.admissions.emplace_back(r[0].as<std::string>(), r[1].as<std::int64_t>(), r[2].as<std::int64_t>());
    }
    return s;
  });
  {
    std::unique_lock lock(rooms_mu_);
    rooms_.clear();
  }
  for (auto& [id, row] : snapshot.rooms) {
    auto room = GetOrCreateRoom(id);
    std::lock_guard lock(room->mu);
    room->row = row;
  }
  for (const auto& e : snapshot.entries) {
    ApplyRow(e.event_id, e.user, e.seq, e.status, e.change_id, e.token, e.token_expires_micros, nullptr);
  }
  for (const auto& [id, second, count] : snapshot.admissions) {
    auto room = GetOrCreateRoom(id);
    std::lock_guard lock(room->mu);
    room->rate.Record(second, count);
  }
  std::lock_guard sync_lock(sync_mu_);
  // Re-read the last changes: a transaction that took its change id before
  // the snapshot may have committed after it (idempotent re-apply).
  change_cursor_ = std::max<std::int64_t>(0, snapshot.max_change - 5000);
  gaps_.clear();
  admissions_cursor_ = snapshot.max_admission;
  snapshot = Snapshot{};
  malloc_trim(0);  // give the snapshot's (and libpq's) transient heap back to the system
  ready_ = true;
}

void QueueService::SyncOnce(bool full) {
  std::lock_guard sync_lock(sync_mu_);
  pool_.TransactSync([&](pqxx::work& tx) { SyncDelta(tx, full); });
}

void QueueService::SyncDelta(pqxx::work& tx, bool full) {
  static const std::string entries_sql = std::string("SELECT ") + kEntryColumns +
                                         " FROM queue.entries WHERE change_id > $1 OR change_id = ANY($2::bigint[]) "
                                         "ORDER BY change_id LIMIT 50000";
  std::vector<UserKey> woken;
  // Change ids are taken in transactions that may commit out of order: a
  // missing id below the newest one seen is remembered for a while and
  // asked for again (it may still commit, or it was rolled back).
  for (;;) {
    std::vector<std::string> gap_ids;
    for (const auto& [id, at] : gaps_) gap_ids.push_back(std::to_string(id));
    const std::int64_t cursor = change_cursor_;
    std::vector<EntryRow> entries;
    for (const auto& r : tx.exec_params(entries_sql, cursor, SqlArray(gap_ids))) {
      if (auto e = ParseEntry(r)) entries.push_back(std::move(*e));
    }
    const auto now = std::chrono::steady_clock::now();
    std::int64_t high = cursor;
    for (const auto& e : entries) {
      gaps_.erase(e.change_id);
      if (e.change_id > high) {
        for (std::int64_t missing = high + 1; missing < e.change_id && gaps_.size() < 10000; ++missing) {
          if (missing > cursor) gaps_.emplace(missing, now);
        }
        high = e.change_id;
      }
      ApplyRow(e.event_id, e.user, e.seq, e.status, e.change_id, e.token, e.token_expires_micros, &woken);
    }
    change_cursor_ = high;
    std::erase_if(gaps_, [&](const auto& g) { return now - g.second > 10s; });
    if (entries.size() < 50000) break;  // caught up
  }
  if (!full) {
    WakeUsers(woken);
    return;
  }
  for (const auto& r : tx.exec(std::string("SELECT ") + kRoomColumns + " FROM queue.rooms")) {
    auto room = GetOrCreateRoom(r[0].as<std::string>());
    std::lock_guard lock(room->mu);
    room->row = ParseRoom(r);
  }
  for (const auto& r : tx.exec_params("SELECT id, event_id::text, extract(epoch from admitted_at)::bigint, count "
                                      "FROM queue.admissions WHERE id > $1 ORDER BY id",
                                      admissions_cursor_)) {
    auto room = GetOrCreateRoom(r[1].as<std::string>());
    std::lock_guard lock(room->mu);
    room->rate.Record(r[2].as<std::int64_t>(), r[3].as<std::int64_t>());
    admissions_cursor_ = std::max(admissions_cursor_, r[0].as<std::int64_t>());
  }
  WakeUsers(woken);
}

boost::asio::awaitable<void> QueueService::AwaitFresh() {
  auto initiate = [this](auto handler) {
    auto resume_on = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                         boost::asio::execution::outstanding_work.tracked);
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    std::function<void()> complete = [shared, resume_on]() { boost::asio::post(resume_on, [shared]() { (*shared)(); }); };
    bool queued = false;
    {
      std::lock_guard lock(fresh_mu_);
      if (!stopping_.load() && sync_running_) {
        // A sync already running may have read before this call: wait for the next one.
        fresh_waiters_.push_back(FreshWaiter{syncs_started_ + 1, std::move(complete)});
        sync_requested_ = true;
        queued = true;
      }
    }
    if (queued) {
      fresh_cv_.notify_one();
    } else {
      complete();
    }
  };
  co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(std::move(initiate),
                                                                                        boost::asio::use_awaitable);
}

void QueueService::FlushTouches() {
  std::unordered_map<std::string, std::vector<UserKey>> batch;
  {
    std::lock_guard lock(touch_mu_);
    batch.swap(touches_);
  }
  if (batch.empty()) return;
  std::vector<std::pair<std::string, std::string>> updates;
  for (auto& [event_id, users] : batch) {
    std::sort(users.begin(), users.end(), [](const UserKey& a, const UserKey& b) {
      return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
    });
    users.erase(std::unique(users.begin(), users.end()), users.end());
    for (std::size_t i = 0; i < users.size(); i += 5000) {
      std::vector<std::string> ids;
      for (std::size_t j = i; j < std::min(users.size(), i + 5000); ++j) ids.push_back(ToString(users[j]));
      updates.emplace_back(event_id, SqlArray(ids));
    }
  }
  pool_.TransactSync([&](pqxx::work& tx) {
    for (const auto& [event_id, ids] : updates) {
      tx.exec_params0("UPDATE queue.entries SET last_seen_at = now() WHERE event_id = $1 AND user_id = ANY($2::uuid[]) "
                      "AND status = 'WAITING'",
                      event_id, ids);
    }
  });
}

void QueueService::SyncLoop() {
  auto last_flush = std::chrono::steady_clock::now();
  auto last_purge = last_flush;
  auto last_streams = last_flush;
  auto last_full_sync = std::chrono::steady_clock::time_point{};
  while (!stopping_.load()) {
    std::int64_t generation = 0;
    {
      std::lock_guard lock(fresh_mu_);
      generation = ++syncs_started_;
      sync_requested_ = false;
    }
    try {
      if (!ready_.load()) {
        RebuildSync();
        log::Info("queue: index rebuilt", {{"entries", static_cast<std::int64_t>(IndexFootprint().second)}});
      } else {
        // A barrier needs the entries; rooms and admission batches (settings,
        // the observed rate) are read at most every sync interval.
        const auto now = std::chrono::steady_clock::now();
        const bool full = now - last_full_sync >= options_.sync_interval;
        if (full) last_full_sync = now;
        SyncOnce(full);
      }
    } catch (const std::exception& e) {
      log::Warn("queue: sync failed; retrying", {{"error", e.what()}});
    }
    // Everyone waiting for a sync that started after their call is answered
    // now (from the index as last read, if this one failed).
    std::vector<FreshWaiter> done;
    {
      std::lock_guard lock(fresh_mu_);
      auto keep = std::partition(fresh_waiters_.begin(), fresh_waiters_.end(),
                                 [&](const FreshWaiter& w) { return w.after > generation; });
      std::move(keep, fresh_waiters_.end(), std::back_inserter(done));
      fresh_waiters_.erase(keep, fresh_waiters_.end());
    }
    for (auto& w : done) w.complete();
    try {
      if (ready_.load()) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_flush >= options_.touch_flush_interval) {
          last_flush = now;
          FlushTouches();
        }
        const bool refresh = now - last_streams >= 10s;
        if (refresh) last_streams = now;
        MaintainStreams(refresh);
        if (now - last_purge >= 5s) {
          last_purge = now;
          std::vector<std::shared_ptr<Room>> rooms;
          {
            std::shared_lock lock(rooms_mu_);
            for (auto& [id, room] : rooms_) rooms.push_back(room);
          }
          for (auto& room : rooms) {
            std::lock_guard lock(room->mu);
            room->index.PurgeTombstones(now - 30s);
          }
        }
      }
    } catch (const std::exception& e) {
      log::Warn("queue: background write failed; retrying", {{"error", e.what()}});
    }
    std::unique_lock lock(fresh_mu_);
    fresh_cv_.wait_for(lock, ready_.load() ? options_.sync_interval : std::chrono::milliseconds(1000),
                       [this] { return stopping_.load() || sync_requested_; });
  }
  // Stopping: nobody waits for a sync that will not come.
  std::vector<FreshWaiter> done;
  {
    std::lock_guard lock(fresh_mu_);
    sync_running_ = false;
    done.swap(fresh_waiters_);
  }
  for (auto& w : done) w.complete();
}

// ---- the scheduler ----

std::set<std::string> QueueService::LeadEvents() const {
  std::lock_guard lock(leader_mu_);
  return leading_;
}

std::pair<std::size_t, std::size_t> QueueService::IndexFootprint() const {
  std::vector<std::shared_ptr<Room>> rooms;
  {
    std::shared_lock lock(rooms_mu_);
    for (const auto& [id, room] : rooms_) rooms.push_back(room);
  }
  std::size_t bytes = 0;
  std::size_t live = 0;
  for (auto& room : rooms) {
    std::lock_guard lock(room->mu);
    bytes += room->index.MemoryBytes();
    live += room->index.size();
  }
  return {bytes, live};
}

std::int64_t QueueService::SchedulerTick() {
  // Rooms with nobody waiting or admitted (as this instance's index sees them) need no tick.
  std::vector<std::string> events;
  {
    std::shared_lock lock(rooms_mu_);
    for (const auto& [id, room] : rooms_) {
      std::lock_guard room_lock(room->mu);
      if (room->index.size() > 0) events.push_back(id);
    }
  }
  std::lock_guard tick_lock(tick_mu_);
  std::int64_t admitted = 0;
  try {
    if (!leader_conn_ || !leader_conn_->is_open()) {
      std::lock_guard lock(leader_mu_);
      leading_.clear();
      leader_conn_ = std::make_unique<pqxx::connection>(pool_.options().conninfo);
    }
    for (const auto& event_id : events) {
      bool leading = false;
      {
        std::lock_guard lock(leader_mu_);
        leading = leading_.contains(event_id);
      }
      if (!leading) {
        pqxx::nontransaction n(*leader_conn_);
        const bool got = n.exec_params1("SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                                        "ticketd.queue." + event_id)[0]
                             .as<bool>();
        if (!got) continue;
        std::lock_guard lock(leader_mu_);
        leading_.insert(event_id);
        log::Info("queue: scheduler leader", {{"event_id", event_id}});
      }
      const auto room_admitted = TickRoom(*leader_conn_, event_id);
      admitted += room_admitted;
      if (admitted_total_ != nullptr && room_admitted > 0) admitted_total_->Inc(static_cast<double>(room_admitted));
    }
  } catch (const pqxx::broken_connection& e) {
    log::Warn("queue: scheduler connection lost", {{"error", e.what()}});
    leader_conn_.reset();
    std::lock_guard lock(leader_mu_);
    leading_.clear();
  }
  return admitted;
}

std::int64_t QueueService::TickRoom(pqxx::connection& conn, const std::string& event_id) {
  const auto tick_now = std::chrono::steady_clock::now();
  pqxx::work tx(conn);
  auto rows = tx.exec_params(std::string("SELECT ") + kRoomColumns + " FROM queue.rooms WHERE event_id = $1 FOR UPDATE", event_id);
  if (rows.empty()) return 0;
  const RoomRow room = ParseRoom(rows[0]);
  const RoomSettings s = Effective(options_.defaults, room);
  const std::int64_t now_micros = tx.exec1("SELECT (extract(epoch from now()) * 1e6)::bigint")[0].as<std::int64_t>();
  // Admitted users who never used their token free their slot.
  tx.exec_params0("UPDATE queue.entries SET status = 'EXPIRED', ended_at = now(), change_id = nextval('queue.change_seq') "
                  "WHERE event_id = $1 AND status = 'ADMITTED' AND token_expires_at <= now()",
                  event_id);
  // Users who stopped polling lose their place. The scan covers the room's
  // waiting entries, so it runs every drop_after/10 (1..30 s), not every tick.
  const auto drop_every = std::clamp<std::chrono::steady_clock::duration>(options_.drop_after / 10, 1s, 30s);
  auto& last_drop = last_drop_[event_id];
  if (tick_now - last_drop >= drop_every) {
    last_drop = tick_now;
    tx.exec_params0("UPDATE queue.entries SET status = 'DROPPED', ended_at = now(), change_id = nextval('queue.change_seq') "
                  "WHERE event_id = $1 AND status = 'WAITING' AND last_seen_at < now() - $2::bigint * interval '1 second'",
                    event_id, static_cast<std::int64_t>(options_.drop_after.count()));
  }
  if (now_micros < room.sale_starts_micros || now_micros >= room.sale_ends_micros) {
    tx.commit();
    allowance_.erase(event_id);
    return 0;
  }
  if (s.method == "random" && !room.shuffled) {
    // Everyone who pre-queued is shuffled once, when the sale opens; their
    // sequence numbers are permuted among them, so later arrivals stay behind.
    std::vector<std::string> users;
    std::vector<std::string> seqs;
    for (const auto& r : tx.exec_params("SELECT user_id::text, seq FROM queue.entries WHERE event_id = $1 AND status = 'WAITING' "
                                        "AND pre_queue ORDER BY seq FOR UPDATE",
                                        event_id)) {
      users.push_back(r[0].as<std::string>());
      seqs.push_back(r[1].as<std::string>());
    }
    for (std::size_t i = users.size(); i > 1; --i) std::swap(users[i - 1], users[SecureUniform(i)]);
    if (!users.empty()) {
      tx.exec_params0("UPDATE queue.entries e SET seq = v.s, change_id = nextval('queue.change_seq') "
                      "FROM unnest($2::uuid[], $3::bigint[]) AS v(u, s) WHERE e.event_id = $1 AND e.user_id = v.u",
                      event_id, SqlArray(users), SqlArray(seqs));
    }
    tx.exec_params0("UPDATE queue.rooms SET shuffled_at = now() WHERE event_id = $1", event_id);
    log::Info("queue: pre-queue shuffled", {{"event_id", event_id}, {"entries", static_cast<std::int64_t>(users.size())}});
  }
  if (s.paused) {
    tx.commit();
    allowance_.erase(event_id);
    return 0;
  }
  // Token bucket: `rate` per second, at most one second's worth at once.
  auto& allowance = allowance_[event_id];
  const double interval = std::chrono::duration<double>(options_.admission_interval).count();
  const double elapsed = last_tick_ == std::chrono::steady_clock::time_point{}
                             ? interval
                             : std::min(1.0, std::chrono::duration<double>(tick_now - last_tick_).count());
  const double rate = s.admission_rate_per_second;
  allowance = std::min(std::max(rate, 1.0), allowance + rate * std::max(elapsed, interval));
  const auto active = tx.exec_params1("SELECT count(*) FROM queue.entries WHERE event_id = $1 AND status = 'ADMITTED'", event_id)[0]
                          .as<std::int64_t>();
  const std::int64_t n = std::min<std::int64_t>(static_cast<std::int64_t>(std::floor(allowance)), s.max_active - active);
  std::int64_t admitted = 0;
  if (n > 0) {
    std::vector<std::string> users;
    for (const auto& r : tx.exec_params("SELECT user_id::text FROM queue.entries WHERE event_id = $1 AND status = 'WAITING' "
                                        "ORDER BY seq LIMIT $2 FOR UPDATE",
                                        event_id, n)) {
      users.push_back(r[0].as<std::string>());
    }
    if (!users.empty()) {
      std::vector<std::string> tokens;
      std::vector<std::string> hashes;
      for (std::size_t i = 0; i < users.size(); ++i) {
        tokens.push_back(NewToken("qr_"));
        hashes.push_back(crypto::Sha256Hex(tokens.back()));
      }
      const auto ttl = static_cast<std::int64_t>(s.token_ttl_seconds);
      tx.exec_params0("UPDATE queue.entries e SET status = 'ADMITTED', admitted_at = now(), token = v.t, "
                      "token_expires_at = now() + $4::bigint * interval '1 second', change_id = nextval('queue.change_seq') "
                      "FROM unnest($2::uuid[], $3::text[]) AS v(u, t) WHERE e.event_id = $1 AND e.user_id = v.u "
                      "AND e.status = 'WAITING'",
                      event_id, SqlArray(users), SqlArray(tokens), ttl);
      tx.exec_params0("INSERT INTO queue.tokens (token_hash, kind, user_id, event_id, expires_at) "
                      "SELECT v.h, 'qr', v.u, $1, now() + $4::bigint * interval '1 second' "
                      "FROM unnest($2::uuid[], $3::text[]) AS v(u, h)",
                      event_id, SqlArray(users), SqlArray(hashes), ttl);
      tx.exec_params0("INSERT INTO queue.admissions (event_id, count) VALUES ($1, $2)", event_id,
                      static_cast<std::int64_t>(users.size()));
      admitted = static_cast<std::int64_t>(users.size());
    }
  }
  tx.commit();
  allowance = std::max(0.0, allowance - static_cast<double>(admitted));
  if (admitted == 0 && n > 0) allowance = std::min(allowance, std::max(rate, 1.0));
  return admitted;
}

void QueueService::SchedulerLoop() {
  while (!stopping_.load()) {
    if (ready_.load()) {
      const auto start = std::chrono::steady_clock::now();
      try {
        const auto admitted = SchedulerTick();
        last_tick_ = start;
        if (admitted > 0) {
          // Show the admission at once on this instance (others within a sync interval).
          try {
            SyncOnce();
          } catch (const std::exception&) {
            // the sync thread retries
          }
        }
      } catch (const std::exception& e) {
        log::Warn("queue: scheduler tick failed", {{"error", e.what()}});
      }
    }
    std::unique_lock lock(wake_mu_);
    wake_cv_.wait_for(lock, options_.admission_interval, [this] { return stopping_.load(); });
  }
}

// ---- admin ----

boost::asio::awaitable<json::object> QueueService::AdminStats(std::string event_id) {
  struct Stats {
    std::optional<RoomRow> room;
    std::int64_t counts[8] = {};
    std::int64_t last_minute = 0;
    std::int64_t samples = 0;
    double mean_abs = 0;
    double mean = 0;
  };
  auto work = [&](pqxx::work& tx) {
    Stats s;
    auto r = tx.exec_params(std::string("SELECT ") + kRoomColumns + " FROM queue.rooms WHERE event_id = $1", event_id);
    if (!r.empty()) s.room = ParseRoom(r[0]);
    const auto c = tx.exec_params1(
        "SELECT count(*) FILTER (WHERE status = 'WAITING'), count(*) FILTER (WHERE status = 'ADMITTED'), "
        "count(*) FILTER (WHERE status = 'USED'), count(*) FILTER (WHERE status = 'LEFT'), "
        "count(*) FILTER (WHERE status = 'DROPPED'), count(*) FILTER (WHERE status = 'EXPIRED'), "
        "count(*) FILTER (WHERE status = 'CLEARED'), count(*) FROM queue.entries WHERE event_id = $1",
        event_id);
    for (int i = 0; i < 8; ++i) s.counts[i] = c[i].as<std::int64_t>();
    s.last_minute = tx.exec_params1("SELECT coalesce(sum(count), 0) FROM queue.admissions WHERE event_id = $1 "
                                    "AND admitted_at > now() - interval '1 minute'",
                                    event_id)[0]
                        .as<std::int64_t>();
    const auto a = tx.exec_params1(
        "SELECT count(*), coalesce(avg(abs(extract(epoch from admitted_at - estimated_admit_at))), 0)::float8, "
        "coalesce(avg(extract(epoch from admitted_at - estimated_admit_at)), 0)::float8 FROM queue.entries "
        "WHERE event_id = $1 AND admitted_at > now() - interval '15 minutes' AND estimated_admit_at IS NOT NULL",
        event_id);
    s.samples = a[0].as<std::int64_t>();
    s.mean_abs = a[1].as<double>();
    s.mean = a[2].as<double>();
    return s;
  };
  const Stats s = co_await pool_.Transact(std::move(work));
  RoomRow row;
  if (s.room) {
    row = *s.room;
  } else {
    const auto event = co_await LoadEvent(event_id);
    if (!event) throw ApiError(problems::NotFound("No event " + event_id));
    row.sale_starts_micros = ToMicros(event->sale_starts_at);
    row.sale_ends_micros = ToMicros(event->sale_ends_at);
    row.event = event->queue;
  }
  const auto settings = Effective(options_.defaults, row);
  std::optional<double> observed;
  if (auto room = FindRoom(event_id)) {
    std::lock_guard lock(room->mu);
    observed = room->rate.Rate(NowMicros() / 1000000, options_.estimate_window.count());
  }
  const std::int64_t finished = s.counts[2] + s.counts[3] + s.counts[4] + s.counts[5];
  const std::int64_t abandoned = s.counts[3] + s.counts[4] + s.counts[5];
  json::object out{
      {"eventId", event_id},
      {"waiting", s.counts[0]},
      {"active", s.counts[1]},
      {"admittedLastMinute", s.last_minute},
      {"admissionRatePerSecond", settings.admission_rate_per_second},
      {"observedRatePerSecond", observed ? json::value(*observed) : json::value(nullptr)},
      {"abandonRate", finished > 0 ? static_cast<double>(abandoned) / static_cast<double>(finished) : 0.0},
      {"counts", json::object{{"waiting", s.counts[0]},
                              {"admitted", s.counts[1]},
                              {"used", s.counts[2]},
                              {"left", s.counts[3]},
                              {"dropped", s.counts[4]},
                              {"expired", s.counts[5]},
                              {"cleared", s.counts[6]},
                              {"total", s.counts[7]}}},
      {"estimateAccuracy", json::object{{"samples", s.samples},
                                        {"meanAbsoluteErrorSeconds", s.mean_abs},
                                        {"meanErrorSeconds", s.mean}}},
      {"leader", LeadEvents().contains(event_id)},
      {"config", json::object{{"admissionRatePerSecond", settings.admission_rate_per_second},
                              {"maxActive", settings.max_active},
                              {"capacity", settings.capacity},
                              {"tokenTtlSeconds", settings.token_ttl_seconds},
                              {"preQueueMinutes", settings.pre_queue_minutes},
                              {"method", settings.method},
                              {"paused", settings.paused}}},
  };
  co_return out;
}

boost::asio::awaitable<json::object> QueueService::AdminUpdate(std::string event_id, SettingsPatch patch) {
  const auto event = co_await LoadEvent(event_id);
  if (!event) throw ApiError(problems::NotFound("No event " + event_id));
  const std::string paused = patch.paused ? (*patch.paused ? "true" : "false") : "";
  auto work = [&](pqxx::work& tx) {
    tx.exec_params0(
        "INSERT INTO queue.rooms (event_id, sale_starts_at, sale_ends_at, event_rate, event_max_active, event_capacity, "
        "event_method, event_pre_queue_min) VALUES ($1, to_timestamp($2::bigint / 1e6), to_timestamp($3::bigint / 1e6), "
        "NULLIF($4, '')::int, NULLIF($5, '')::int, NULLIF($6, '')::int, NULLIF($7, ''), NULLIF($8, '')::int) "
        "ON CONFLICT (event_id) DO NOTHING",
        event_id, ToMicros(event->sale_starts_at), ToMicros(event->sale_ends_at), Opt(event->queue.admission_rate_per_second),
        Opt(event->queue.max_active), Opt(event->queue.capacity), Opt(event->queue.method),
        Opt(event->queue.pre_queue_minutes));
    auto r = tx.exec_params(std::string("UPDATE queue.rooms SET rate = coalesce(NULLIF($2, '')::int, rate), "
                                        "max_active = coalesce(NULLIF($3, '')::int, max_active), "
                                        "capacity = coalesce(NULLIF($4, '')::int, capacity), "
                                        "token_ttl_seconds = coalesce(NULLIF($5, '')::int, token_ttl_seconds), "
                                        "pre_queue_minutes = coalesce(NULLIF($6, '')::int, pre_queue_minutes), "
                                        "method = coalesce(NULLIF($7, ''), method), "
                                        "paused = coalesce(NULLIF($8, '')::boolean, paused), updated_at = now() "
                                        "WHERE event_id = $1 RETURNING ") +
                                kRoomColumns,
                            event_id, Opt(patch.admission_rate_per_second), Opt(patch.max_active), Opt(patch.capacity),
                            Opt(patch.token_ttl_seconds), Opt(patch.pre_queue_minutes), Opt(patch.method), paused);
    return ParseRoom(r[0]);
  };
  const RoomRow row = co_await pool_.Transact(std::move(work));
  {
    auto room = GetOrCreateRoom(event_id);
    std::lock_guard lock(room->mu);
    room->row = row;
  }
  co_return co_await AdminStats(std::move(event_id));
}

boost::asio::awaitable<std::int64_t> QueueService::AdminClear(std::string event_id) {
  auto work = [&](pqxx::work& tx) {
    std::vector<EntryRow> ended;
    for (const auto& r : tx.exec_params(std::string("UPDATE queue.entries SET status = 'CLEARED', ended_at = now(), "
                                                    "change_id = nextval('queue.change_seq') WHERE event_id = $1 "
                                                    "AND status IN ('WAITING', 'ADMITTED') RETURNING ") +
                                            kEntryColumns,
                                        event_id)) {
      if (auto e = ParseEntry(r)) ended.push_back(std::move(*e));
    }
    tx.exec_params0("UPDATE queue.tokens SET revoked_at = now() WHERE event_id = $1 AND kind = 'qr' AND used_at IS NULL "
                    "AND revoked_at IS NULL",
                    event_id);
    return ended;
  };
  const auto ended = co_await pool_.Transact(std::move(work));
  std::vector<UserKey> woken;
  for (const auto& e : ended) ApplyRow(e.event_id, e.user, e.seq, e.status, e.change_id, "", 0, &woken);
  WakeUsers(woken);
  co_return static_cast<std::int64_t>(ended.size());
}

// ---- tokens ----

namespace {

struct TokenRow {
  std::string kind;
  std::string user_id;
  std::string event_id;
  std::string reservation_id;
  bool expired = false;
  bool used = false;
};

std::optional<TokenRow> ReadToken(pqxx::work& tx, const std::string& hash) {
  auto r = db::ExecPrepared(tx,
                            "SELECT kind, user_id::text, event_id::text, coalesce(reservation_id, ''), expires_at <= now(), "
                            "used_at IS NOT NULL OR revoked_at IS NOT NULL FROM queue.tokens WHERE token_hash = $1",
                            hash);
  if (r.empty()) return std::nullopt;
  return TokenRow{r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<std::string>(),
                  r[0][3].as<std::string>(), r[0][4].as<bool>(), r[0][5].as<bool>()};
}

TokenCheck Judge(const std::optional<TokenRow>& t, std::string_view kind, const std::string& user_id,
                 const std::string& event_id, const std::string& reservation_id) {
  if (!t || t->kind != kind) return TokenCheck::kInvalid;
  if (t->user_id != user_id) return TokenCheck::kWrongUser;
  if (!event_id.empty() && t->event_id != event_id) return TokenCheck::kWrongEvent;
  if (!reservation_id.empty() && t->reservation_id != reservation_id) return TokenCheck::kWrongEvent;
  if (t->used) return TokenCheck::kUsed;
  if (t->expired) return TokenCheck::kExpired;
  return TokenCheck::kOk;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

boost::asio::awaitable<TokenCheck> QueueService::ValidateReservationToken(std::string token, std::string user_id,
                                                                          std::string event_id) {
  if (!WellFormedToken(token, "qr_")) co_return TokenCheck::kInvalid;
  const std::string hash = crypto::Sha256Hex(token);
  auto read = [&](pqxx::work& tx) { return ReadToken(tx, hash); };
  const auto row = co_await pool_.Transact(std::move(read));
  if (event_id.empty()) co_return TokenCheck::kWrongEvent;
  co_return Judge(row, "qr", Lower(user_id), Lower(event_id), "");
}

boost::asio::awaitable<std::string> QueueService::IssuePaymentToken(std::string user_id, std::string event_id,
                                                                    std::string reservation_id, std::chrono::seconds ttl) {
  if (!IsUuid(user_id) || !IsUuid(event_id) || reservation_id.empty()) {
    throw std::invalid_argument("queue: IssuePaymentToken needs a user id, an event id and a reservation id");
  }
  std::string token = NewToken("qp_");
  const std::string hash = crypto::Sha256Hex(token);
  const auto seconds = static_cast<std::int64_t>(ttl.count());
  auto work = [&](pqxx::work& tx) {
    db::ExecPrepared(tx,
                     "INSERT INTO queue.tokens (token_hash, kind, user_id, event_id, reservation_id, expires_at) "
                     "VALUES ($1, 'qp', $2, $3, $4, now() + $5::bigint * interval '1 second')",
                     hash, user_id, event_id, reservation_id, seconds);
  };
  co_await pool_.Transact(std::move(work));
  co_return token;
}

boost::asio::awaitable<TokenCheck> QueueService::ValidatePaymentToken(std::string token, std::string user_id,
                                                                      std::string reservation_id) {
  if (!WellFormedToken(token, "qp_")) co_return TokenCheck::kInvalid;
  const std::string hash = crypto::Sha256Hex(token);
  auto read = [&](pqxx::work& tx) { return ReadToken(tx, hash); };
  const auto row = co_await pool_.Transact(std::move(read));
  if (reservation_id.empty()) co_return TokenCheck::kWrongEvent;
  co_return Judge(row, "qp", Lower(user_id), "", reservation_id);
}

boost::asio::awaitable<TokenCheck> QueueService::Consume(std::string token, std::string user_id) {
  const bool reservation = WellFormedToken(token, "qr_");
  if (!reservation && !WellFormedToken(token, "qp_")) co_return TokenCheck::kInvalid;
  if (!IsUuid(user_id)) co_return TokenCheck::kWrongUser;
  const std::string hash = crypto::Sha256Hex(token);
  struct Result {
    TokenCheck check = TokenCheck::kInvalid;
    std::optional<EntryRow> entry;
  };
  auto work = [&](pqxx::work& tx) {
    Result result;
    auto r = db::ExecPrepared(tx,
                              "UPDATE queue.tokens SET used_at = now() WHERE token_hash = $1 AND user_id = $2 AND used_at IS NULL "
                              "AND revoked_at IS NULL AND expires_at > now() RETURNING kind, event_id::text",
                              hash, user_id);
    if (r.empty()) {
      const auto row = ReadToken(tx, hash);
      result.check = Judge(row, row ? row->kind : std::string(reservation ? "qr" : "qp"), Lower(user_id), "", "");
      if (result.check == TokenCheck::kOk) result.check = TokenCheck::kUsed;  // lost a race with another consumer
      return result;
    }
    result.check = TokenCheck::kOk;
    if (r[0][0].as<std::string>() == "qr") {
      auto e = tx.exec_params(std::string("UPDATE queue.entries SET status = 'USED', ended_at = now(), "
                                          "change_id = nextval('queue.change_seq') WHERE event_id = $1 AND user_id = $2 "
                                          "AND status = 'ADMITTED' RETURNING ") +
                                  kEntryColumns,
                              r[0][1].as<std::string>(), user_id);
      if (!e.empty()) result.entry = ParseEntry(e[0]);
    }
    return result;
  };
  const Result result = co_await pool_.Transact(std::move(work));
  if (result.entry) {
    const auto& e = *result.entry;
    ApplyRow(e.event_id, e.user, e.seq, e.status, e.change_id, "", 0, nullptr);
  }
  co_return result.check;
}

namespace {

// The one statement that uses up a reservation's qp_ tokens; returns how many.
int UsePaymentTokensUp(pqxx::work& tx, const std::string& reservation_id) {
  return static_cast<int>(tx.exec_params("UPDATE queue.tokens SET used_at = now() WHERE reservation_id = $1 "
                                         "AND kind = 'qp' AND used_at IS NULL AND revoked_at IS NULL",
                                         reservation_id)
                              .affected_rows());
}

}  // namespace

boost::asio::awaitable<int> QueueService::ConsumePaymentTokens(std::string reservation_id) {
  if (reservation_id.empty()) throw std::invalid_argument("queue: ConsumePaymentTokens needs a reservation id");
  auto work = [&](pqxx::work& tx) { return UsePaymentTokensUp(tx, reservation_id); };
  co_return co_await pool_.Transact(std::move(work));
}

void QueueService::OnReservationConfirmed(pqxx::work& tx, const events::Envelope& e) {
  const auto* id = e.payload.if_contains("reservationId");
  if (id == nullptr || !id->is_string()) throw std::invalid_argument("payload.reservationId missing");
  UsePaymentTokensUp(tx, std::string(id->as_string()));
}

}  // namespace ticketd::queue
