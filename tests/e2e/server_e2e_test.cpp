// The real ticketd binary on port 0 over loopback: operations endpoints, the
// error shape, HTTP hardening, Postgres outage and graceful shutdown.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace asio = boost::asio;

namespace {

std::map<std::string, std::string> BaseEnv(const std::string& db_url) { return test::E2eEnv(db_url); }

struct Running {
  explicit Running(std::map<std::string, std::string> env) : process({}, std::move(env)) {
    port = process.WaitListening();
    REQUIRE_MESSAGE(port != 0, "ticketd did not start");
  }
  test::TicketdProcess process;
  std::uint16_t port = 0;
};

boost::json::object JsonOf(const test::HttpResponse& res) { return boost::json::parse(res.body()).as_object(); }

void CheckProblem(const test::HttpResponse& res, int status, const std::string& code) {
  CHECK(res.result_int() == status);
  CHECK(res[http::field::content_type] == "application/problem+json");
  const auto body = JsonOf(res);
  CHECK(body.at("status").as_int64() == status);
  CHECK(body.at("code").as_string() == code);
  CHECK(body.contains("requestId"));
  CHECK(body.contains("type"));
  CHECK(body.contains("title"));
}

int StatusOf(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::stoi(raw.substr(9, 3));
}

}  // namespace

TEST_CASE("e2e: healthz, readyz and metrics") {
  test::TempDatabase db;
  Running t(BaseEnv(db.url()));

  auto health = test::Request(t.port, http::verb::get, "/healthz");
  CHECK(health.result_int() == 200);
  CHECK(JsonOf(health).at("status").as_string() == "ok");
  CHECK_FALSE(health["X-Request-Id"].empty());

  REQUIRE(test::WaitReady(t.port));
  auto ready = test::Request(t.port, http::verb::get, "/readyz");
  CHECK(ready.result_int() == 200);
  CHECK(JsonOf(ready).at("checks").at("postgres").as_string() == "ok");

  auto metrics = test::Request(t.port, http::verb::get, "/metrics");
  CHECK(metrics.result_int() == 200);
  CHECK(metrics[http::field::content_type].starts_with("text/plain; version=0.0.4"));
  const std::string& m = metrics.body();
  CHECK(m.find(R"(ticketd_http_requests_total{method="GET",route="/healthz",status="200"} 1)") != std::string::npos);
  CHECK(m.find("ticketd_http_request_duration_seconds_bucket") != std::string::npos);
  CHECK(m.find("ticketd_http_requests_in_flight") != std::string::npos);
  CHECK(m.find("ticketd_db_pool_connected{pool=\"host\"}") != std::string::npos);
  CHECK(m.find("process_resident_memory_bytes") != std::string::npos);

  // One structured access-log line per request.
  REQUIRE(t.process.WaitForLine("\"route\":\"/metrics\"", 5s));
  bool found = false;
  for (const auto& line : t.process.Lines()) {
    if (line.find("\"msg\":\"request\"") == std::string::npos || line.find("/healthz") == std::string::npos) continue;
    const auto v = boost::json::parse(line).as_object();
    CHECK(v.at("level").as_string() == "info");
    CHECK(v.at("method").as_string() == "GET");
    CHECK(v.at("status").as_int64() == 200);
    CHECK(v.contains("ts"));
    CHECK(v.contains("duration_ms"));
    CHECK(v.at("request_id").as_string() == health["X-Request-Id"]);
    found = true;
  }
  CHECK(found);
}

TEST_CASE("e2e: 404, 405 with Allow, request id echo") {
  test::TempDatabase db;
  Running t(BaseEnv(db.url()));

  auto nf = test::Request(t.port, http::verb::get, "/api/v1/nothing-here", "", {{"X-Request-Id", "client-req-42"}});
  CheckProblem(nf, 404, "NOT_FOUND");
  CHECK(nf["X-Request-Id"] == "client-req-42");
  CHECK(JsonOf(nf).at("requestId").as_string() == "client-req-42");

  auto insane = test::Request(t.port, http::verb::get, "/nothing", "", {{"X-Request-Id", "bad id with spaces"}});
  CHECK(insane["X-Request-Id"] != "bad id with spaces");
  CHECK(insane["X-Request-Id"].size() == 36);

  auto na = test::Request(t.port, http::verb::delete_, "/healthz");
  CheckProblem(na, 405, "METHOD_NOT_ALLOWED");
  CHECK(na[http::field::allow] == "GET, HEAD");
}

TEST_CASE("e2e: body over the limit is refused with 413 before it is read") {
  test::TempDatabase db;
  Running t(BaseEnv(db.url()));
  // Only the header is sent: the answer must not wait for the 1 MB body.
  const auto raw = test::RawExchange(
      t.port, "POST /api/v1/anything HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n",
      3s);
  CHECK(StatusOf(raw) == 413);
  CHECK(raw.find("PAYLOAD_TOO_LARGE") != std::string::npos);
  CHECK(raw.find("Connection: close") != std::string::npos);
  CHECK(raw.find("X-Content-Type-Options: nosniff") != std::string::npos);

  // A chunked body that grows past the limit is cut off as well.
  std::string chunked = "POST /api/v1/anything HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(32 * 1024, 'a');
  for (int i = 0; i < 3; ++i) chunked += "8000\r\n" + chunk + "\r\n";
  chunked += "0\r\n\r\n";
  CHECK(StatusOf(test::RawExchange(t.port, chunked, 3s)) == 413);
}

TEST_CASE("e2e: oversized header gets 431") {
  test::TempDatabase db;
  Running t(BaseEnv(db.url()));
  const std::string big(9000, 'a');
  const auto raw = test::RawExchange(t.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", 3s);
  CHECK(StatusOf(raw) == 431);
  CHECK(raw.find("application/problem+json") != std::string::npos);
  // Written before the router (and the edge middleware): the security headers all the same.
  CHECK(raw.find("X-Content-Type-Options: nosniff") != std::string::npos);
  CHECK(raw.find("X-Frame-Options: DENY") != std::string::npos);
  CHECK(raw.find("Content-Security-Policy: default-src 'none'") != std::string::npos);
}

TEST_CASE("e2e: request smuggling framings get 400 and the connection closes") {
  test::TempDatabase db;
  Running t(BaseEnv(db.url()));
  const std::vector<std::string> cases = {
      // CL + TE
      "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
      // duplicate Content-Length, even when equal
      "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
      "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
      // Transfer-Encoding not ending in chunked
      "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      // garbage
      "NOT-HTTP\r\n\r\n",
  };
  for (const auto& c : cases) {
    CAPTURE(c);
    // A second request pipelined after the bad one must never be answered.
    const auto raw = test::RawExchange(t.port, c + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 3s);
    CHECK(StatusOf(raw) == 400);
    CHECK(raw.find("HTTP/1.1 200") == std::string::npos);
  }
  // The server is still fine afterwards.
  CHECK(test::Request(t.port, http::verb::get, "/healthz").result_int() == 200);
}

TEST_CASE("e2e: slowloris, slow bodies and idle keep-alive are closed while others are served") {
  test::TempDatabase db;
  auto env = BaseEnv(db.url());
  env["TICKETD_SERVER_HEADER_TIMEOUT_MS"] = "600";
  env["TICKETD_SERVER_BODY_TIMEOUT_MS"] = "600";
  env["TICKETD_SERVER_IDLE_TIMEOUT_MS"] = "800";
  Running t(env);

  std::atomic<bool> slow_closed{false};
  std::thread slowloris([&] {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), t.port});
    const std::string header = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    boost::system::error_code ec;
    // One byte every 100 ms: never completes within the 600 ms header deadline.
    for (int i = 0; i < 40 && !ec; ++i) {
      asio::write(s, asio::buffer(header.data() + (i % header.size()), 1), ec);
      std::this_thread::sleep_for(100ms);
    }
    slow_closed = static_cast<bool>(ec);
  });
  // Meanwhile normal clients are served promptly.
  for (int i = 0; i < 5; ++i) {
    CHECK(test::Request(t.port, http::verb::get, "/healthz").result_int() == 200);
    std::this_thread::sleep_for(50ms);
  }
  slowloris.join();
  CHECK(slow_closed.load());

  // Slow body: header promises 100 bytes, 10 arrive.
  CHECK(test::ClosedWithin(t.port, "POST /api/v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789", 3s));
  // Idle keep-alive: answered, then closed after the idle timeout.
  const auto raw = test::RawExchange(t.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 3s);
  CHECK(StatusOf(raw) == 200);  // RawExchange returned because the server closed before 3 s
  // A connection that never sends anything is closed too.
  CHECK(test::ClosedWithin(t.port, "", 3s));
}

TEST_CASE("e2e: the connection cap refuses extra connections") {
  test::TempDatabase db;
  auto env = BaseEnv(db.url());
  env["TICKETD_SERVER_MAX_CONNECTIONS"] = "2";
  Running t(env);
  asio::io_context io;
  asio::ip::tcp::socket a(io), b(io);
  a.connect({asio::ip::make_address("127.0.0.1"), t.port});
  b.connect({asio::ip::make_address("127.0.0.1"), t.port});
  // Accepted in order and counted at accept: the third is refused however
  // slowly the server gets to the first two.
  CHECK(test::ClosedWithin(t.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 10s));
  a.close();
  b.close();
  // Served again once the server has seen the two close (polled: it may be slow to notice).
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    try {
      served = test::Request(t.port, http::verb::get, "/healthz").result_int() == 200;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(100ms);
    }
  }
  CHECK(served);
}

TEST_CASE("e2e: Postgres stopped → readiness 503 with Retry-After, then recovery") {
  const std::string cluster = std::filesystem::temp_directory_path() / ("ticketd-e2e-pg-" + std::to_string(::getpid()));
  const std::string script = std::string(TICKETD_SOURCE_DIR) + "/tools/pg-cluster";
  const std::map<std::string, std::string> env{{"PATH", std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin"}};
  auto [rc, out] = test::RunCommand({"/bin/bash", script, "start", cluster, "--fresh", "--fast"}, env);
  REQUIRE_MESSAGE(rc == 0, out);
  std::string url = out.substr(0, out.find('\n'));
  const std::string port = url.substr(url.rfind(':') + 1, url.rfind('/') - url.rfind(':') - 1);
  struct Cleanup {
    std::string script, cluster;
    std::map<std::string, std::string> env;
    ~Cleanup() {
      test::RunCommand({"/bin/bash", script, "stop", cluster}, env);
      std::error_code ec;
      std::filesystem::remove_all(cluster, ec);
    }
  } cleanup{script, cluster, env};

  Running t(BaseEnv(url));
  CHECK(test::WaitReady(t.port));

  REQUIRE(test::RunCommand({"/bin/bash", script, "stop", cluster}, env).first == 0);
  auto down = test::Request(t.port, http::verb::get, "/readyz");
  CHECK(down.result_int() == 503);
  CHECK(down[http::field::retry_after] == "1");
  CHECK(JsonOf(down).at("checks").at("postgres").as_string().starts_with("unreachable"));
  // Liveness is unaffected: the process is fine, its dependency is not.
  CHECK(test::Request(t.port, http::verb::get, "/healthz").result_int() == 200);

  auto [rc2, out2] = test::RunCommand({"/bin/bash", script, "start", cluster, "--fast", "--port", port}, env);
  REQUIRE_MESSAGE(rc2 == 0, out2);
  int status = 0;
  for (int i = 0; i < 150 && status != 200; ++i) {
    std::this_thread::sleep_for(200ms);
    status = test::Request(t.port, http::verb::get, "/readyz").result_int();
  }
  CHECK(status == 200);
}

TEST_CASE("e2e: SIGTERM turns readiness off, stops accepting, drains in-flight work, exits 0") {
  test::TempDatabase db;
  auto env = BaseEnv(db.url());
  env["TICKETD_SERVER_BODY_TIMEOUT_MS"] = "10000";
  env["TICKETD_SERVER_HEADER_TIMEOUT_MS"] = "10000";
  Running t(env);

  asio::io_context io;
  // An upload in flight: header and half the body before the signal.
  asio::ip::tcp::socket upload(io);
  upload.connect({asio::ip::make_address("127.0.0.1"), t.port});
  asio::write(upload, asio::buffer(std::string(
                          "POST /api/v1/slow-upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: 18\r\n\r\n{\"a\":\"012")));
  // A readiness probe whose request has started arriving.
  asio::ip::tcp::socket probe(io);
  probe.connect({asio::ip::make_address("127.0.0.1"), t.port});
  asio::write(probe, asio::buffer(std::string("GET /readyz HTTP/1.1\r\n")));
  // An idle keep-alive connection.
  asio::ip::tcp::socket idle(io);
  idle.connect({asio::ip::make_address("127.0.0.1"), t.port});
  // Polled, not slept: both partial requests are in flight (their first bytes
  // read) before the signal — 3 with the /metrics request asking.
  double in_flight = 0;
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (in_flight < 3 && std::chrono::steady_clock::now() < until) {
    const std::string metrics = test::Request(t.port, http::verb::get, "/metrics").body();
    const std::string name = "\nticketd_http_requests_in_flight ";
    const auto at = metrics.find(name);
    in_flight = at == std::string::npos ? 0 : std::stod(metrics.substr(at + name.size()));
    if (in_flight < 3) std::this_thread::sleep_for(20ms);
  }
  REQUIRE(in_flight >= 3);

  t.process.Signal(SIGTERM);
  REQUIRE(t.process.WaitForLine("draining", 30s));
  std::this_thread::sleep_for(200ms);

  // Readiness is off at once.
  asio::write(probe, asio::buffer(std::string("Host: x\r\n\r\n")));
  boost::beast::flat_buffer buf;
  test::HttpResponse ready;
  http::read(probe, buf, ready);
  CHECK(ready.result_int() == 503);
  CHECK(ready[http::field::connection] == "close");

  // No new connections.
  bool refused = false;
  try {
    test::Request(t.port, http::verb::get, "/healthz");
  } catch (const std::exception&) {
    refused = true;
  }
  CHECK(refused);

  // The idle connection was closed.
  char c;
  boost::system::error_code ec;
  idle.read_some(asio::buffer(&c, 1), ec);
  CHECK(ec);

  // The upload finishes and is answered.
  CHECK(t.process.Wait(300ms) == -1);  // still draining
  asio::write(upload, asio::buffer(std::string("3456789\"}")));
  boost::beast::flat_buffer ubuf;
  test::HttpResponse answer;
  http::read(upload, ubuf, answer);
  CHECK(answer.result_int() == 404);
  CHECK(answer[http::field::connection] == "close");

  CHECK(t.process.Wait(30s) == 0);
  CHECK(t.process.WaitForLine("\"drained_cleanly\":true", 1s));
}

TEST_CASE("e2e: CLI exit codes and messages") {
  const std::map<std::string, std::string> none;
  auto [rc, out] = test::RunCommand({TICKETD_BINARY, "--version"}, none);
  CHECK(rc == 0);
  CHECK(out.starts_with("ticketd "));

  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "--help"}, none);
  CHECK(rc == 0);
  CHECK(out.find("migrate") != std::string::npos);
  CHECK(out.find("check-config") != std::string::npos);

  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "check-config"}, {{"TICKETD_SERVER_PORT", "99999"}});
  CHECK(rc == 2);
  CHECK(out.find("TICKETD_SERVER_PORT") != std::string::npos);

  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "check-config"}, {{"TICKETD_SERVER_PROT", "8080"}});
  CHECK(rc == 2);
  CHECK(out.find("TICKETD_SERVER_PROT") != std::string::npos);

  std::tie(rc, out) = test::RunCommand(
      {TICKETD_BINARY, "check-config", "--config", std::string(TICKETD_SOURCE_DIR) + "/config/ticketd.dev.toml"}, none);
  CHECK(rc == 0);
  CHECK(out.find("configuration OK") != std::string::npos);

  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "--config", "/nonexistent.toml"}, none);
  CHECK(rc == 2);

  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "frobnicate"}, none);
  CHECK(rc == 2);

  auto unreachable = test::E2eEnv("postgresql://postgres@127.0.0.1:1/x");
  unreachable["TICKETD_DATABASE_CONNECT_TIMEOUT_MS"] = "500";
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "migrate"}, unreachable);
  CHECK(rc == 3);
  CHECK(out.find("migration failed") != std::string::npos);

  auto production = test::E2eEnv("postgresql://postgres@127.0.0.1:1/x");
  production["TICKETD_SERVER_ENVIRONMENT"] = "production";
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "check-config"}, production);
  CHECK(rc == 2);
  CHECK(out.find("kafka.brokers") != std::string::npos);
  production["TICKETD_KAFKA_BROKERS"] = "kafka-1:9092";
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "check-config"}, production);
  CHECK(rc == 2);
  CHECK(out.find("auth.captcha") != std::string::npos);  // sandbox adapters are refused in production

  // A signing key shorter than 32 bytes stops the server before it listens.
  auto short_key = test::E2eEnv("postgresql://postgres@127.0.0.1:1/x");
  short_key["TICKETD_AUTH_JWT_SECRET"] = "too-short-secret";
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY}, short_key);
  CHECK(rc == 2);
  CHECK(out.find("auth.jwt_secret") != std::string::npos);
  CHECK(out.find("listening") == std::string::npos);
}

TEST_CASE("e2e: CLI commands map failures to the documented exit codes, and passwords come from a file or stdin") {
  // The database unreachable: 3, whatever the command.
  auto unreachable = test::E2eEnv("postgresql://postgres@127.0.0.1:1/x");
  unreachable["TICKETD_DATABASE_CONNECT_TIMEOUT_MS"] = "500";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"seed"}, {"outbox", "status"},
        {"admin", "create-user", "--email", "ops@example.com", "--password", "ops-password-1", "--name", "Ops"}}) {
    std::vector<std::string> command{TICKETD_BINARY};
    command.insert(command.end(), args.begin(), args.end());
    auto [rc, out] = test::RunCommand(command, unreachable);
    CAPTURE(args[0]);
    CAPTURE(out);
    CHECK(rc == 3);
  }

  test::TempDatabase db;
  const auto env = test::E2eEnv(db.url());
  auto [rc, out] = test::RunCommand({TICKETD_BINARY, "migrate"}, env);
  REQUIRE_MESSAGE(rc == 0, out);
  // A bad argument: 2, and nothing is written.
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "admin", "create-user", "--email", "not-an-email", "--password",
                                        "ops-password-1", "--name", "Ops"},
                                       env);
  CHECK_MESSAGE(rc == 2, out);
  CHECK(out.find("invalid email") != std::string::npos);
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "seed-users", "--count", "2"}, env);  // no password
  CHECK_MESSAGE(rc == 2, out);
  CHECK(out.find("--password-file") != std::string::npos);
  std::tie(rc, out) = test::RunCommand(
      {"/bin/sh", "-c", std::string("printf 'short\\n' | '") + TICKETD_BINARY + "' seed-users --count 2 --password-file -"}, env);
  CHECK_MESSAGE(rc == 2, out);
  CHECK(out.find("8 to 128") != std::string::npos);
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "seed-users", "--count", "2", "--password-file", "/nonexistent/pw"}, env);
  CHECK_MESSAGE(rc == 2, out);

  // From stdin and from a file, and the accounts log in with that password.
  std::tie(rc, out) = test::RunCommand(
      {"/bin/sh", "-c",
       std::string("printf 'stdin-password-1\\n' | '") + TICKETD_BINARY + "' seed-users --count 2 --prefix viastdin --password-file -"},
      env);
  CHECK_MESSAGE(rc == 0, out);
  char path[] = "/tmp/ticketd-password-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const std::string secret = "file-password-1\n";
  REQUIRE(write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size()));
  close(fd);
  std::tie(rc, out) = test::RunCommand({TICKETD_BINARY, "admin", "create-user", "--email", "ops@example.com",
                                        "--password-file", path, "--name", "Ops", "--role", "admin"},
                                       env);
  std::remove(path);
  CHECK_MESSAGE(rc == 0, out);

  test::TicketdProcess server({}, env);
  const auto port = server.WaitListening();
  REQUIRE(port != 0);
  const auto login = [&](const std::string& email, const std::string& password) {
    return test::Request(port, boost::beast::http::verb::post, "/api/v1/auth/login",
                         boost::json::serialize(boost::json::object{
                             {"email", email}, {"password", password}, {"captchaToken", "test-pass"}}))
        .result_int();
  };
  CHECK(login("viastdin-1@bench.test", "stdin-password-1") == 200);
  CHECK(login("viastdin-2@bench.test", "stdin-password-1") == 200);
  CHECK(login("ops@example.com", "file-password-1") == 200);
  CHECK(login("ops@example.com", "file-password-1\n") != 200);  // the newline was not part of it
}

TEST_CASE("e2e: migrate applies and reports through the real binary") {
  test::TempDatabase db;
  auto [rc, out] = test::RunCommand({TICKETD_BINARY, "migrate"}, test::E2eEnv(db.url()));
  CHECK_MESSAGE(rc == 0, out);
  CHECK(out.find("migrations current") != std::string::npos);
}
