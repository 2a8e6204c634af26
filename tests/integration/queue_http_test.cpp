// The waiting room over real HTTP on loopback: the routes as API.md fixes
// them (status codes, bodies, auth levels) and the Server-Sent Events stream
// (position, the admission with its token, per-user bound, drain), with the
// real core server and edge middleware; a fake token verifier and an in-test
// CatalogReader stand in for auth and catalog.
#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "app/edge.hpp"
#include "core/server.hpp"
#include "queue/handlers/routes.hpp"
#include "queue/service.hpp"
#include "support/http_client.hpp"
#include "support/sse_stream.hpp"
#include "support/pg.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/migrate.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

namespace {

class Catalog final : public catalog::CatalogReader {
 public:
  std::string OnSale() {
    catalog::EventInfo e;
    e.event_id = NewUuid();
    e.sale_starts_at = std::chrono::system_clock::now() - 1min;
    e.sale_ends_at = std::chrono::system_clock::now() + 1h;
    std::lock_guard lock(mu_);
    events_[e.event_id] = e;
    return e.event_id;
  }
  asio::awaitable<std::optional<catalog::EventInfo>> FindEvent(std::string event_id) override {
    std::optional<catalog::EventInfo> out;
    {
      std::lock_guard lock(mu_);
      if (auto it = events_.find(event_id); it != events_.end()) out = it->second;
    }
    co_return out;
  }
  catalog::SeatResolution ResolveSeats(const std::string&, const std::vector<std::string>&) override { return {}; }

 private:
  std::mutex mu_;
  std::map<std::string, catalog::EventInfo> events_;
};

// "user:<uuid>" / "admin:<uuid>" bearer tokens.
class Verifier final : public auth::TokenVerifier {
 public:
  std::expected<auth::VerifiedToken, auth::TokenError> Verify(std::string_view token) const override {
    const auto colon = token.find(':');
    if (colon == std::string_view::npos) return std::unexpected(auth::TokenError::kInvalid);
    const auto role = token.substr(0, colon);
    const std::string id(token.substr(colon + 1));
    if (!IsUuid(id) || (role != "user" && role != "admin")) return std::unexpected(auth::TokenError::kInvalid);
    return auth::VerifiedToken{id, role == "admin" ? "ADMIN" : "USER", "jti", 4102444800};
  }
};

struct Harness {
  Harness() {
    std::vector<db::Migration> mine;
    for (auto& m : db::EmbeddedMigrations()) {
      if (m.module == "queue") mine.push_back(m);
    }
    db::Migrate(db.url(), mine, "");
    db::PoolOptions po;
    po.name = "queue";
    po.conninfo = db::WithCredentials(db.url(), db::ModuleRole("queue"), "");
    po.size = 3;
    pool = std::make_unique<db::Pool>(po, nullptr);
    queue::QueueOptions o;
    o.max_streams_per_user = 2;
    o.stream_heartbeat = 1s;
    service = std::make_unique<queue::QueueService>(o, *pool, catalog, &registry);
    service->RebuildSync();
    queue::AddRoutes(router, *service);
    http::ServerOptions so;
    so.port = 0;
    so.io_threads = 2;
    so.access_log = false;
    server = std::make_unique<http::Server>(so, router, registry);
    server->Use(app::AuthMiddleware(verifier));
    server->Start();
  }
  ~Harness() {
    server->Stop(2s);
    service->Stop();
    pool->Stop();
  }
  test::HttpResponse Call(bhttp::verb verb, const std::string& path, const std::string& token, const std::string& body = "") {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    if (!body.empty()) h["Content-Type"] = "application/json";
    return test::Request(server->port(), verb, "/api/v1" + path, body, h);
  }
  test::TempDatabase db;
  Catalog catalog;
  Verifier verifier;
  metrics::Registry registry;
  http::Router router;
  std::unique_ptr<db::Pool> pool;
  std::unique_ptr<queue::QueueService> service;
  std::unique_ptr<http::Server> server;
};

json::object Body(const test::HttpResponse& r) { return json::parse(r.body()).as_object(); }
std::string Code(const test::HttpResponse& r) { return std::string(Body(r).at("code").as_string()); }

}  // namespace

TEST_CASE("queue http: routes answer as API.md says") {
  Harness h;
  const auto event = h.catalog.OnSale();
  const std::string user = "user:" + NewUuid();
  const std::string admin = "admin:" + NewUuid();
  CHECK(h.Call(bhttp::verb::post, "/queue/" + event + "/enter", "").result_int() == 401);
  auto r = h.Call(bhttp::verb::post, "/queue/not-a-uuid/enter", user);
  CHECK(r.result_int() == 400);
  CHECK(Code(r) == "VALIDATION_FAILED");
  r = h.Call(bhttp::verb::post, "/queue/" + NewUuid() + "/enter", user);
  CHECK(r.result_int() == 404);

  r = h.Call(bhttp::verb::post, "/queue/" + event + "/enter", user);
  REQUIRE(r.result_int() == 200);
  auto b = Body(r);
  CHECK(b.at("status").as_string() == "WAITING");
  CHECK(b.at("position").as_int64() == 1);
  CHECK(b.at("aheadCount").as_int64() == 0);
  CHECK(b.at("estimatedWaitSeconds").as_int64() >= 0);
  CHECK(b.at("nextPollSeconds").as_int64() == 1);
  CHECK_FALSE(b.contains("reservationToken"));
  r = h.Call(bhttp::verb::get, "/queue/" + event + "/status", user);
  REQUIRE(r.result_int() == 200);
  CHECK(Body(r).at("position").as_int64() == 1);

  // Another event while waiting here.
  const auto other = h.catalog.OnSale();
  r = h.Call(bhttp::verb::post, "/queue/" + other + "/enter", user);
  CHECK(r.result_int() == 409);
  CHECK(Code(r) == "ALREADY_IN_OTHER_QUEUE");

  // Admin.
  CHECK(h.Call(bhttp::verb::get, "/admin/queue/" + event, user).result_int() == 403);
  r = h.Call(bhttp::verb::get, "/admin/queue/" + event, admin);
  REQUIRE(r.result_int() == 200);
  CHECK(Body(r).at("waiting").as_int64() == 1);
  r = h.Call(bhttp::verb::put, "/admin/queue/" + event, admin, R"({"admissionRatePerSecond": 5, "maxActive": 100, "paused": true})");
  REQUIRE(r.result_int() == 200);
  CHECK(Body(r).at("config").at("paused").as_bool());
  r = h.Call(bhttp::verb::put, "/admin/queue/" + event, admin, R"({"method": "lottery", "admissionRatePerSecond": 0})");
  CHECK(r.result_int() == 400);
  CHECK(Body(r).at("errors").as_array().size() == 2);

  // Leave, then the status is gone.
  CHECK(h.Call(bhttp::verb::delete_, "/queue/" + event, user).result_int() == 204);
  CHECK(h.Call(bhttp::verb::get, "/queue/" + event + "/status", user).result_int() == 404);
  CHECK(h.Call(bhttp::verb::delete_, "/queue/" + event, user).result_int() == 404);
  h.Call(bhttp::verb::post, "/queue/" + event + "/enter", user);
  r = h.Call(bhttp::verb::post, "/admin/queue/" + event + "/clear", admin);
  REQUIRE(r.result_int() == 200);
  CHECK(Body(r).at("cleared").as_int64() == 1);
}

TEST_CASE("queue http: the SSE stream pushes the position and the admission with its token") {
  Harness h;
  const auto event = h.catalog.OnSale();
  const auto id = NewUuid();
  const std::string user = "user:" + id;
  REQUIRE(h.Call(bhttp::verb::post, "/queue/" + event + "/enter", user).result_int() == 200);
  // Not in a room → 404 before any stream opens.
  CHECK(h.Call(bhttp::verb::get, "/queue/" + h.catalog.OnSale() + "/stream", user).result_int() == 404);

  test::SseStream s1(h.server->port(), "/queue/" + event + "/stream", user);
  REQUIRE(s1.WaitFor("event: position"));
  CHECK(s1.data().find("text/event-stream") != std::string::npos);
  CHECK(s1.data().find("\"position\":1") != std::string::npos);
  test::SseStream s2(h.server->port(), "/queue/" + event + "/stream", user);
  REQUIRE(s2.WaitFor("event: position"));
  // Bounded per user.
  auto r = h.Call(bhttp::verb::get, "/queue/" + event + "/stream", user);
  CHECK(r.result_int() == 429);
  CHECK(h.registry.Render().find("ticketd_queue_streams 2\n") != std::string::npos);
  // Heartbeats keep proxies from cutting an idle stream.
  CHECK(s1.WaitFor(": keep-alive", 15s));

  // The admission reaches the stream as it happens.
  REQUIRE(h.service->SchedulerTick() == 1);
  h.service->SyncOnce();
  CHECK(h.registry.Render().find("ticketd_queue_admitted_total 1\n") != std::string::npos);
  CHECK(h.registry.Render().find("ticketd_queue_entered_total 1\n") != std::string::npos);
  CHECK(h.registry.Render().find("ticketd_queue_rooms_led 1\n") != std::string::npos);
  REQUIRE(s1.WaitFor("event: admitted"));
  CHECK(s1.data().find("\"reservationToken\":\"qr_") != std::string::npos);
  CHECK(s2.WaitFor("event: admitted"));
  CHECK(s1.WaitClosed(15s));
  // Slots are released when streams end: a new stream opens (and ends at once: admitted).
  test::SseStream s3(h.server->port(), "/queue/" + event + "/stream", user);
  CHECK(s3.WaitFor("event: admitted"));
}

TEST_CASE("queue http: a draining server ends open streams") {
  Harness h;
  const auto event = h.catalog.OnSale();
  const std::string user = "user:" + NewUuid();
  REQUIRE(h.Call(bhttp::verb::post, "/queue/" + event + "/enter", user).result_int() == 200);
  test::SseStream s(h.server->port(), "/queue/" + event + "/stream", user);
  REQUIRE(s.WaitFor("event: position"));
  CHECK(h.server->InFlight() == 0);  // a stream does not hold the drain
  h.server->BeginDrain();
  CHECK(s.WaitClosed(15s));
  CHECK(s.data().find("0\r\n\r\n") != std::string::npos);  // the chunked stream ended properly
}

TEST_CASE("queue http: a room's series leave /metrics once its sale is over and nobody is in it") {
  Harness h;
  const auto event = h.catalog.OnSale();
  const auto other = h.catalog.OnSale();
  const std::string user = "user:" + NewUuid();
  REQUIRE(h.Call(bhttp::verb::post, "/queue/" + event + "/enter", user).result_int() == 200);
  REQUIRE(h.Call(bhttp::verb::post, "/queue/" + other + "/enter", "user:" + NewUuid()).result_int() == 200);
  h.service->SyncOnce();
  const std::string waiting = "ticketd_queue_waiting{event_id=\"" + event + "\"}";
  const std::string unused = "ticketd_queue_tokens_unused{event_id=\"" + event + "\"}";
  auto text = h.registry.Render();
  CHECK(text.find(waiting + " 1\n") != std::string::npos);
  CHECK(text.find(unused + " 0\n") != std::string::npos);

  // The sale ends (as the catalog's end would set it); a user still waits: kept.
  {
    pqxx::connection c(h.db.url());
    pqxx::work tx(c);
    tx.exec_params0("UPDATE queue.rooms SET sale_ends_at = now() - interval '1 minute' WHERE event_id = $1", event);
    tx.commit();
  }
  h.service->RebuildSync();
  CHECK(h.registry.Render().find(waiting + " 1\n") != std::string::npos);

  // The last user leaves: the room is gone, its series with it; the other room stays.
  REQUIRE(h.Call(bhttp::verb::delete_, "/queue/" + event, user).result_int() / 100 == 2);
  h.service->SyncOnce();
  text = h.registry.Render();
  CHECK(text.find(waiting) == std::string::npos);
  CHECK(text.find(unused) == std::string::npos);
  CHECK(text.find("ticketd_queue_waiting{event_id=\"" + other + "\"} 1\n") != std::string::npos);
}
