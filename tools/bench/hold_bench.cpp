// Holds under contention, in-process through ReservationService against real
// Postgres (the module's own transaction path, the catalog's live seat map,
// the unique-index guarantee), without HTTP in the way:
//   1. closed loop: `connections` clients, each a random user of `users`
//      holding 1-2 random seats of 3,000 and releasing after a success (so the
//      seats keep cycling): hold attempts/s, holds/s, latency;
//   2. open loop at 75% of that attempt rate: P50/P99 and their ratio;
//   3. reconciliation: no seat in two active reservations.
// Prints one JSON object. Used by tools/bench/reservation-bench.
//
//   ticketd_hold_bench <database url (superuser)> [users=10000] [seconds=10] [connections=16]
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "catalog/service.hpp"
#include "reservation/service.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/log.hpp"
#include "ticketd/core/migrate.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

class AcceptAllTokens final : public queue::QueueTokens {
 public:
  asio::awaitable<queue::TokenCheck> ValidateReservationToken(std::string, std::string, std::string) override {
    co_return queue::TokenCheck::kOk;
  }
  asio::awaitable<std::string> IssuePaymentToken(std::string, std::string, std::string r, std::chrono::seconds) override {
    co_return "qp_" + r;
  }
  asio::awaitable<queue::TokenCheck> ValidatePaymentToken(std::string, std::string, std::string) override {
    co_return queue::TokenCheck::kOk;
  }
  asio::awaitable<queue::TokenCheck> Consume(std::string, std::string) override { co_return queue::TokenCheck::kOk; }
  asio::awaitable<int> ConsumePaymentTokens(std::string) override { co_return 0; }
};

template <typename T>
T RunSync(asio::awaitable<T> aw) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, std::move(aw), asio::use_future);
  io.run();
  return fut.get();
}

db::PoolOptions PoolFor(const std::string& url, const std::string& module, int size) {
  db::PoolOptions o;
  o.name = module;
  o.conninfo = db::WithCredentials(url, db::ModuleRole(module), "");
  o.size = size;
  o.max_queue = 1000000;
  o.retry_attempts = 5;
  return o;
}

struct Stats {
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::atomic<long> held{0}, conflicts{0}, errors{0};
  void Add(double ms) {
    std::lock_guard lock(mu);
    latencies_ms.push_back(ms);
  }
  double Pct(double p) {
    std::lock_guard lock(mu);
    if (latencies_ms.empty()) return 0;
    std::sort(latencies_ms.begin(), latencies_ms.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(latencies_ms.size() - 1));
    return latencies_ms[i];
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: ticketd_hold_bench <database url> [users=10000] [seconds=10] [connections=16]\n";
    return 2;
  }
  log::SetLevel(log::Level::kError);
  const std::string url = argv[1];
  const int users = argc > 2 ? std::stoi(argv[2]) : 10000;
  const int seconds = argc > 3 ? std::stoi(argv[3]) : 10;
  const int connections = argc > 4 ? std::stoi(argv[4]) : 16;

  db::Migrate(url, db::EmbeddedMigrations(), "");
  db::Pool catalog_pool(PoolFor(url, "catalog", 2), nullptr);
  catalog::CatalogService catalog(catalog::CatalogOptions{}, catalog_pool, nullptr);
  catalog::VenueInput venue{"Bench Venue", ""};
  const std::string venue_id(RunSync(catalog.CreateVenue(std::move(venue))).at("venueId").as_string());
  catalog::SeatTemplate t;
  for (const char* name : {"A", "B", "C", "D", "E", "F"}) {
    catalog::TemplateSection s;
    s.name = name;
    for (int row = 1; row <= 20; ++row) s.rows.push_back({std::to_string(row), 25, row <= 5 ? "VIP" : "S", {}, {}});
    t.sections.push_back(std::move(s));
  }
  catalog::HallInput hall{"Bench Hall", t};
  std::string vid = venue_id;
  const auto h = RunSync(catalog.CreateHall(std::move(vid), std::move(hall)));
  catalog::EventInput in;
  in.venue_id = venue_id;
  in.hall_id = std::string(h.at("hallId").as_string());
  in.title = "Bench";
  in.artist = "Bench";
  const auto now = std::chrono::system_clock::now();
  in.sale_starts_at = now - 1h;
  in.sale_ends_at = now + 24h;
  in.starts_at = now + 48h;
  in.ends_at = now + 50h;
  in.prices = std::vector<std::pair<std::string, std::int64_t>>{{"VIP", 100}, {"S", 50}};
  events::Metadata meta;
  const std::string event_id(RunSync(catalog.CreateEvent(std::move(in), std::move(meta))).at("eventId").as_string());
  std::string eid = event_id;
  const auto map = RunSync(catalog.SeatMap(std::move(eid)));
  std::vector<std::string> seats;
  const auto doc = json::parse(map->body);
  for (const auto& s : doc.at("seats").as_array()) seats.emplace_back(s.at("seatId").as_string());
  std::vector<std::string> user_ids;
  for (int i = 0; i < users; ++i) user_ids.push_back(NewUuid());

  AcceptAllTokens tokens;
  reservation::ReservationOptions ro;
  ro.max_seats_per_user = 4;
  db::Pool pool(PoolFor(url, "reservation", connections), nullptr);
  reservation::ReservationService service(ro, pool, catalog, catalog, tokens, nullptr);

  // One attempt: hold 1-2 random seats as a random user, release on success.
  auto attempt = [&](std::mt19937& rng, Stats& stats) -> asio::awaitable<void> {
    reservation::HoldInput hold;
    hold.user_id = user_ids[rng() % user_ids.size()];
    hold.request_id = NewUuid();
    hold.queue_token = "qr_bench";
    hold.idempotency_key = NewUuid();
    hold.event_id = event_id;
    const int n = 1 + static_cast<int>(rng() % 2);
    while (static_cast<int>(hold.seat_ids.size()) < n) {
      const auto& s = seats[rng() % seats.size()];
      if (std::find(hold.seat_ids.begin(), hold.seat_ids.end(), s) == hold.seat_ids.end()) hold.seat_ids.push_back(s);
    }
    std::string user = hold.user_id;
    const auto started = std::chrono::steady_clock::now();
    try {
      const auto answer = co_await service.Hold(std::move(hold));
      stats.Add(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
      if (answer.status == 201) {
        ++stats.held;
        std::string id(json::parse(answer.body).at("reservationId").as_string());
        co_await service.Release(std::move(user), std::move(id));
      } else {
        ++stats.conflicts;
      }
    } catch (const std::exception&) {
      ++stats.errors;
    }
  };

  // 1. Closed loop.
  Stats closed;
  {
    asio::io_context io;
    std::atomic<bool> stop{false};
    for (int c = 0; c < connections; ++c) {
      asio::co_spawn(
          io,
          [&, c]() -> asio::awaitable<void> {
            std::mt19937 rng(static_cast<unsigned>(c + 1));
            while (!stop) co_await attempt(rng, closed);
          },
          asio::detached);
    }
    std::thread timer([&] {
      std::this_thread::sleep_for(std::chrono::seconds(seconds));
      stop = true;
    });
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) threads.emplace_back([&] { io.run(); });
    for (auto& th : threads) th.join();
    timer.join();
  }
  const double attempts = static_cast<double>(closed.held + closed.conflicts + closed.errors);
  const double attempt_rate = attempts / seconds;

  // 2. Open loop at 75% of the attempt rate.
  Stats open;
  const double target = 0.75 * attempt_rate;
  {
    asio::io_context io;
    const auto interval = std::chrono::nanoseconds(static_cast<long>(1e9 / std::max(1.0, target)));
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto ex = co_await asio::this_coro::executor;
          asio::steady_timer timer(ex);
          auto next = std::chrono::steady_clock::now();
          const auto end = next + std::chrono::seconds(seconds);
          std::mt19937 rng(99);
          while (next < end) {
            next += interval;
            timer.expires_at(next);
            co_await timer.async_wait(asio::use_awaitable);
            const unsigned seed = static_cast<unsigned>(rng());
            asio::co_spawn(
                ex,
                [&, seed]() -> asio::awaitable<void> {
                  std::mt19937 local(seed);
                  co_await attempt(local, open);
                },
                asio::detached);
          }
        },
        asio::detached);
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) threads.emplace_back([&] { io.run(); });
    for (auto& th : threads) th.join();
  }

  // 3. Reconciliation.
  pqxx::connection c(url);
  pqxx::nontransaction q(c);
  const auto doubled = q.exec1("SELECT count(*) FROM (SELECT seat_id FROM reservation.reservation_seats WHERE active "
                               "GROUP BY event_id, seat_id HAVING count(*) > 1) d")[0]
                           .as<long>();
  const auto active = q.exec1("SELECT count(*) FROM reservation.reservation_seats WHERE active")[0].as<long>();
  const auto total_reservations = q.exec1("SELECT count(*) FROM reservation.reservations")[0].as<long>();

  json::object out{
      {"users", users},
      {"seats", static_cast<std::int64_t>(seats.size())},
      {"connections", connections},
      {"seconds", seconds},
      {"closed_loop", json::object{{"attempts_per_second", attempt_rate},
                                   {"holds_per_second", static_cast<double>(closed.held) / seconds},
                                   {"conflicts", closed.conflicts.load()},
                                   {"errors", closed.errors.load()},
                                   {"p50_ms", closed.Pct(0.50)},
                                   {"p99_ms", closed.Pct(0.99)}}},
      {"open_loop_75pct", json::object{{"target_attempts_per_second", target},
                                       {"attempts", static_cast<std::int64_t>(open.held + open.conflicts + open.errors)},
                                       {"holds", open.held.load()},
                                       {"errors", open.errors.load()},
                                       {"p50_ms", open.Pct(0.50)},
                                       {"p99_ms", open.Pct(0.99)},
                                       {"p99_over_p50", open.Pct(0.50) > 0 ? open.Pct(0.99) / open.Pct(0.50) : 0.0}}},
      {"reconciliation", json::object{{"seats_in_two_active_reservations", doubled},
                                      {"active_seat_rows_left", active},
                                      {"reservations_written", total_reservations}}}};
  std::cout << json::serialize(out) << "\n";
  pool.Stop();
  catalog_pool.Stop();
  return doubled == 0 ? 0 : 1;
}
