// The reservation module against real Postgres with real concurrency: many
// clients racing for the same seats, holds against the expiry sweeper,
// confirmations against expiry, seat changes, idempotency, and a random
// sequence of operations checked against a reference model. The catalog is
// the real one; the waiting room's tokens are a small stand-in (our own
// interface, tested in the queue module).
#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "catalog/service.hpp"
#include "reservation/service.hpp"
#include "support/pg.hpp"
#include "support/run_sync.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/events.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/migrate.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

using test::RunSync;

// qr_<userId> is valid for its user (any event) until used; qr_forged never.
class FakeTokens final : public queue::QueueTokens {
 public:
  asio::awaitable<queue::TokenCheck> ValidateReservationToken(std::string token, std::string user_id, std::string) override {
    co_return Check(token, user_id);
  }
  asio::awaitable<std::string> IssuePaymentToken(std::string, std::string, std::string reservation_id,
                                                 std::chrono::seconds) override {
    co_return "qp_" + reservation_id;
  }
  asio::awaitable<queue::TokenCheck> ValidatePaymentToken(std::string, std::string, std::string) override {
    co_return queue::TokenCheck::kOk;
  }
  asio::awaitable<queue::TokenCheck> Consume(std::string token, std::string user_id) override {
    const auto c = Check(token, user_id);
    if (c != queue::TokenCheck::kOk) co_return c;
    std::lock_guard lock(mu_);
    if (!used_.insert(token).second) co_return queue::TokenCheck::kUsed;
    co_return queue::TokenCheck::kOk;
  }
  asio::awaitable<int> ConsumePaymentTokens(std::string) override { co_return 0; }
  void Reset() {
    std::lock_guard lock(mu_);
    used_.clear();
  }

 private:
  queue::TokenCheck Check(const std::string& token, const std::string& user_id) {
    if (!token.starts_with("qr_")) return queue::TokenCheck::kInvalid;
    if (token.substr(3) != user_id) return queue::TokenCheck::kWrongUser;
    std::lock_guard lock(mu_);
    return used_.contains(token) ? queue::TokenCheck::kUsed : queue::TokenCheck::kOk;
  }
  std::mutex mu_;
  std::set<std::string> used_;
};

db::PoolOptions PoolFor(const std::string& url, const std::string& module, int size) {
  db::PoolOptions o;
  o.name = module;
  o.conninfo = db::WithCredentials(url, db::ModuleRole(module), "");
  o.size = size;
  o.max_queue = 100000;
  o.retry_attempts = 5;
  return o;
}

struct Fixture {
  explicit Fixture(int seats_per_row = 10, std::chrono::seconds hold = 300s) {
    db::Migrate(db.url(), db::EmbeddedMigrations(), "");
    catalog_pool = std::make_unique<db::Pool>(PoolFor(db.url(), "catalog", 2), nullptr);
    catalog = std::make_unique<catalog::CatalogService>(catalog::CatalogOptions{}, *catalog_pool, nullptr);
    catalog::VenueInput venue{"Venue", ""};
    const std::string venue_id(RunSync(catalog->CreateVenue(std::move(venue))).at("venueId").as_string());
    std::vector<FieldError> errors;
    const std::string tmpl = R"({"sections": [{"name": "A", "rows": [{"row": "1", "seats": )" + std::to_string(seats_per_row) +
                             R"(, "grade": "VIP"}, {"row": "2", "seats": )" + std::to_string(seats_per_row) + R"(, "grade": "S"}]}]})";
    catalog::HallInput hall{"Hall", catalog::ParseSeatTemplate(json::parse(tmpl), "seatTemplate", errors)};
    REQUIRE(errors.empty());
    std::string vid = venue_id;
    const auto h = RunSync(catalog->CreateHall(std::move(vid), std::move(hall)));
    catalog::EventInput in;
    in.venue_id = venue_id;
    in.hall_id = std::string(h.at("hallId").as_string());
    in.title = "Show";
    in.artist = "Artist";
    const auto now = std::chrono::system_clock::now();
    in.sale_starts_at = now - 1h;
    in.sale_ends_at = now + 240h;
    in.starts_at = now + 480h;
    in.ends_at = now + 483h;
    in.prices = std::vector<std::pair<std::string, std::int64_t>>{{"VIP", 1000}, {"S", 500}};
    events::Metadata meta;
    event_id = std::string(RunSync(catalog->CreateEvent(std::move(in), std::move(meta))).at("eventId").as_string());
    std::string eid = event_id;
    const auto map = RunSync(catalog->SeatMap(std::move(eid)));
    const auto doc = json::parse(map->body);
    for (const auto& s : doc.at("seats").as_array()) seats.emplace_back(s.at("seatId").as_string());
    reservation::ReservationOptions o;
    o.hold_ttl = hold;
    o.sweep_interval = 100ms;
    pool = std::make_unique<db::Pool>(PoolFor(db.url(), "reservation", 8), nullptr);
    service = std::make_unique<reservation::ReservationService>(o, *pool, *catalog, *catalog, tokens, nullptr);
  }

  reservation::HoldInput Hold(const std::string& user, std::vector<std::size_t> idx, std::string key = "") {
    reservation::HoldInput in;
    in.user_id = user;
    in.request_id = NewUuid();
    in.queue_token = "qr_" + user;
    in.idempotency_key = key.empty() ? NewUuid() : key;
    in.event_id = event_id;
    for (auto i : idx) in.seat_ids.push_back(seats[i]);
    return in;
  }
  reservation::Answer HoldSync(reservation::HoldInput in) { return RunSync(service->Hold(std::move(in))); }
  long long Scalar(const std::string& sql) {
    pqxx::connection c(db.url());
    return pqxx::nontransaction(c).exec1(sql)[0].as<long long>();
  }
  // No seat in two active reservations; every active reservation has all its seats.
  void CheckInvariants() {
    CHECK(Scalar("SELECT count(*) FROM (SELECT seat_id FROM reservation.reservation_seats WHERE active "
                 "GROUP BY event_id, seat_id HAVING count(*) > 1) d") == 0);
    CHECK(Scalar("SELECT count(*) FROM reservation.reservation_seats s JOIN reservation.reservations r ON r.id = s.reservation_id "
                 "WHERE s.active AND r.status NOT IN ('PENDING', 'CONFIRMED')") == 0);
    CHECK(Scalar("SELECT count(*) FROM reservation.reservations r WHERE r.status IN ('PENDING', 'CONFIRMED') AND "
                 "(SELECT count(*) FROM reservation.reservation_seats s WHERE s.reservation_id = r.id AND s.active) = 0") == 0);
    CHECK(Scalar("SELECT count(*) FROM reservation.reservations r WHERE r.total_amount <> "
                 "(SELECT coalesce(sum(price), 0) FROM reservation.reservation_seats s WHERE s.reservation_id = r.id AND s.fence = r.fence)") == 0);
  }
  void Pay(const std::string& reservation_id, std::int64_t amount, std::int64_t fence, const std::string& payment_id) {
    auto e = events::Make("PaymentSucceeded", "Payment", payment_id,
                          json::object{{"paymentId", payment_id}, {"reservationId", reservation_id}, {"amount", amount}, {"fence", fence}});
    pool->TransactSync([&](pqxx::work& tx) { service->OnPaymentSucceeded(tx, e); });
  }

  test::TempDatabase db;
  std::unique_ptr<db::Pool> catalog_pool;
  std::unique_ptr<catalog::CatalogService> catalog;
  FakeTokens tokens;
  std::unique_ptr<db::Pool> pool;
  std::unique_ptr<reservation::ReservationService> service;
  std::string event_id;
  std::vector<std::string> seats;
};

json::object BodyOf(const reservation::Answer& a) { return json::parse(a.body).as_object(); }
std::string CodeOf(const reservation::Answer& a) { return std::string(BodyOf(a).at("code").as_string()); }

// Runs `n` holds concurrently on `threads` I/O threads; returns the answers (status 503 for exceptions).
std::vector<reservation::Answer> Concurrently(Fixture& f, std::vector<reservation::HoldInput> inputs, int threads = 4) {
  asio::io_context io;
  std::vector<reservation::Answer> answers(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    asio::co_spawn(
        io,
        [&f, &answers, i, in = std::move(inputs[i])]() mutable -> asio::awaitable<void> {
          try {
            answers[i] = co_await f.service->Hold(std::move(in));
          } catch (const ApiError& e) {
            answers[i] = {e.problem().status, std::string("{\"code\":\"") + e.problem().code + "\"}", {}};
          } catch (const std::exception& e) {
            answers[i] = {599, e.what(), {}};
          }
        },
        asio::detached);
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&io] { io.run(); });
  for (auto& t : pool) t.join();
  return answers;
}

}  // namespace

TEST_CASE("reservation: 200 clients racing for one seat — exactly one hold, 199 SEAT_UNAVAILABLE") {
  Fixture f;
  std::vector<reservation::HoldInput> inputs;
  for (int i = 0; i < 200; ++i) inputs.push_back(f.Hold(NewUuid(), {0}));
  // The live map would turn most away before the database: start them all before any commit shows.
  const auto answers = Concurrently(f, std::move(inputs), 8);
  int won = 0, lost = 0;
  for (const auto& a : answers) {
    if (a.status == 201) ++won;
    if (a.status == 409 && a.body.find("SEAT_UNAVAILABLE") != std::string::npos) ++lost;
  }
  CHECK(won == 1);
  CHECK(lost == 199);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.reservation_seats WHERE active AND seat_id = '" + f.seats[0] + "'") == 1);
  f.CheckInvariants();
  // The live map shows the seat HELD.
  const auto res = f.catalog->ResolveSeats(f.event_id, {f.seats[0]});
  CHECK(res.seats[0].status == catalog::SeatStatus::kHeld);
  // So does a map loaded afresh (a restarted instance): holds come from reservation.
  catalog::CatalogService restarted(catalog::CatalogOptions{}, *f.catalog_pool, nullptr);
  restarted.SetHeldSeatsSource(f.service.get());
  restarted.PreloadSync();
  CHECK(restarted.ResolveSeats(f.event_id, {f.seats[0]}).seats[0].status == catalog::SeatStatus::kHeld);
  CHECK(restarted.ResolveSeats(f.event_id, {f.seats[1]}).seats[0].status == catalog::SeatStatus::kAvailable);
}

namespace {
// A seat map's load reads the holds from reservation; a hold event that
// reaches the new map while that read is under way is newer than the read.
// This source plays such an event between the read and its use.
class RacingHolds final : public catalog::HeldSeatsSource {
 public:
  RacingHolds(catalog::HeldSeatsSource& inner, std::function<void()> meanwhile)
      : inner_(inner), meanwhile_(std::move(meanwhile)) {}
  std::vector<catalog::ActiveHold> ActiveHoldsSync(const std::string& event_id) override {
    auto holds = inner_.ActiveHoldsSync(event_id);
    meanwhile_();
    return holds;
  }

 private:
  catalog::HeldSeatsSource& inner_;
  std::function<void()> meanwhile_;
};
}  // namespace

TEST_CASE("reservation: a seat map loading while a hold ends or changes keeps the newer state") {
  Fixture f;
  const auto user = NewUuid();
  const auto held = f.HoldSync(f.Hold(user, {0}));
  REQUIRE(held.status == 201);
  const auto reservation_id = std::string(json::parse(held.body).at("reservationId").as_string());
  const auto fence = f.Scalar("SELECT fence FROM reservation.reservations WHERE id = '" + reservation_id + "'");

  // The hold ends (its release event arrives) while the new map reads the holds.
  {
    catalog::CatalogService loading(catalog::CatalogOptions{}, *f.catalog_pool, nullptr);
    RacingHolds source(*f.service, [&] { loading.SeatsReleased(f.event_id, reservation_id, {f.seats[0]}); });
    loading.SetHeldSeatsSource(&source);
    loading.PreloadSync();
    CHECK(loading.ResolveSeats(f.event_id, {f.seats[0]}).seats[0].status == catalog::SeatStatus::kAvailable);
  }
  // The hold moves to another seat (a newer fence) while the new map reads.
  {
    catalog::CatalogService loading(catalog::CatalogOptions{}, *f.catalog_pool, nullptr);
    RacingHolds source(*f.service, [&] {
      loading.SeatsHeld(f.event_id, reservation_id, fence + 1, {f.seats[1]}, {f.seats[0]});
    });
    loading.SetHeldSeatsSource(&source);
    loading.PreloadSync();
    CHECK(loading.ResolveSeats(f.event_id, {f.seats[0]}).seats[0].status == catalog::SeatStatus::kAvailable);
    CHECK(loading.ResolveSeats(f.event_id, {f.seats[1]}).seats[0].status == catalog::SeatStatus::kHeld);
  }
  // Nothing meanwhile: the read's hold shows.
  {
    catalog::CatalogService loading(catalog::CatalogOptions{}, *f.catalog_pool, nullptr);
    RacingHolds source(*f.service, [] {});
    loading.SetHeldSeatsSource(&source);
    loading.PreloadSync();
    CHECK(loading.ResolveSeats(f.event_id, {f.seats[0]}).seats[0].status == catalog::SeatStatus::kHeld);
  }
}

TEST_CASE("reservation: 1000 clients holding random overlapping seat sets never share a seat") {
  Fixture f(15);  // 30 seats
  std::mt19937 rng(20261121);
  std::vector<reservation::HoldInput> inputs;
  for (int i = 0; i < 1000; ++i) {
    std::set<std::size_t> idx;
    const int n = 1 + static_cast<int>(rng() % 4);
    while (static_cast<int>(idx.size()) < n) idx.insert(rng() % 30);
    inputs.push_back(f.Hold(NewUuid(), {idx.begin(), idx.end()}));
  }
  const auto answers = Concurrently(f, std::move(inputs), 8);
  int won = 0, unexpected = 0;
  for (const auto& a : answers) {
    if (a.status == 201) {
      ++won;
    } else if (a.status != 409) {
      ++unexpected;
      MESSAGE("unexpected answer " << a.status << " " << a.body);
    }
  }
  CHECK(won >= 8);  // at least 30 seats / 4 per hold
  CHECK(unexpected == 0);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.reservations WHERE status = 'PENDING'") == won);
  f.CheckInvariants();
  // The live map agrees with the database.
  const auto res = f.catalog->ResolveSeats(f.event_id, f.seats);
  long long held = 0;
  for (const auto& s : res.seats) held += s.status == catalog::SeatStatus::kHeld ? 1 : 0;
  CHECK(held == f.Scalar("SELECT count(*) FROM reservation.reservation_seats WHERE active"));
}

TEST_CASE("reservation: holds racing the expiry sweeper never double-book and expired seats come back") {
  Fixture f(10, 1s);
  std::atomic<bool> stop{false};
  std::thread sweeper([&] {
    while (!stop) {
      f.service->SweepOnce();
      std::this_thread::sleep_for(20ms);
    }
  });
  for (int round = 0; round < 6; ++round) {
    std::vector<reservation::HoldInput> inputs;
    for (int i = 0; i < 40; ++i) inputs.push_back(f.Hold(NewUuid(), {static_cast<std::size_t>(i % 5), static_cast<std::size_t>(5 + i % 3)}));
    const auto answers = Concurrently(f, std::move(inputs), 4);
    for (const auto& a : answers) CHECK_MESSAGE((a.status == 201 || a.status == 409), a.body);
    f.CheckInvariants();
    std::this_thread::sleep_for(400ms);
  }
  std::this_thread::sleep_for(1200ms);
  stop = true;
  sweeper.join();
  f.service->SweepOnce();
  f.CheckInvariants();
  CHECK(f.Scalar("SELECT count(*) FROM reservation.reservations WHERE status = 'PENDING'") == 0);
  // Round 0 always wins seats, and so does a round 1.2 s later (those 1 s holds are gone by then).
  CHECK(f.Scalar("SELECT count(*) FROM reservation.reservations WHERE status = 'EXPIRED'") >= 2);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.outbox WHERE event_type = 'ReservationExpired'") ==
        f.Scalar("SELECT count(*) FROM reservation.reservations WHERE status = 'EXPIRED'"));
  // Every seat is AVAILABLE again in the live map.
  const auto res = f.catalog->ResolveSeats(f.event_id, f.seats);
  for (const auto& s : res.seats) CHECK(s.status == catalog::SeatStatus::kAvailable);
}

TEST_CASE("reservation: a customer cancel racing the expiry of the hold answers 409 RESERVATION_EXPIRED, never 200") {
  // The saga model's seed 578124857: the cancel checked PENDING, the expiry
  // ended the hold before the cancel took the row lock, and the customer was
  // told 200 "cancelled" for a reservation that stayed EXPIRED. Here the row
  // lock is held by another transaction while the cancel waits on it.
  Fixture f;
  const auto user = NewUuid();
  const auto held = f.HoldSync(f.Hold(user, {0}));
  REQUIRE(held.status == 201);
  const std::string id(BodyOf(held).at("reservationId").as_string());
  pqxx::connection locker(f.db.url());
  pqxx::work lock(locker);
  lock.exec_params1("SELECT 1 FROM reservation.reservations WHERE id = $1 FOR UPDATE", id);
  std::optional<int> status;
  std::string code;
  std::thread cancel([&] {
    try {
      const auto a = RunSync(f.service->Cancel(user, id, NewUuid(), ""));
      status = a.status;
      code = a.status >= 400 ? CodeOf(a) : "";
    } catch (const ApiError& e) {
      status = e.problem().status;
      code = e.problem().code;
    }
  });
  // Wait (with a deadline) until the cancel is blocked on the row lock.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (f.Scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%reservation%'") == 0) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(10ms);
  }
  lock.exec_params0("UPDATE reservation.reservation_seats SET active = false, released_at = now() WHERE reservation_id = $1", id);
  lock.exec_params0("UPDATE reservation.reservations SET status = 'EXPIRED', ended_at = now() WHERE id = $1", id);
  lock.commit();
  cancel.join();
  REQUIRE(status.has_value());
  CHECK(*status == 409);
  CHECK(code == "RESERVATION_EXPIRED");
  CHECK(f.Scalar("SELECT count(*) FROM reservation.reservations WHERE id = '" + id + "' AND status = 'EXPIRED'") == 1);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.outbox WHERE aggregate_id = '" + id +
                 "' AND event_type = 'ReservationCancelled'") == 0);
}

TEST_CASE("reservation: payment confirmation racing expiry — confirmed or refunded, never both") {
  Fixture f(20, 1s);
  struct Held {
    std::string id;
    std::int64_t amount;
    std::int64_t fence;
  };
  std::vector<Held> held;
  for (std::size_t i = 0; i < 20; ++i) {
    const auto a = f.HoldSync(f.Hold(NewUuid(), {i}));
    REQUIRE(a.status == 201);
    const auto b = BodyOf(a);
    std::string id(b.at("reservationId").as_string());
    const auto summary = RunSync(f.service->FindReservation(id));
    held.push_back({id, b.at("totalAmount").as_int64(), summary->fence});
  }
  std::this_thread::sleep_for(900ms);  // close to expiry: the sweeper and the payments overlap
  std::thread sweeper([&] {
    for (int i = 0; i < 30; ++i) {
      f.service->SweepOnce();
      std::this_thread::sleep_for(10ms);
    }
  });
  for (const auto& h : held) f.Pay(h.id, h.amount, h.fence, "pay-" + h.id);
  sweeper.join();
  f.service->SweepOnce();
  const auto confirmed = f.Scalar("SELECT count(*) FROM reservation.reservations WHERE status = 'CONFIRMED'");
  const auto expired = f.Scalar("SELECT count(*) FROM reservation.reservations WHERE status = 'EXPIRED'");
  CHECK(confirmed + expired == 20);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.outbox WHERE event_type = 'ReservationConfirmed'") == confirmed);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.outbox WHERE event_type = 'ReservationConfirmationRejected'") == expired);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.reservation_seats WHERE active") == confirmed);
  f.CheckInvariants();
  MESSAGE("confirmed " << confirmed << ", expired and refunded " << expired);

  // A duplicate PaymentSucceeded changes nothing; a second payment for a booking is refunded.
  for (const auto& h : held) {
    const auto s = RunSync(f.service->FindReservation(h.id));
    if (s->status != "CONFIRMED") continue;
    f.Pay(h.id, h.amount, h.fence, "pay-" + h.id);
    CHECK(f.Scalar("SELECT count(*) FROM reservation.outbox WHERE event_type = 'ReservationConfirmed'") == confirmed);
    f.Pay(h.id, h.amount, h.fence, "second-" + h.id);
    CHECK(f.Scalar("SELECT count(*) FROM reservation.outbox WHERE event_type = 'ReservationConfirmationRejected' "
                   "AND envelope->'payload'->>'reason' = 'ALREADY_PAID'") == 1);
    break;
  }
}

TEST_CASE("reservation: change seats is atomic, stale fences are refused, limits and tokens are enforced") {
  Fixture f;
  const std::string alice = NewUuid();
  const std::string bob = NewUuid();
  auto a = f.HoldSync(f.Hold(alice, {0, 1}));
  REQUIRE(a.status == 201);
  const auto body = BodyOf(a);
  const std::string id(body.at("reservationId").as_string());
  CHECK(body.at("status").as_string() == "PENDING");
  CHECK(body.at("totalAmount").as_int64() == 2000);
  CHECK(body.at("paymentToken").as_string() == "qp_" + id);
  CHECK(body.at("seats").as_array().size() == 2);
  REQUIRE(f.HoldSync(f.Hold(bob, {2})).status == 201);
  const auto before = RunSync(f.service->FindReservation(id));

  // Into a seat someone else holds: refused, nothing changes.
  try {
    RunSync(f.service->ChangeSeats(alice, id, {f.seats[1], f.seats[2]}));
    FAIL("expected SEAT_UNAVAILABLE");
  } catch (const ApiError& e) {
    CHECK(e.problem().code == "SEAT_UNAVAILABLE");
  }
  auto unchanged = RunSync(f.service->FindReservation(id));
  CHECK(unchanged->fence == before->fence);
  CHECK(unchanged->seats.size() == 2);
  f.CheckInvariants();

  // Into free seats (one VIP kept, one S added): new fence, new total, the old seat free.
  const auto changed = RunSync(f.service->ChangeSeats(alice, id, {f.seats[1], f.seats[15]}));
  CHECK(changed.at("totalAmount").as_int64() == 1500);
  const auto after = RunSync(f.service->FindReservation(id));
  CHECK(after->fence != before->fence);
  CHECK(f.catalog->ResolveSeats(f.event_id, {f.seats[0]}).seats[0].status == catalog::SeatStatus::kAvailable);
  CHECK(f.catalog->ResolveSeats(f.event_id, {f.seats[15]}).seats[0].status == catalog::SeatStatus::kHeld);
  f.CheckInvariants();

  // A payment made for the old fence is refused (refund), not confirmed.
  f.Pay(id, 2000, before->fence, "pay-old");
  CHECK(RunSync(f.service->FindReservation(id))->status == "PENDING");
  CHECK(f.Scalar("SELECT count(*) FROM reservation.outbox WHERE event_type = 'ReservationConfirmationRejected' "
                 "AND envelope->'payload'->>'reason' = 'SEATS_CHANGED'") == 1);
  f.Pay(id, 1500, after->fence, "pay-new");
  CHECK(RunSync(f.service->FindReservation(id))->status == "CONFIRMED");

  // Four seats per person per event across reservations.
  f.tokens.Reset();
  auto more = f.HoldSync(f.Hold(alice, {3, 4, 5}));
  CHECK(more.status == 422);
  CHECK(CodeOf(more) == "SEAT_LIMIT_EXCEEDED");
  CHECK(f.HoldSync(f.Hold(alice, {3, 4})).status == 201);

  // Queue tokens: another user's, forged, used.
  auto wrong = f.Hold(bob, {6});
  wrong.queue_token = "qr_" + alice;
  auto w = f.HoldSync(std::move(wrong));
  CHECK(w.status == 403);
  CHECK(CodeOf(w) == "QUEUE_TOKEN_INVALID");
  CHECK(f.HoldSync(f.Hold(bob, {6})).status == 201);
  auto used = f.HoldSync(f.Hold(bob, {7}));  // that hold used bob's token up
  CHECK(used.status == 403);
  CHECK(CodeOf(used) == "QUEUE_TOKEN_INVALID");
  f.CheckInvariants();
}

TEST_CASE("reservation: Idempotency-Key replays the answer, refuses another body, and one of two concurrent duplicates runs") {
  Fixture f;
  const std::string user = NewUuid();
  const std::string key = NewUuid();
  const auto first = f.HoldSync(f.Hold(user, {0}, key));
  REQUIRE(first.status == 201);
  const auto again = f.HoldSync(f.Hold(user, {0}, key));
  CHECK(again.status == 201);
  CHECK(again.body == first.body);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.reservations") == 1);
  try {
    RunSync(f.service->Hold(f.Hold(user, {1}, key)));
    FAIL("expected IDEMPOTENCY_KEY_REUSED");
  } catch (const ApiError& e) {
    CHECK(e.problem().status == 422);
    CHECK(e.problem().code == "IDEMPOTENCY_KEY_REUSED");
  }
  // The same key of another user is another key.
  const std::string user2 = NewUuid();
  CHECK(f.HoldSync(f.Hold(user2, {2}, key)).status == 201);

  // A definite failure is replayed too.
  const std::string user3 = NewUuid();
  const auto taken = f.HoldSync(f.Hold(user3, {0}, "k3"));
  CHECK(taken.status == 409);
  f.HoldSync(f.Hold(user3, {0}, "k3"));
  CHECK(f.HoldSync(f.Hold(user3, {0}, "k3")).body == taken.body);

  // Concurrent duplicates: exactly one hold; the others replay it or are told it is in progress.
  const std::string user4 = NewUuid();
  std::vector<reservation::HoldInput> dupes;
  for (int i = 0; i < 10; ++i) dupes.push_back(f.Hold(user4, {5}, "same-key"));
  const auto answers = Concurrently(f, std::move(dupes), 4);
  int created = 0, busy = 0;
  for (const auto& a : answers) {
    if (a.status == 201) ++created;
    if (a.status == 409 && a.body.find("IDEMPOTENCY_IN_PROGRESS") != std::string::npos) ++busy;
  }
  CHECK(created + busy == 10);
  CHECK(created >= 1);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.reservations WHERE user_id = '" + user4 + "'") == 1);

  // A key whose first attempt died half-way (IN_PROGRESS, older than
  // idempotency_stale) is taken over: the hold runs the slow way (the key
  // claimed on its own, the hold without it) and the key then says DONE.
  const std::string user5 = NewUuid();
  CHECK(f.Scalar("WITH k AS (INSERT INTO reservation.idempotency_keys (user_id, key, operation, request_hash, state, created_at) "
                 "VALUES ('" + user5 + "', 'died', 'hold', encode(sha256(convert_to('hold|" + f.event_id + "|{" + f.seats[9] +
                 "}', 'UTF8')), 'hex'), 'IN_PROGRESS', now() - interval '2 minutes') RETURNING 1) SELECT count(*) FROM k") == 1);
  const auto taken_over = f.HoldSync(f.Hold(user5, {9}, "died"));
  CHECK(taken_over.status == 201);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.idempotency_keys WHERE user_id = '" + user5 +
                 "' AND key = 'died' AND state = 'DONE' AND response_status = 201") == 1);
  CHECK(f.HoldSync(f.Hold(user5, {9}, "died")).body == taken_over.body);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.reservations WHERE user_id = '" + user5 + "'") == 1);
  f.CheckInvariants();
}

TEST_CASE("reservation: saga steps — failed payment, refund and event cancellation release the seats") {
  Fixture f;
  const auto a = BodyOf(f.HoldSync(f.Hold(NewUuid(), {0})));
  const auto b = BodyOf(f.HoldSync(f.Hold(NewUuid(), {1})));
  const auto c = BodyOf(f.HoldSync(f.Hold(NewUuid(), {2})));
  const std::string ra(a.at("reservationId").as_string()), rb(b.at("reservationId").as_string()), rc(c.at("reservationId").as_string());
  auto failed = events::Make("PaymentFailed", "Payment", "p1", json::object{{"paymentId", "p1"}, {"reservationId", ra}});
  f.pool->TransactSync([&](pqxx::work& tx) { f.service->OnPaymentFailed(tx, failed); });
  CHECK(RunSync(f.service->FindReservation(ra))->status == "CANCELLED");
  CHECK(f.catalog->ResolveSeats(f.event_id, {f.seats[0]}).seats[0].status == catalog::SeatStatus::kAvailable);

  const auto sb = RunSync(f.service->FindReservation(rb));
  f.Pay(rb, sb->total_amount, sb->fence, "p2");
  CHECK(RunSync(f.service->FindReservation(rb))->status == "CONFIRMED");
  auto refunded = events::Make("PaymentRefunded", "Payment", "p2", json::object{{"paymentId", "p2"}, {"reservationId", rb}});
  f.pool->TransactSync([&](pqxx::work& tx) { f.service->OnPaymentRefunded(tx, refunded); });
  CHECK(RunSync(f.service->FindReservation(rb))->status == "CANCELLED");

  auto cancelled = events::Make("EventCancelled", "Event", f.event_id, json::object{{"eventId", f.event_id}});
  f.pool->TransactSync([&](pqxx::work& tx) { f.service->OnEventCancelled(tx, cancelled); });
  CHECK(RunSync(f.service->FindReservation(rc))->status == "CANCELLED");
  CHECK(f.Scalar("SELECT count(*) FROM reservation.reservation_seats WHERE active") == 0);
  CHECK(f.Scalar("SELECT count(*) FROM reservation.outbox WHERE event_type = 'ReservationCancelled'") == 3);
  f.CheckInvariants();
}

TEST_CASE("reservation: a random sequence of holds, changes, releases, expiries and payments matches a reference model") {
  Fixture f(3);  // 6 seats
  std::mt19937 rng(7);
  const std::vector<std::string> users = {NewUuid(), NewUuid(), NewUuid()};
  // Model: seat → owning reservation; reservation → (user, seats, state).
  struct Model {
    std::string user;
    std::set<std::size_t> seats;
    std::string status;
  };
  std::map<std::string, Model> model;
  std::map<std::size_t, std::string> owner;
  const auto active_seats_of = [&](const std::string& user) {
    std::size_t n = 0;
    for (const auto& [id, m] : model) {
      if (m.user == user && (m.status == "PENDING" || m.status == "CONFIRMED")) n += m.seats.size();
    }
    return n;
  };
  for (int step = 0; step < 300; ++step) {
    const int op = static_cast<int>(rng() % 5);
    const auto& user = users[rng() % users.size()];
    if (op <= 1) {  // hold 1-2 random seats
      std::set<std::size_t> want;
      const int n = 1 + static_cast<int>(rng() % 2);
      while (static_cast<int>(want.size()) < n) want.insert(rng() % 6);
      f.tokens.Reset();
      const auto a = f.HoldSync(f.Hold(user, {want.begin(), want.end()}));
      bool free = true;
      for (auto s : want) free = free && !owner.contains(s);
      const bool within = active_seats_of(user) + want.size() <= 4;
      if (free && within) {
        REQUIRE_MESSAGE(a.status == 201, a.body);
        const std::string id(BodyOf(a).at("reservationId").as_string());
        model[id] = {user, want, "PENDING"};
        for (auto s : want) owner[s] = id;
      } else {
        CHECK_MESSAGE(a.status == (free ? 422 : 409), a.body);
      }
    } else {
      // Pick one of the user's PENDING reservations.
      std::vector<std::string> mine;
      for (const auto& [id, m] : model) {
        if (m.user == user && m.status == "PENDING") mine.push_back(id);
      }
      if (mine.empty()) continue;
      const auto id = mine[rng() % mine.size()];
      auto& m = model[id];
      if (op == 2) {  // release
        RunSync(f.service->Release(user, id));
        for (auto s : m.seats) owner.erase(s);
        m.status = "CANCELLED";
      } else if (op == 3) {  // pay
        const auto s = RunSync(f.service->FindReservation(id));
        f.Pay(id, s->total_amount, s->fence, NewUuid());
        m.status = "CONFIRMED";
      } else {  // change to one random seat
        const std::size_t to = rng() % 6;
        const bool ok = !owner.contains(to) || owner[to] == id;
        try {
          RunSync(f.service->ChangeSeats(user, id, {f.seats[to]}));
          CHECK(ok);
          for (auto s : m.seats) owner.erase(s);
          m.seats = {to};
          owner[to] = id;
        } catch (const ApiError& e) {
          CHECK_FALSE(ok);
          CHECK(e.problem().code == "SEAT_UNAVAILABLE");
        }
      }
    }
    if (step % 50 == 49) f.CheckInvariants();
  }
  // The database agrees with the model seat by seat.
  for (std::size_t s = 0; s < 6; ++s) {
    const auto expected = owner.contains(s) ? owner[s] : std::string();
    pqxx::connection c(f.db.url());
    const auto rows = pqxx::nontransaction(c).exec_params(
        "SELECT reservation_id::text FROM reservation.reservation_seats WHERE active AND seat_id = $1", f.seats[s]);
    CHECK((rows.empty() ? std::string() : rows[0][0].as<std::string>()) == expected);
  }
  for (const auto& [id, m] : model) CHECK(RunSync(f.service->FindReservation(id))->status == m.status);
  f.CheckInvariants();
}
