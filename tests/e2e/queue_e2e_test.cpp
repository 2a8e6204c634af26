// The waiting room through the real binary: an event created through the
// catalog's admin API, users entering, admission with a reservation token,
// and `kill -9` in the middle: the restarted process serves every user the
// same place and the same token.
#include <doctest/doctest.h>

#include <signal.h>

#include <boost/json.hpp>

#include <chrono>
#include <thread>

#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"
#include "ticketd/core/time.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

json::object Body(const test::HttpResponse& r) { return json::parse(r.body()).as_object(); }
std::string In(std::chrono::system_clock::duration d) { return FormatRfc3339(std::chrono::system_clock::now() + d); }

struct Ticketd {
  Ticketd() {
    env = test::E2eEnv(db.url());
    env["TICKETD_QUEUE_ADMISSION_INTERVAL_MS"] = "200";
    env["TICKETD_QUEUE_SYNC_INTERVAL_MS"] = "100";
    auto [mrc, mout] = test::RunCommand({TICKETD_BINARY, "migrate"}, env);
    REQUIRE_MESSAGE(mrc == 0, mout);
    auto [rc, out] = test::RunCommand({TICKETD_BINARY, "seed"}, env);
    REQUIRE_MESSAGE(rc == 0, out);
    Start();
    admin = Login("admin@ticketd.local", "ticketd-admin-dev");
    user = Login("user@ticketd.local", "ticketd-user-dev");
  }
  void Start() {
    process = std::make_unique<test::TicketdProcess>(std::vector<std::string>{}, env);
    port = process->WaitListening();
    REQUIRE(port != 0);
    REQUIRE(test::WaitReady(port));
  }
  void Kill9AndRestart() {
    process->Signal(SIGKILL);
    REQUIRE(process->Wait(10s) == 128 + SIGKILL);
    process.reset();
    Start();
  }
  std::string Login(const std::string& email, const std::string& password) {
    auto r = Call(http::verb::post, "/auth/login", "",
                  json::serialize(json::object{{"email", email}, {"password", password}, {"captchaToken", "test-pass"}}));
    REQUIRE_MESSAGE(r.result_int() == 200, r.body());
    return std::string(Body(r).at("accessToken").as_string());
  }
  test::HttpResponse Call(http::verb verb, const std::string& path, const std::string& token, const std::string& body = "") {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return test::Request(port, verb, "/api/v1" + path, body, headers);
  }
  std::string Created(const test::HttpResponse& r, const char* id) {
    REQUIRE_MESSAGE(r.result_int() == 201, r.body());
    return std::string(Body(r).at(id).as_string());
  }
  std::string CreateEvent() {
    const auto venue = Created(Call(http::verb::post, "/admin/venues", admin,
                                    json::serialize(json::object{{"name", "Queue Hall"}, {"address", "Seoul"}})),
                               "venueId");
    const auto tmpl = json::parse(R"({"sections": [{"name": "A", "rows": [{"row": "1", "seats": 10, "grade": "VIP"}]}]})");
    const auto hall = Created(Call(http::verb::post, "/admin/venues/" + venue + "/halls", admin,
                                   json::serialize(json::object{{"name", "Main Hall"}, {"seatTemplate", tmpl}})),
                              "hallId");
    json::object body{{"venueId", venue},
                      {"hallId", hall},
                      {"title", "Queue Night"},
                      {"artist", "The Waiters"},
                      {"description", "d"},
                      {"posterUrl", "https://example.com/p.jpg"},
                      {"saleStartsAt", In(-1h)},
                      {"saleEndsAt", In(240h)},
                      {"startsAt", In(300h)},
                      {"endsAt", In(303h)},
                      {"prices", json::object{{"VIP", 150000}}},
                      {"queue", json::object{{"admissionRatePerSecond", 1}, {"maxActive", 1}, {"method", "fifo"}}}};
    return Created(Call(http::verb::post, "/admin/events", admin, json::serialize(body)), "eventId");
  }
  json::object Status(const std::string& event, const std::string& token) {
    auto r = Call(http::verb::get, "/queue/" + event + "/status", token);
    REQUIRE_MESSAGE(r.result_int() == 200, r.body());
    return Body(r);
  }
  test::TempDatabase db;
  std::map<std::string, std::string> env;
  std::unique_ptr<test::TicketdProcess> process;
  std::uint16_t port = 0;
  std::string admin;
  std::string user;
};

}  // namespace

TEST_CASE("queue e2e: places and tokens survive kill -9") {
  Ticketd t;
  const auto event = t.CreateEvent();
  // Paused: nobody is admitted until we say so.
  auto r = t.Call(http::verb::put, "/admin/queue/" + event, t.admin, R"({"paused": true})");
  REQUIRE_MESSAGE(r.result_int() == 200, r.body());

  r = t.Call(http::verb::post, "/queue/" + event + "/enter", t.user);
  REQUIRE_MESSAGE(r.result_int() == 200, r.body());
  CHECK(Body(r).at("position").as_int64() == 1);
  r = t.Call(http::verb::post, "/queue/" + event + "/enter", t.admin);
  REQUIRE_MESSAGE(r.result_int() == 200, r.body());
  CHECK(Body(r).at("position").as_int64() == 2);

  t.Kill9AndRestart();
  CHECK(t.Status(event, t.user).at("position").as_int64() == 1);
  CHECK(t.Status(event, t.admin).at("position").as_int64() == 2);

  // Resume: one admission (maxActive 1), the token arrives with the status.
  r = t.Call(http::verb::put, "/admin/queue/" + event, t.admin, R"({"paused": false})");
  REQUIRE(r.result_int() == 200);
  json::object admitted;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    admitted = t.Status(event, t.user);
    if (admitted.at("status").as_string() == "ADMITTED") break;
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(admitted.at("status").as_string() == "ADMITTED");
  const std::string token(admitted.at("reservationToken").as_string());
  CHECK(token.starts_with("qr_"));
  CHECK(t.Status(event, t.admin).at("position").as_int64() == 1);

  t.Kill9AndRestart();
  const auto after = t.Status(event, t.user);
  CHECK(after.at("status").as_string() == "ADMITTED");
  CHECK(after.at("reservationToken").as_string() == token);
  CHECK(after.at("expiresAt") == admitted.at("expiresAt"));
  const auto waiting = t.Status(event, t.admin);
  CHECK(waiting.at("status").as_string() == "WAITING");
  CHECK(waiting.at("position").as_int64() == 1);

  const auto stats = Body(t.Call(http::verb::get, "/admin/queue/" + event, t.admin));
  CHECK(stats.at("active").as_int64() == 1);
  CHECK(stats.at("waiting").as_int64() == 1);
  CHECK(stats.at("config").at("maxActive").as_int64() == 1);

  // The same room in /metrics (rebuilt from Postgres after the restart).
  const std::string metrics = test::Request(t.port, http::verb::get, "/metrics").body();
  CHECK(metrics.find("ticketd_queue_waiting{event_id=\"" + event + "\"} 1\n") != std::string::npos);
  CHECK(metrics.find("ticketd_queue_tokens_unused{event_id=\"" + event + "\"} 1\n") != std::string::npos);
  CHECK(metrics.find("ticketd_queue_streams 0\n") != std::string::npos);
}
