// The waiting room against a real Postgres (a fresh database per test):
// fairness, idempotency, one room per user, capacity, the sale window,
// admission rate and max-active, stale users, tokens, restart recovery and
// two schedulers on one database. A small in-test CatalogReader stands in for
// the catalog module (it is our own interface). The scheduler and the sync
// are stepped by hand (no background threads), so nothing depends on timing.
#include <doctest/doctest.h>

#include <boost/asio.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "queue/service.hpp"
#include "support/pg.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/migrate.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

using catalog::TimePoint;

class FakeCatalog final : public catalog::CatalogReader {
 public:
  std::string Add(TimePoint sale_starts, TimePoint sale_ends, catalog::QueueSettings q = {}) {
    catalog::EventInfo e;
    e.event_id = NewUuid();
    e.title = "Test";
    e.sale_starts_at = sale_starts;
    e.sale_ends_at = sale_ends;
    e.starts_at = sale_ends + 24h;
    e.ends_at = e.starts_at + 2h;
    e.queue = std::move(q);
    std::lock_guard lock(mu_);
    events_[e.event_id] = e;
    return e.event_id;
  }
  std::string OnSale(catalog::QueueSettings q = {}) {
    return Add(std::chrono::system_clock::now() - 1min, std::chrono::system_clock::now() + 1h, std::move(q));
  }
  void Update(const std::string& id, const std::function<void(catalog::EventInfo&)>& fn) {
    std::lock_guard lock(mu_);
    fn(events_.at(id));
  }
  asio::awaitable<std::optional<catalog::EventInfo>> FindEvent(std::string event_id) override {
    std::optional<catalog::EventInfo> out;
    {
      std::lock_guard lock(mu_);
      auto it = events_.find(event_id);
      if (it != events_.end()) out = it->second;
    }
    co_return out;
  }
  catalog::SeatResolution ResolveSeats(const std::string&, const std::vector<std::string>&) override { return {}; }

 private:
  std::mutex mu_;
  std::map<std::string, catalog::EventInfo> events_;
};

template <typename T>
T Run(asio::awaitable<T> aw) {
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  auto fut = asio::co_spawn(io, std::move(aw), asio::use_future);
  std::thread runner([&io] { io.run(); });
  fut.wait();
  guard.reset();
  runner.join();
  return fut.get();
}

// The API error code a call throws ("" when it succeeds).
template <typename F>
std::string CodeOf(F&& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e.problem().code;
  }
  return "";
}

queue::QueueOptions TestOptions() {
  queue::QueueOptions o;
  o.drop_after = 60s;
  return o;
}

struct Db {
  Db() {
    std::vector<db::Migration> mine;
    for (auto& m : db::EmbeddedMigrations()) {
      if (m.module == "queue") mine.push_back(m);
    }
    db::Migrate(db.url(), mine, "");
  }
  db::PoolOptions PoolOpts() const {
    db::PoolOptions o;
    o.name = "queue";
    o.conninfo = db::WithCredentials(db.url(), db::ModuleRole("queue"), "");
    o.size = 3;
    return o;
  }
  void Exec(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    tx.exec0(sql);
    tx.commit();
  }
  pqxx::result Query(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    auto r = tx.exec(sql);
    tx.commit();
    return r;
  }
  test::TempDatabase db;
};

struct Instance {
  Instance(Db& d, FakeCatalog& catalog, queue::QueueOptions o = TestOptions())
      : pool(d.PoolOpts(), nullptr), service(std::move(o), pool, catalog, nullptr) {
    service.RebuildSync();
  }
  ~Instance() {
    service.Stop();
    pool.Stop();
  }
  queue::Answer Enter(const std::string& event, const std::string& user) { return Run(service.Enter(event, user)); }
  queue::Answer Status(const std::string& event, const std::string& user) { return Run(service.Status(event, user)); }
  void Leave(const std::string& event, const std::string& user) { Run(service.Leave(event, user)); }
  std::int64_t Tick() {
    const auto n = service.SchedulerTick();
    service.SyncOnce();
    return n;
  }
  db::Pool pool;
  queue::QueueService service;
};

boost::json::object Update(Instance& q, const std::string& event, queue::SettingsPatch patch) {
  std::string id = event;
  return Run(q.service.AdminUpdate(std::move(id), std::move(patch)));
}

queue::SettingsPatch Paused(bool paused) {
  queue::SettingsPatch p;
  p.paused = paused;
  return p;
}

std::vector<std::string> Users(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(NewUuid());
  return out;
}

}  // namespace

TEST_CASE("queue service: enter is idempotent and positions follow arrival order") {
  Db d;
  FakeCatalog catalog;
  Instance q(d, catalog);
  const auto event = catalog.OnSale();
  const auto users = Users(5);
  for (int i = 0; i < 5; ++i) {
    const auto a = q.Enter(event, users[static_cast<std::size_t>(i)]);
    CHECK(a.status == queue::EntryStatus::kWaiting);
    CHECK(a.position == i + 1);
    CHECK(a.ahead == i);
    CHECK(a.next_poll_seconds == 1);
    // No admission history yet: the configured rate (10/s).
    CHECK(a.estimated_wait_seconds == 1);
  }
  const auto again = q.Enter(event, users[2]);
  CHECK(again.position == 3);
  CHECK(q.Status(event, users[2]).position == 3);
  CHECK(d.Query("SELECT count(*) FROM queue.entries")[0][0].as<int>() == 5);
  // Leaving moves everyone behind up; re-entering goes to the back.
  q.Leave(event, users[1]);
  CHECK(q.Status(event, users[2]).position == 2);
  CHECK(CodeOf([&] { q.Status(event, users[1]); }) == "NOT_FOUND");
  CHECK(CodeOf([&] { q.Leave(event, users[1]); }) == "NOT_FOUND");
  CHECK(q.Enter(event, users[1]).position == 5);
}

TEST_CASE("queue service: concurrent enters are group-committed and each gets one distinct place") {
  Db d;
  FakeCatalog catalog;
  Instance q(d, catalog);
  const auto event = catalog.OnSale();
  const auto users = Users(300);
  asio::io_context io;
  std::vector<std::future<queue::Answer>> answers;
  for (int round = 0; round < 2; ++round) {  // everyone twice at once: idempotent
    for (const auto& u : users) answers.push_back(asio::co_spawn(io, q.service.Enter(event, u), asio::use_future));
  }
  std::vector<std::thread> threads;
  auto guard = asio::make_work_guard(io);
  for (int i = 0; i < 4; ++i) threads.emplace_back([&io] { io.run(); });
  std::map<std::string, std::int64_t> place;
  std::set<std::int64_t> positions;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const auto a = answers[i].get();
    const auto& u = users[i % users.size()];
    if (i < users.size()) {
      place[u] = a.position;
    }
  }
  guard.reset();
  for (auto& t : threads) t.join();
  CHECK(d.Query("SELECT count(*) FROM queue.entries")[0][0].as<int>() == 300);
  // Final places: a permutation of 1..300, the same through any later call.
  for (const auto& u : users) positions.insert(q.Status(event, u).position);
  CHECK(positions.size() == 300);
  CHECK(*positions.begin() == 1);
  CHECK(*positions.rbegin() == 300);
  // Seats in the database follow the same order as the index.
  std::int64_t expected = 1;
  for (const auto& r : d.Query("SELECT user_id::text FROM queue.entries ORDER BY seq")) {
    CHECK(q.Status(event, r[0].as<std::string>()).position == expected++);
  }
}

TEST_CASE("queue service: one waiting room per user across events") {
  Db d;
  FakeCatalog catalog;
  Instance q(d, catalog);
  const auto a = catalog.OnSale();
  const auto b = catalog.OnSale();
  const auto user = NewUuid();
  q.Enter(a, user);
  try {
    q.Enter(b, user);
    FAIL("entered a second room");
  } catch (const ApiError& e) {
    CHECK(e.problem().code == "ALREADY_IN_OTHER_QUEUE");
    CHECK(e.problem().status == 409);
    CHECK(e.problem().detail.find(a) != std::string::npos);
  }
  // The refused entry was the room's first: the room still works for others.
  const auto other = NewUuid();
  CHECK(q.Enter(b, other).position == 1);
  CHECK(q.Tick() == 2);  // a's user and b's other
  CHECK(q.Status(b, other).status == queue::EntryStatus::kAdmitted);
  q.Leave(a, user);
  CHECK(q.Enter(b, user).position == 1);
}

TEST_CASE("queue service: capacity, the sale window and unknown events") {
  Db d;
  FakeCatalog catalog;
  Instance q(d, catalog);
  catalog::QueueSettings small;
  small.capacity = 2;
  const auto event = catalog.OnSale(small);
  const auto users = Users(3);
  q.Enter(event, users[0]);
  q.Enter(event, users[1]);
  CHECK(CodeOf([&] { q.Enter(event, users[2]); }) == "QUEUE_FULL");
  CHECK(CodeOf([&] { q.Enter(event, users[0]); }).empty());  // already in: idempotent, not full

  const auto now = std::chrono::system_clock::now();
  catalog::QueueSettings pre;
  pre.pre_queue_minutes = 10;
  const auto later = catalog.Add(now + 11min, now + 2h, pre);
  CHECK(CodeOf([&] { q.Enter(later, NewUuid()); }) == "SALE_NOT_OPEN");
  const auto soon = catalog.Add(now + 9min, now + 2h, pre);
  const auto pre_answer = q.Enter(soon, NewUuid());
  CHECK(pre_answer.position == 1);
  CHECK(pre_answer.estimated_wait_seconds >= 9 * 60 - 5);  // waits for the sale to open
  const auto ended = catalog.Add(now - 2h, now - 1min);
  CHECK(CodeOf([&] { q.Enter(ended, NewUuid()); }) == "SALE_NOT_OPEN");
  const auto cancelled = catalog.OnSale();
  catalog.Update(cancelled, [](catalog::EventInfo& e) { e.cancelled = true; });
  CHECK(CodeOf([&] { q.Enter(cancelled, NewUuid()); }) == "SALE_NOT_OPEN");
  CHECK(CodeOf([&] { q.Enter(NewUuid(), NewUuid()); }) == "NOT_FOUND");
}

TEST_CASE("queue service: admission respects the rate and the maximum admitted") {
  Db d;
  FakeCatalog catalog;
  Instance q(d, catalog);
  catalog::QueueSettings s;
  s.admission_rate_per_second = 3;
  s.max_active = 5;
  const auto event = catalog.OnSale(s);
  const auto users = Users(10);
  for (const auto& u : users) q.Enter(event, u);

  CHECK(q.Tick() == 3);
  for (int i = 0; i < 3; ++i) CHECK(q.Status(event, users[static_cast<std::size_t>(i)]).status == queue::EntryStatus::kAdmitted);
  CHECK(q.Status(event, users[3]).position == 1);
  CHECK(q.Status(event, users[9]).position == 7);
  CHECK(q.Tick() == 2);  // max active 5
  CHECK(q.Tick() == 0);
  CHECK(q.Status(event, users[5]).position == 1);
  // Using a token frees its slot for the next one, in order.
  const auto admitted = q.Status(event, users[0]);
  REQUIRE(admitted.token.starts_with("qr_"));
  CHECK(Run(q.service.Consume(admitted.token, users[0])) == queue::TokenCheck::kOk);
  CHECK(q.Tick() == 1);
  CHECK(q.Status(event, users[5]).status == queue::EntryStatus::kAdmitted);
  CHECK(q.Status(event, users[6]).position == 1);
  // The estimate now comes from admissions actually made (6 in the last seconds).
  const auto far = q.Status(event, users[9]);
  CHECK(far.position == 4);
  CHECK(far.estimated_wait_seconds >= 1);
  const auto total = d.Query("SELECT sum(count) FROM queue.admissions")[0][0].as<int>();
  CHECK(total == 6);
}

TEST_CASE("queue service: nobody is admitted before the sale opens and paused rooms wait") {
  Db d;
  FakeCatalog catalog;
  Instance q(d, catalog);
  const auto now = std::chrono::system_clock::now();
  const auto event = catalog.Add(now + 5min, now + 1h);
  const auto user = NewUuid();
  q.Enter(event, user);
  CHECK(q.Tick() == 0);
  d.Exec("UPDATE queue.rooms SET sale_starts_at = now() - interval '1 second'");
  Update(q, event, Paused(true));
  CHECK(q.Tick() == 0);
  const auto stats = Update(q, event, Paused(false));
  CHECK(stats.at("config").at("paused").as_bool() == false);
  CHECK(q.Tick() == 1);
}

TEST_CASE("queue service: random order shuffles the pre-queue only, later arrivals stay in order") {
  for (const std::string method : {"random", "fifo"}) {
    CAPTURE(method);
    Db d;
    FakeCatalog catalog;
    Instance q(d, catalog);
    const auto now = std::chrono::system_clock::now();
    catalog::QueueSettings s;
    s.method = method;
    s.admission_rate_per_second = 1000;
    s.max_active = 1000;
    const auto event = catalog.Add(now + 5min, now + 1h, s);
    const auto early = Users(40);
    for (const auto& u : early) q.Enter(event, u);
    CHECK(q.Tick() == 0);
    // The sale opens.
    catalog.Update(event, [](catalog::EventInfo& e) { e.sale_starts_at = std::chrono::system_clock::now() - 1s; });
    d.Exec("UPDATE queue.rooms SET sale_starts_at = now() - interval '1 second'");
    std::this_thread::sleep_for(1100ms);  // the service caches event info for 1 s
    const auto late = Users(5);
    for (const auto& u : late) q.Enter(event, u);
    // Sale open: the leader shuffles (random) once, before admitting.
    q.service.SchedulerTick();
    std::vector<std::string> order;
    for (const auto& r : d.Query("SELECT user_id::text FROM queue.entries ORDER BY seq")) order.push_back(r[0].as<std::string>());
    REQUIRE(order.size() == 45);
    const std::vector<std::string> head(order.begin(), order.begin() + 40);
    const std::vector<std::string> tail(order.begin() + 40, order.end());
    CHECK(std::set<std::string>(head.begin(), head.end()) == std::set<std::string>(early.begin(), early.end()));
    CHECK(tail == late);
    if (method == "random") {
      CHECK(head != early);  // 1 / 40! chance of a false failure
    } else {
      CHECK(head == early);
    }
    // Admissions follow that order.
    q.service.SyncOnce();
    for (const auto& u : order) CHECK(q.Status(event, u).status == queue::EntryStatus::kAdmitted);
  }
}

TEST_CASE("queue service: users who stop polling lose their place") {
  Db d;
  FakeCatalog catalog;
  auto o = TestOptions();
  o.drop_after = 1s;
  Instance q(d, catalog, o);
  const auto event = catalog.OnSale();
  Update(q, event, Paused(true));
  const auto gone = NewUuid();
  const auto polling = NewUuid();
  q.Enter(event, gone);
  q.Enter(event, polling);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool dropped = false;
  while (!dropped && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(300ms);
    q.Status(event, polling);
    q.service.FlushTouches();
    q.Tick();
    dropped = d.Query("SELECT status FROM queue.entries WHERE user_id = '" + gone + "'")[0][0].as<std::string>() == "DROPPED";
  }
  CHECK(dropped);
  CHECK(CodeOf([&] { q.Status(event, gone); }) == "NOT_FOUND");
  CHECK(q.Status(event, polling).position == 1);
}

TEST_CASE("queue service: tokens are bound to user, event and purpose, single use, and expire") {
  Db d;
  FakeCatalog catalog;
  Instance q(d, catalog);
  const auto event = catalog.OnSale();
  const auto other_event = catalog.OnSale();
  const auto users = Users(3);
  for (const auto& u : users) q.Enter(event, u);
  REQUIRE(q.Tick() == 3);
  const auto token = q.Status(event, users[0]).token;
  REQUIRE(token.size() == 3 + 43);
  auto& s = q.service;
  CHECK(Run(s.ValidateReservationToken(token, users[0], event)) == queue::TokenCheck::kOk);
  CHECK(Run(s.ValidateReservationToken(token, users[1], event)) == queue::TokenCheck::kWrongUser);
  CHECK(Run(s.ValidateReservationToken(token, users[0], other_event)) == queue::TokenCheck::kWrongEvent);
  std::string forged = token;
  forged[10] = forged[10] == 'A' ? 'B' : 'A';
  CHECK(Run(s.ValidateReservationToken(forged, users[0], event)) == queue::TokenCheck::kInvalid);
  CHECK(Run(s.ValidateReservationToken("qr_short", users[0], event)) == queue::TokenCheck::kInvalid);
  CHECK(Run(s.ValidatePaymentToken(token, users[0], "r1")) == queue::TokenCheck::kInvalid);  // wrong purpose
  // Nothing secret is stored: only the hash is in the token table.
  CHECK(d.Query("SELECT count(*) FROM queue.tokens WHERE token_hash = '" + token + "'")[0][0].as<int>() == 0);

  // Payment token after a hold.
  const auto qp = Run(s.IssuePaymentToken(users[0], event, "res-1", 300s));
  REQUIRE(qp.starts_with("qp_"));
  CHECK(Run(s.ValidatePaymentToken(qp, users[0], "res-1")) == queue::TokenCheck::kOk);
  CHECK(Run(s.ValidatePaymentToken(qp, users[0], "res-2")) == queue::TokenCheck::kWrongEvent);
  CHECK(Run(s.ValidatePaymentToken(qp, users[1], "res-1")) == queue::TokenCheck::kWrongUser);
  CHECK(Run(s.ValidateReservationToken(qp, users[0], event)) == queue::TokenCheck::kInvalid);

  // Single use.
  CHECK(Run(s.Consume(token, users[1])) == queue::TokenCheck::kWrongUser);
  CHECK(Run(s.Consume(token, users[0])) == queue::TokenCheck::kOk);
  CHECK(Run(s.Consume(token, users[0])) == queue::TokenCheck::kUsed);
  CHECK(Run(s.ValidateReservationToken(token, users[0], event)) == queue::TokenCheck::kUsed);
  CHECK(CodeOf([&] { q.Status(event, users[0]); }) == "NOT_FOUND");  // moved on to the reservation
  CHECK(Run(s.Consume(qp, users[0])) == queue::TokenCheck::kOk);
  CHECK(Run(s.ValidatePaymentToken(qp, users[0], "res-1")) == queue::TokenCheck::kUsed);
  // A successful payment uses up the reservation's payment tokens, and only those.
  const auto qp2 = Run(s.IssuePaymentToken(users[0], event, "res-2", 300s));
  const auto qp3 = Run(s.IssuePaymentToken(users[0], event, "res-3", 300s));
  CHECK(Run(s.ConsumePaymentTokens("res-2")) == 1);
  CHECK(Run(s.ConsumePaymentTokens("res-2")) == 0);
  CHECK(Run(s.ValidatePaymentToken(qp2, users[0], "res-2")) == queue::TokenCheck::kUsed);
  CHECK(Run(s.ValidatePaymentToken(qp3, users[0], "res-3")) == queue::TokenCheck::kOk);

  // Leaving revokes the token.
  const auto token2 = q.Status(event, users[1]).token;
  q.Leave(event, users[1]);
  CHECK(Run(s.ValidateReservationToken(token2, users[1], event)) == queue::TokenCheck::kUsed);

  // Expiry: the token is refused and the unused admission frees its slot.
  const auto token3 = q.Status(event, users[2]).token;
  d.Exec("UPDATE queue.tokens SET expires_at = now() - interval '1 second' WHERE kind = 'qr'");
  d.Exec("UPDATE queue.entries SET token_expires_at = now() - interval '1 second' WHERE status = 'ADMITTED'");
  CHECK(Run(s.ValidateReservationToken(token3, users[2], event)) == queue::TokenCheck::kExpired);
  CHECK(Run(s.Consume(token3, users[2])) == queue::TokenCheck::kExpired);
  q.Tick();
  CHECK(d.Query("SELECT status FROM queue.entries WHERE user_id = '" + users[2] + "'")[0][0].as<std::string>() == "EXPIRED");
  CHECK(CodeOf([&] { q.Status(event, users[2]); }) == "NOT_FOUND");
}

TEST_CASE("queue service: a restart rebuilds the same order and the same tokens") {
  Db d;
  FakeCatalog catalog;
  catalog::QueueSettings s;
  s.admission_rate_per_second = 3;
  const auto event = catalog.OnSale(s);
  const auto users = Users(30);
  std::map<std::string, std::tuple<queue::EntryStatus, std::int64_t, std::string>> before;
  {
    Instance q(d, catalog);
    for (const auto& u : users) q.Enter(event, u);
    q.Tick();
    q.Leave(event, users[7]);
    q.Leave(event, users[20]);
    for (const auto& u : users) {
      try {
        const auto a = q.Status(event, u);
        before[u] = {a.status, a.position, a.token};
      } catch (const ApiError&) {
      }
    }
  }  // gone without a word (the process died)
  Instance again(d, catalog);
  CHECK(again.service.ready());
  std::size_t same = 0;
  for (const auto& [u, state] : before) {
    const auto a = again.Status(event, u);
    CHECK(a.status == std::get<0>(state));
    CHECK(a.position == std::get<1>(state));
    CHECK(a.token == std::get<2>(state));
    ++same;
  }
  CHECK(same == 28);
  CHECK(again.service.IndexFootprint().second == 28);
}

TEST_CASE("queue service: two schedulers on one database never double-admit") {
  Db d;
  FakeCatalog catalog;
  catalog::QueueSettings s;
  s.admission_rate_per_second = 7;
  s.max_active = 50;
  const auto event = catalog.OnSale(s);
  Instance a(d, catalog);
  Instance b(d, catalog);
  for (const auto& u : Users(120)) a.Enter(event, u);
  b.service.SyncOnce();
  CHECK(b.service.IndexFootprint().second == 120);  // the other instance sees them

  std::atomic<bool> go{false};
  auto loop = [&](Instance& q) {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < 15; ++i) q.service.SchedulerTick();
  };
  std::thread ta([&] { loop(a); });
  std::thread tb([&] { loop(b); });
  go = true;
  ta.join();
  tb.join();
  const auto leaders = a.service.LeadEvents().size() + b.service.LeadEvents().size();
  CHECK(leaders == 1);
  auto r = d.Query("SELECT count(*) FILTER (WHERE status = 'ADMITTED'), count(DISTINCT token) FILTER (WHERE status = 'ADMITTED'), "
                   "(SELECT sum(count) FROM queue.admissions), (SELECT count(*) FROM queue.tokens) FROM queue.entries");
  CHECK(r[0][0].as<int>() == 50);
  CHECK(r[0][1].as<int>() == 50);
  CHECK(r[0][2].as<int>() == 50);
  CHECK(r[0][3].as<int>() == 50);
  // Each tick admitted at most the rate.
  CHECK(d.Query("SELECT max(count) FROM queue.admissions")[0][0].as<int>() <= 7);

  // The leader goes away: the other takes over.
  Instance& leader = a.service.LeadEvents().empty() ? b : a;
  Instance& follower = &leader == &a ? b : a;
  leader.service.Stop();
  d.Exec("UPDATE queue.entries SET token_expires_at = now() - interval '1 second' WHERE status = 'ADMITTED'");
  // The server frees the old leader's advisory lock when its backend exits,
  // a moment after the client closed: tick until the follower leads.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    follower.service.SchedulerTick();
    if (follower.service.LeadEvents().size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  CHECK(follower.service.LeadEvents().size() == 1);
  CHECK(d.Query("SELECT count(*) FROM queue.entries WHERE status = 'EXPIRED'")[0][0].as<int>() == 50);
  CHECK(d.Query("SELECT count(*) FROM queue.entries WHERE status = 'ADMITTED'")[0][0].as<int>() == 7);
}

TEST_CASE("queue service: admin stats, settings and clear") {
  Db d;
  FakeCatalog catalog;
  Instance q(d, catalog);
  const auto event = catalog.OnSale();
  const auto users = Users(4);
  for (const auto& u : users) q.Enter(event, u);
  queue::SettingsPatch patch;
  patch.admission_rate_per_second = 2;
  patch.max_active = 3;
  auto stats = Update(q, event, std::move(patch));
  CHECK(stats.at("config").at("admissionRatePerSecond").as_int64() == 2);
  CHECK(stats.at("config").at("maxActive").as_int64() == 3);
  CHECK(q.Tick() == 2);
  q.Leave(event, users[3]);
  stats = Run(q.service.AdminStats(event));
  CHECK(stats.at("waiting").as_int64() == 1);
  CHECK(stats.at("active").as_int64() == 2);
  CHECK(stats.at("admittedLastMinute").as_int64() == 2);
  CHECK(stats.at("estimateAccuracy").at("samples").as_int64() == 2);
  CHECK(stats.at("abandonRate").as_double() == doctest::Approx(1.0));  // the only one that ended left
  CHECK(stats.at("leader").as_bool());
  const auto token = q.Status(event, users[0]).token;
  CHECK(Run(q.service.AdminClear(event)) == 3);
  CHECK(CodeOf([&] { q.Status(event, users[2]); }) == "NOT_FOUND");
  CHECK(Run(q.service.ValidateReservationToken(token, users[0], event)) == queue::TokenCheck::kUsed);
  CHECK(CodeOf([&] { Run(q.service.AdminStats(NewUuid())); }) == "NOT_FOUND");
}
