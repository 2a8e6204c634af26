// The live seat map driven the two ways reservation drives it: in-process
// SeatMapFeed calls (holds, releases) and domain events on reservation.events
// (confirmation → SOLD persisted, cancellation of a confirmed booking →
// AVAILABLE), through real Postgres and librdkafka's mock cluster.
#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <thread>

#include "catalog/service.hpp"
#include "core/event_consumer.hpp"
#include "core/kafka.hpp"
#include "support/pg.hpp"
#include "support/run_sync.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/events.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/migrate.hpp"
#include "ticketd/core/time.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

using test::RunSync;

long long Scalar(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  return pqxx::nontransaction(c).exec1(sql)[0].as<long long>();
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return cond();
}

struct Fixture {
  Fixture() : cluster(MockOptions()) {
    db::Migrate(db.url(), db::EmbeddedMigrations(), "");
    cluster.EnsureTopics({"reservation.events", kafka::DlqTopicFor("reservation.events")});
    db::PoolOptions o;
    o.name = "catalog";
    o.conninfo = db::WithCredentials(db.url(), db::ModuleRole("catalog"), "");
    o.size = 2;
    pool = std::make_unique<db::Pool>(o, nullptr);
    service = std::make_unique<catalog::CatalogService>(catalog::CatalogOptions{}, *pool, &registry);
    catalog::VenueInput venue{"Test Venue", ""};
    venue_id = std::string(RunSync(service->CreateVenue(std::move(venue))).at("venueId").as_string());
    std::vector<FieldError> errors;
    catalog::HallInput hall{"Hall", catalog::ParseSeatTemplate(json::parse(R"({"sections": [{"name": "A", "rows": [
        {"row": "1", "seats": 10, "grade": "VIP"}, {"row": "2", "seats": 10, "grade": "S"}]}]})"),
                                                         "seatTemplate", errors)};
    REQUIRE(errors.empty());
    std::string vid = venue_id;
    const auto h = RunSync(service->CreateHall(std::move(vid), std::move(hall)));
    catalog::EventInput in;
    in.venue_id = venue_id;
    in.hall_id = std::string(h.at("hallId").as_string());
    in.title = "Show";
    in.artist = "Artist";
    const auto now = std::chrono::system_clock::now();
    in.sale_starts_at = now - 1h;
    in.sale_ends_at = now + 24h;
    in.starts_at = now + 48h;
    in.ends_at = now + 50h;
    in.prices = std::vector<std::pair<std::string, std::int64_t>>{{"VIP", 100}, {"S", 50}};
    events::Metadata meta;
    const auto e = RunSync(service->CreateEvent(std::move(in), std::move(meta)));
    event_id = std::string(e.at("eventId").as_string());
    std::string eid = event_id;
    map = RunSync(service->SeatMap(std::move(eid)));
    REQUIRE(map);
    const auto doc = json::parse(map->body);
    for (const auto& s : doc.at("seats").as_array()) seats.emplace_back(s.at("seatId").as_string());
  }
  static kafka::Options MockOptions() {
    kafka::Options o;
    o.brokers = "embedded";
    o.embedded_brokers = 1;
    o.partitions = 3;
    o.replication_factor = 1;
    o.message_timeout_ms = 10000;
    return o;
  }
  json::object Map() {
    std::string eid = event_id;
    return json::parse(RunSync(service->SeatMap(std::move(eid)))->body).as_object();
  }
  std::string StatusOf(std::size_t i) {
    return std::string(Map().at("seats").as_array()[i].at("status").as_string());
  }
  events::Envelope Reservation(const char* type, const std::string& reservation, std::vector<std::size_t> idx) {
    json::array ids;
    for (auto i : idx) ids.push_back(json::string(seats[i]));
    return events::Make(type, "Reservation", reservation,
                        json::object{{"reservationId", reservation}, {"eventId", event_id}, {"seatIds", std::move(ids)}});
  }

  test::TempDatabase db;
  kafka::Cluster cluster;
  metrics::Registry registry;
  std::unique_ptr<db::Pool> pool;
  std::unique_ptr<catalog::CatalogService> service;
  std::string venue_id;
  std::string event_id;
  std::shared_ptr<const catalog::RenderedMap> map;
  std::vector<std::string> seats;
};

}  // namespace

TEST_CASE("catalog: holds and releases through SeatMapFeed move the seat map and its version") {
  Fixture f;
  REQUIRE(f.seats.size() == 20);
  const auto v0 = f.Map().at("version").as_int64();
  const std::string r1 = "aaaaaaaa-0000-4000-8000-000000000001";
  const std::string r2 = "aaaaaaaa-0000-4000-8000-000000000002";
  catalog::SeatMapFeed& feed = *f.service;
  feed.SeatsHeld(f.event_id, r1, 1, {f.seats[0], f.seats[1]}, {});
  CHECK(f.StatusOf(0) == "HELD");
  CHECK(f.Map().at("version").as_int64() == v0 + 1);
  CHECK(f.Map().at("grades").as_array()[0].at("available").as_int64() == 8);
  feed.SeatsReleased(f.event_id, r2, {f.seats[0]});  // not the owner: ignored
  CHECK(f.StatusOf(0) == "HELD");
  // The reservation ended: every seat it claims is free, whatever ids the end carries.
  feed.SeatsReleased(f.event_id, r1, {f.seats[0]});
  CHECK(f.StatusOf(0) == "AVAILABLE");
  CHECK(f.StatusOf(1) == "AVAILABLE");
  CHECK(f.Map().at("version").as_int64() == v0 + 2);
  const std::string r3 = "aaaaaaaa-0000-4000-8000-000000000003";
  feed.SeatsHeld(f.event_id, r3, 2, {f.seats[1]}, {});
  CHECK(f.StatusOf(1) == "HELD");

  // ResolveSeats answers from memory with live status, grade and price.
  catalog::CatalogReader& reader = *f.service;
  const auto res = reader.ResolveSeats(f.event_id, {f.seats[1], f.seats[15], "00000000-0000-4000-8000-000000000000"});
  CHECK(res.event_found);
  REQUIRE(res.seats.size() == 2);
  CHECK(res.seats[0].status == catalog::SeatStatus::kHeld);
  CHECK(res.seats[1].grade == "S");
  CHECK(res.seats[1].price == 50);
  CHECK(res.unknown_seat_ids.size() == 1);
  CHECK_FALSE(reader.ResolveSeats("00000000-0000-4000-8000-000000000000", {f.seats[0]}).event_found);

  // FindEvent: sale window and status for the queue and reservation modules.
  std::string eid = f.event_id;
  const auto info = RunSync(reader.FindEvent(std::move(eid)));
  REQUIRE(info);
  CHECK(info->StatusAt(std::chrono::system_clock::now()) == catalog::EventStatus::kOnSale);
  CHECK(info->seat_count == 20);
  std::string bad_id = "not-a-uuid";
  CHECK_FALSE(RunSync(reader.FindEvent(std::move(bad_id))));
}

TEST_CASE("catalog: ReservationConfirmed and ReservationCancelled from Kafka persist SOLD and AVAILABLE exactly once") {
  Fixture f;
  kafka::Producer producer(f.cluster, "test");
  events::ConsumerOptions o;
  o.group_id = "ticketd.catalog";
  o.schema = "catalog";
  o.topics = {"reservation.events"};
  o.backoff_initial = 20ms;
  o.backoff_max = 200ms;
  o.session_timeout_ms = 6000;
  events::EventConsumer consumer(o, f.cluster, *f.pool, producer, &f.registry);
  consumer.On("ReservationConfirmed", 1, [&f](pqxx::work& tx, const events::Envelope& e) { f.service->OnReservationConfirmed(tx, e); });
  consumer.On("ReservationCancelled", 1, [&f](pqxx::work& tx, const events::Envelope& e) { f.service->OnReservationCancelled(tx, e); });
  consumer.Start();

  const std::string r1 = "bbbbbbbb-0000-4000-8000-000000000001";
  f.service->SeatsHeld(f.event_id, r1, 1, {f.seats[2], f.seats[3]}, {});
  const auto confirmed = f.Reservation("ReservationConfirmed", r1, {2, 3});
  const auto text = events::Serialize(confirmed);
  // Delivered twice (a redelivery after a crash): applied once.
  REQUIRE(producer.ProduceAll({{"reservation.events", r1, text, {}}, {"reservation.events", r1, text, {}}}, 10s)[0].ok());
  const std::string sold_sql = "SELECT count(*) FROM catalog.seats WHERE status = 'SOLD' AND reservation_id = '" + r1 + "'";
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), sold_sql) == 2; }, 60s));
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), "SELECT count(*) FROM catalog.processed_events") == 1; }, 10s));
  std::this_thread::sleep_for(300ms);
  CHECK(Scalar(f.db.url(), "SELECT sold_total FROM catalog.events") == 2);
  CHECK(f.StatusOf(2) == "SOLD");
  CHECK(f.StatusOf(3) == "SOLD");
  CHECK(f.Map().at("grades").as_array()[0].at("available").as_int64() == 8);

  // A late seat change of the hold (its release of a seat) cannot free a sold seat.
  f.service->SeatsHeld(f.event_id, r1, 1, {}, {f.seats[2]});
  CHECK(f.StatusOf(2) == "SOLD");

  const auto cancelled = f.Reservation("ReservationCancelled", r1, {2, 3});
  REQUIRE(producer.ProduceAll({{"reservation.events", r1, events::Serialize(cancelled), {}}}, 10s)[0].ok());
  REQUIRE(WaitFor([&] { return Scalar(f.db.url(), sold_sql) == 0; }, 60s));
  CHECK(WaitFor([&] { return f.StatusOf(2) == "AVAILABLE"; }, 5s));
  CHECK(f.Map().at("grades").as_array()[0].at("available").as_int64() == 10);
  // Seats ever sold still forbid deleting the event.
  CHECK(Scalar(f.db.url(), "SELECT sold_total FROM catalog.events") == 2);
  consumer.Stop();
}

TEST_CASE("catalog: a restart rebuilds the seat maps of events on sale from Postgres") {
  Fixture f;
  {
    pqxx::connection c(f.db.url());
    pqxx::work tx(c);
    tx.exec_params0("UPDATE catalog.seats SET status = 'SOLD', reservation_id = gen_random_uuid() WHERE id = $1", f.seats[5]);
    tx.commit();
  }
  catalog::CatalogService restarted(catalog::CatalogOptions{}, *f.pool, nullptr);
  CHECK_FALSE(restarted.ready());
  restarted.PreloadSync();
  CHECK(restarted.ready());
  CHECK(restarted.seat_maps().size() == 1);
  const auto res = restarted.ResolveSeats(f.event_id, {f.seats[5], f.seats[6]});
  REQUIRE(res.seats.size() == 2);
  CHECK(res.seats[0].status == catalog::SeatStatus::kSold);
  CHECK(res.seats[1].status == catalog::SeatStatus::kAvailable);
}

TEST_CASE("catalog: another instance's seat map follows holds, seat changes, expiries and bookings from Kafka") {
  Fixture f;
  kafka::Producer producer(f.cluster, "test");
  // "Another instance": its own service and map over the same database, fed
  // only by its memory consumer.
  catalog::CatalogService other(catalog::CatalogOptions{}, *f.pool, nullptr);
  other.PreloadSync();
  auto status = [&](std::size_t i) {
    const auto res = other.ResolveSeats(f.event_id, {f.seats[i]});
    REQUIRE(res.seats.size() == 1);
    return res.seats[0].status;
  };
  auto send = [&](const events::Envelope& e) {
    REQUIRE(producer.ProduceAll({{"reservation.events", e.aggregate_id, events::Serialize(e), {}}}, 10s)[0].ok());
  };
  using catalog::SeatStatus;
  const std::string r0 = "cccccccc-0000-4000-8000-000000000000";
  const std::string r1 = "cccccccc-0000-4000-8000-000000000001";
  const std::string r2 = "cccccccc-0000-4000-8000-000000000002";
  send(f.Reservation("ReservationHeld", r0, {9}));  // before the consumer starts: not read

  metrics::Registry registry;
  events::BroadcastConsumer consumer(events::BroadcastOptions{"catalog.seat-map", {"reservation.events"}, 30s}, f.cluster,
                                     &registry);
  for (const char* type : {"ReservationHeld", "ReservationExpired", "ReservationCancelled", "ReservationConfirmed"}) {
    consumer.On(type, 1, [&other](const events::Envelope& e) { other.ApplyReservationEvent(e); });
  }
  REQUIRE(consumer.Start());

  auto first = f.Reservation("ReservationHeld", r1, {4, 5});
  first.payload["fence"] = 1;
  send(first);
  REQUIRE(WaitFor([&] { return status(4) == SeatStatus::kHeld && status(5) == SeatStatus::kHeld; }, 30s));
  // A seat change: now 5 and 6, seat 4 released.
  auto changed = f.Reservation("ReservationHeld", r1, {5, 6});
  changed.payload["releasedSeatIds"] = json::array{json::string(f.seats[4])};
  changed.payload["fence"] = 2;
  send(changed);
  REQUIRE(WaitFor([&] { return status(4) == SeatStatus::kAvailable && status(6) == SeatStatus::kHeld; }, 30s));
  // The first hold delivered again (a redelivery): older than the change, ignored.
  first.event_id = NewUuid();
  send(first);
  // A malformed event is skipped and counted; the stream goes on.
  auto broken = f.Reservation("ReservationHeld", r2, {7});
  broken.payload.erase("seatIds");
  send(broken);
  send(f.Reservation("ReservationConfirmed", r1, {5, 6}));
  REQUIRE(WaitFor([&] { return status(5) == SeatStatus::kSold && status(6) == SeatStatus::kSold; }, 30s));
  send(f.Reservation("ReservationHeld", r2, {7}));
  REQUIRE(WaitFor([&] { return status(7) == SeatStatus::kHeld; }, 30s));
  send(f.Reservation("ReservationExpired", r2, {7}));
  send(f.Reservation("ReservationCancelled", r1, {5, 6}));
  REQUIRE(WaitFor([&] {
    return status(7) == SeatStatus::kAvailable && status(5) == SeatStatus::kAvailable && status(6) == SeatStatus::kAvailable;
  }, 30s));
  // After a reservation ended, nothing older about it shows again: its hold
  // and its confirmation redelivered leave the seats AVAILABLE.
  send(f.Reservation("ReservationHeld", r2, {7}));
  send(f.Reservation("ReservationConfirmed", r1, {5, 6}));
  REQUIRE(WaitFor([&] {
    return registry.Render().find("ticketd_consumer_events_total{group=\"catalog.seat-map\",outcome=\"applied\"} 9\n") !=
           std::string::npos;
  }, 30s));
  CHECK(status(4) == SeatStatus::kAvailable);
  CHECK(status(5) == SeatStatus::kAvailable);
  CHECK(status(6) == SeatStatus::kAvailable);
  CHECK(status(7) == SeatStatus::kAvailable);
  CHECK(status(9) == SeatStatus::kAvailable);  // published before Start(): not this consumer's business
  // The first instance's map was not touched (it has no memory consumer here).
  CHECK(f.StatusOf(4) == "AVAILABLE");
  // (Counted just after each handler returns.)
  CHECK(WaitFor([&] {
    const auto text = registry.Render();
    return text.find("ticketd_consumer_events_total{group=\"catalog.seat-map\",outcome=\"failed\"} 1\n") != std::string::npos &&
           text.find("ticketd_consumer_events_total{group=\"catalog.seat-map\",outcome=\"applied\"} 9\n") != std::string::npos;
  }, 10s));
  consumer.Stop();
}
