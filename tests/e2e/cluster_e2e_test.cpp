// Two ticketd processes on one Postgres and one Kafka (the first one's
// embedded cluster), a customer's consecutive requests alternating between
// them as a round-robin load balancer sends them. Every answer about the
// customer's own place, token and the room's capacity must be right on
// either instance, however long the instances' background sync interval is
// (here 5 s, so that an answer from a stale copy would show).
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>

#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"
#include "support/sse_stream.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/time.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

namespace {

json::object Body(const test::HttpResponse& r) {
  try {
    return json::parse(r.body()).as_object();
  } catch (const std::exception&) {
    return {};
  }
}
std::string Str(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}
std::int64_t Int(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_int64() ? v->as_int64() : -1;
}

bool Eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 30s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return cond();
}

struct Cluster {
  Cluster() {
    env = test::E2eEnv(db.url());
    env["TICKETD_QUEUE_ADMISSION_INTERVAL_MS"] = "100";
    env["TICKETD_QUEUE_SYNC_INTERVAL_MS"] = "5000";
    env["TICKETD_QUEUE_STREAM_HEARTBEAT_SECONDS"] = "1";  // a closed stream is noticed at its next write
    env["TICKETD_AUTH_ACCESS_TTL_SECONDS"] = "86400";
    auto [mrc, mout] = test::RunCommand({TICKETD_BINARY, "migrate"}, env);
    REQUIRE_MESSAGE(mrc == 0, mout);
    auto [rc, out] = test::RunCommand({TICKETD_BINARY, "seed"}, env);
    REQUIRE_MESSAGE(rc == 0, out);
    const std::string tokens = "/tmp/ticketd-cluster-users-" + NewUuid() + ".txt";
    auto [urc, uout] = test::RunCommand({TICKETD_BINARY, "seed-users", "--count", "12", "--prefix", "cluster", "--password",
                                         "cluster-password-1", "--tokens-out", tokens},
                                        env);
    REQUIRE_MESSAGE(urc == 0, uout);
    std::ifstream in(tokens);
    std::string email, token;
    while (in >> email >> token) users.push_back(token);
    std::remove(tokens.c_str());
    REQUIRE(users.size() == 12);
    Start(0);
    Start(1);
    auto login = Call(0, bhttp::verb::post, "/auth/login", "",
                      json::serialize(json::object{{"email", "admin@ticketd.local"},
                                                   {"password", "ticketd-admin-dev"},
                                                   {"captchaToken", "test-pass"}}));
    REQUIRE_MESSAGE(login.result_int() == 200, login.body());
    admin = Str(Body(login), "accessToken");
  }

  void Start(int i) {
    auto e = env;
    if (i == 1) e["TICKETD_KAFKA_BROKERS"] = bootstrap;
    process[i] = std::make_unique<test::TicketdProcess>(std::vector<std::string>{}, e);
    port[i] = process[i]->WaitListening(90s);
    REQUIRE(port[i] != 0);
    REQUIRE(test::WaitReady(port[i], 60s));
    if (i == 0) {
      for (const auto& line : process[0]->Lines()) {
        if (line.find("embedded kafka started") == std::string::npos) continue;
        bootstrap = Str(json::parse(line).as_object(), "bootstrap");
      }
      REQUIRE(!bootstrap.empty());
    }
  }

  test::HttpResponse Call(int i, bhttp::verb verb, const std::string& path, const std::string& token,
                          const std::string& body = "", std::map<std::string, std::string> headers = {}) {
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return test::Request(port[i], verb, "/api/v1" + path, body, headers);
  }

  // An event on sale now, with a 10-seat hall and the given queue settings.
  std::string CreateEvent(json::object queue) {
    auto venue = Call(0, bhttp::verb::post, "/admin/venues", admin,
                      json::serialize(json::object{{"name", "Cluster Hall"}, {"address", "Loopback 2"}}));
    REQUIRE_MESSAGE(venue.result_int() == 201, venue.body());
    const auto venue_id = Str(Body(venue), "venueId");
    const auto tmpl = json::parse(R"({"sections": [{"name": "A", "rows": [{"row": "1", "seats": 10, "grade": "R"}]}]})");
    auto hall = Call(0, bhttp::verb::post, "/admin/venues/" + venue_id + "/halls", admin,
                     json::serialize(json::object{{"name", "Ten"}, {"seatTemplate", tmpl}}));
    REQUIRE_MESSAGE(hall.result_int() == 201, hall.body());
    const auto now = std::chrono::system_clock::now();
    json::object ev{{"venueId", venue_id},
                    {"hallId", Str(Body(hall), "hallId")},
                    {"title", "Two Doors"},
                    {"artist", "The Balancers"},
                    {"saleStartsAt", FormatRfc3339(now - 1h)},
                    {"saleEndsAt", FormatRfc3339(now + 48h)},
                    {"startsAt", FormatRfc3339(now + 72h)},
                    {"endsAt", FormatRfc3339(now + 75h)},
                    {"prices", json::object{{"R", 50000}}},
                    {"queue", std::move(queue)}};
    auto created = Call(0, bhttp::verb::post, "/admin/events", admin, json::serialize(ev));
    REQUIRE_MESSAGE(created.result_int() == 201, created.body());
    return Str(Body(created), "eventId");
  }

  std::vector<std::string> Seats(const std::string& event) {
    auto map = Body(Call(0, bhttp::verb::get, "/events/" + event + "/seats", admin));
    std::vector<std::string> out;
    for (const auto& s : map.at("seats").as_array()) out.emplace_back(s.at("seatId").as_string());
    return out;
  }

  test::TempDatabase db;
  std::map<std::string, std::string> env;
  std::unique_ptr<test::TicketdProcess> process[2];
  std::uint16_t port[2] = {0, 0};
  std::string bootstrap;
  std::vector<std::string> users;
  std::string admin;
};

}  // namespace

TEST_CASE("cluster e2e: a customer who re-enters through the other instance after a hold gets a new place, not the used token") {
  Cluster c;
  const auto event = c.CreateEvent(json::object{{"admissionRatePerSecond", 100}, {"maxActive", 100}});
  const auto seats = c.Seats(event);
  const auto& user = c.users[0];
  const std::string q = "/queue/" + event;
  // Both instances have served this room before (another customer came in
  // through instance 1).
  REQUIRE(c.Call(1, bhttp::verb::post, q + "/enter", c.users[1]).result_int() == 200);
  auto enter = c.Call(0, bhttp::verb::post, q + "/enter", user);
  REQUIRE_MESSAGE(enter.result_int() == 200, enter.body());
  std::string token;
  REQUIRE(Eventually([&] {
    token = Str(Body(c.Call(0, bhttp::verb::get, q + "/status", user)), "reservationToken");
    return !token.empty();
  }));
  // The other instance has shown the admission too (the customer's tab polled it).
  REQUIRE(Str(Body(c.Call(1, bhttp::verb::get, q + "/status", user)), "reservationToken") == token);
  auto hold = c.Call(0, bhttp::verb::post, "/reservations/hold", user,
                     json::serialize(json::object{{"eventId", event}, {"seatIds", json::array{json::string(seats[0])}}}),
                     {{"X-Queue-Token", token}, {"Idempotency-Key", NewUuid()}});
  REQUIRE_MESSAGE(hold.result_int() == 201, hold.body());

  // At once, through the other instance: the hold used the token up there.
  auto again = c.Call(1, bhttp::verb::post, q + "/enter", user);
  REQUIRE_MESSAGE(again.result_int() == 200, again.body());
  CHECK(Str(Body(again), "reservationToken") != token);
  // The customer is in the line (the re-entry was written) and is admitted
  // with a new token that works for the next hold, asked through either instance.
  std::string second;
  int turn = 0;
  REQUIRE(Eventually([&] {
    auto s = c.Call(turn++ % 2, bhttp::verb::get, q + "/status", user);
    REQUIRE_MESSAGE(s.result_int() == 200, s.body());
    second = Str(Body(s), "reservationToken");
    return !second.empty();
  }));
  CHECK(second != token);
  auto next = c.Call(1, bhttp::verb::post, "/reservations/hold", user,
                     json::serialize(json::object{{"eventId", event}, {"seatIds", json::array{json::string(seats[1])}}}),
                     {{"X-Queue-Token", second}, {"Idempotency-Key", NewUuid()}});
  CHECK_MESSAGE(next.result_int() == 201, next.body());
}

TEST_CASE("cluster e2e: positions are exact on both instances, and leaving shows at once on the other") {
  Cluster c;
  const auto event = c.CreateEvent(json::object{{"admissionRatePerSecond", 1}, {"maxActive", 1}});
  const std::string q = "/queue/" + event;
  REQUIRE(c.Call(0, bhttp::verb::put, "/admin/queue/" + event, c.admin, R"({"paused": true})").result_int() == 200);
  // Ten customers one after another, alternating instances: places 1..10.
  for (int i = 0; i < 10; ++i) {
    auto r = c.Call(i % 2, bhttp::verb::post, q + "/enter", c.users[static_cast<std::size_t>(i)]);
    REQUIRE_MESSAGE(r.result_int() == 200, r.body());
    CHECK_MESSAGE(Int(Body(r), "position") == i + 1, "customer " << i << ": " << r.body());
  }
  // The same answer from either instance, asked twice.
  for (int i = 0; i < 10; ++i) {
    for (int k = 0; k < 2; ++k) {
      auto s = Body(c.Call(k, bhttp::verb::get, q + "/status", c.users[static_cast<std::size_t>(i)]));
      CHECK_MESSAGE(Int(s, "position") == i + 1, "customer " << i << " on instance " << k);
      CHECK(Int(s, "aheadCount") == i);
    }
  }
  // Customer 3 leaves through instance 0: instance 1 knows at once.
  REQUIRE(c.Call(0, bhttp::verb::delete_, q, c.users[2]).result_int() == 204);
  CHECK(c.Call(1, bhttp::verb::get, q + "/status", c.users[2]).result_int() == 404);
  CHECK(Int(Body(c.Call(1, bhttp::verb::get, q + "/status", c.users[3])), "position") == 3);
  CHECK(Int(Body(c.Call(1, bhttp::verb::get, q + "/status", c.users[9])), "position") == 9);
  // The admin clears the room through instance 1: nobody is shown waiting on instance 0.
  REQUIRE(c.Call(1, bhttp::verb::post, "/admin/queue/" + event + "/clear", c.admin).result_int() == 200);
  CHECK(c.Call(0, bhttp::verb::get, q + "/status", c.users[0]).result_int() == 404);
  CHECK(c.Call(0, bhttp::verb::get, q + "/status", c.users[9]).result_int() == 404);
}

TEST_CASE("cluster e2e: the room's capacity holds across instances") {
  Cluster c;
  const auto event = c.CreateEvent(json::object{{"admissionRatePerSecond", 1}, {"maxActive", 1}, {"capacity", 5}});
  const std::string q = "/queue/" + event;
  REQUIRE(c.Call(1, bhttp::verb::put, "/admin/queue/" + event, c.admin, R"({"paused": true})").result_int() == 200);
  for (int i = 0; i < 5; ++i) {
    auto r = c.Call(i % 2, bhttp::verb::post, q + "/enter", c.users[static_cast<std::size_t>(i)]);
    REQUIRE_MESSAGE(r.result_int() == 200, r.body());
  }
  for (int k = 0; k < 2; ++k) {
    auto full = c.Call(k, bhttp::verb::post, q + "/enter", c.users[static_cast<std::size_t>(5 + k)]);
    CHECK_MESSAGE(full.result_int() == 503, "instance " << k << ": " << full.body());
    CHECK(Str(Body(full), "code") == "QUEUE_FULL");
  }
  // Those already in keep their place on either instance (idempotent).
  auto same = c.Call(1, bhttp::verb::post, q + "/enter", c.users[0]);
  REQUIRE(same.result_int() == 200);
  CHECK(Int(Body(same), "position") == 1);
  // A place freed on one instance is free on the other.
  REQUIRE(c.Call(0, bhttp::verb::delete_, q, c.users[4]).result_int() == 204);
  auto in = c.Call(1, bhttp::verb::post, q + "/enter", c.users[5]);
  CHECK_MESSAGE(in.result_int() == 200, in.body());
  CHECK(Int(Body(in), "position") == 5);
  // An admin's new capacity set through one instance holds on the other.
  REQUIRE(c.Call(0, bhttp::verb::put, "/admin/queue/" + event, c.admin, R"({"capacity": 6})").result_int() == 200);
  CHECK(c.Call(1, bhttp::verb::post, q + "/enter", c.users[6]).result_int() == 200);
  CHECK(c.Call(0, bhttp::verb::post, q + "/enter", c.users[7]).result_int() == 503);
  pqxx::connection conn(c.db.url());
  pqxx::nontransaction tx(conn);
  CHECK(tx.exec_params1("SELECT count(*) FROM queue.entries WHERE event_id = $1 AND status = 'WAITING'", event)[0].as<int>() == 6);
}

TEST_CASE("cluster e2e: a customer's stream slots are counted across instances") {
  Cluster c;
  const auto event = c.CreateEvent(json::object{{"admissionRatePerSecond", 1}, {"maxActive", 1}});
  const std::string q = "/queue/" + event;
  REQUIRE(c.Call(0, bhttp::verb::put, "/admin/queue/" + event, c.admin, R"({"paused": true})").result_int() == 200);
  const auto& user = c.users[0];
  REQUIRE(c.Call(0, bhttp::verb::post, q + "/enter", user).result_int() == 200);
  test::SseStream a(c.port[0], q + "/stream", user);
  REQUIRE(a.WaitFor("event: position"));
  test::SseStream b(c.port[1], q + "/stream", user);
  REQUIRE(b.WaitFor("event: position"));
  // queue.max_streams_per_user = 2, whichever instance the third one reaches
  // (read as a stream: a wrongly opened one would never end).
  for (int k = 0; k < 2; ++k) {
    test::SseStream third(c.port[k], q + "/stream", user);
    CHECK_MESSAGE(third.WaitFor("HTTP/1.1 429", 5s), "instance " << k << ": " << third.data());
  }
  // Closing one frees its slot for a stream on the other instance.
  a.Close();
  std::unique_ptr<test::SseStream> d;
  CHECK(Eventually([&] {
    d = std::make_unique<test::SseStream>(c.port[1], q + "/stream", user);
    return d->WaitFor("event: position", 2s);
  }, 15s));
}
