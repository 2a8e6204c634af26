// Payment confirmation throughput with the sandbox gateway, through the real
// server over HTTP: customers are admitted, hold a seat, start a payment and
// pay at the sandbox (webhooks off, so confirm does the verification); then
// every payment is confirmed by `concurrency` clients at once. Prints JSON
// with confirm throughput and latency; the saga latency (SUCCESS → reservation
// CONFIRMED over Kafka) is read from Postgres by tools/bench/payment-bench.
//
//   ticketd_saga_bench <port> <users-file> <reservations-per-user> <concurrency>
// users-file: one "email password" per line.
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

std::uint16_t g_port = 0;

struct Reply {
  int status = 0;
  json::value body;
};

Reply Call(bhttp::verb verb, const std::string& target, const std::string& token, const std::string& body = "",
           std::vector<std::pair<std::string, std::string>> headers = {}) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), g_port));
  bhttp::request<bhttp::string_body> req(verb, target, 11);
  req.set(bhttp::field::host, "127.0.0.1");
  if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
  for (auto& [k, v] : headers) req.set(k, v);
  if (!body.empty()) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  bhttp::write(stream, req);
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buf, res);
  Reply r{static_cast<int>(res.result_int()), nullptr};
  try {
    if (!res.body().empty()) r.body = json::parse(res.body());
  } catch (const std::exception&) {
  }
  return r;
}

std::string Str(const json::value& v, const char* k) {
  if (!v.is_object()) return {};
  const auto* f = v.as_object().if_contains(k);
  return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
}

std::string Uuid(std::mt19937_64& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(36, '0');
  for (int i = 0; i < 36; ++i) s[static_cast<std::size_t>(i)] = kHex[rng() & 0xf];
  s[8] = s[13] = s[18] = s[23] = '-';
  s[14] = '4';
  s[19] = '8';
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: ticketd_saga_bench <port> <users-file> <reservations-per-user> <concurrency>\n";
    return 2;
  }
  g_port = static_cast<std::uint16_t>(std::stoi(argv[1]));
  std::vector<std::pair<std::string, std::string>> users;
  {
    std::ifstream in(argv[2]);
    std::string email, password;
    while (in >> email >> password) users.emplace_back(email, password);
  }
  const int per_user = std::stoi(argv[3]);
  const int concurrency = std::stoi(argv[4]);
  auto login = [](const std::string& email, const std::string& password) {
    const auto r = Call(bhttp::verb::post, "/api/v1/auth/login", "",
                        json::serialize(json::object{{"email", email}, {"password", password}, {"captchaToken", "test-pass"}}));
    return Str(r.body, "accessToken");
  };
  const auto admin = login("admin@ticketd.local", "ticketd-admin-dev");
  const auto demo = Call(bhttp::verb::get, "/api/v1/events?status=ON_SALE&q=Aurora", "");
  const auto& item = demo.body.at("items").as_array().at(0).as_object();
  const auto now = std::chrono::system_clock::now();
  const auto iso = [](std::chrono::system_clock::time_point t) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    std::time_t tt = static_cast<std::time_t>(s);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
    return std::string(buf);
  };
  json::object ev{{"venueId", item.at("venue").at("venueId")},
                  {"hallId", item.at("hall").at("hallId")},
                  {"title", "Saga Bench"},
                  {"artist", "Bench"},
                  {"saleStartsAt", iso(now - std::chrono::hours(1))},
                  {"saleEndsAt", iso(now + std::chrono::hours(24))},
                  {"startsAt", iso(now + std::chrono::hours(48))},
                  {"endsAt", iso(now + std::chrono::hours(50))},
                  {"prices", json::object{{"VIP", 150000}, {"R", 120000}, {"S", 90000}, {"A", 60000}}},
                  {"queue", json::object{{"admissionRatePerSecond", 100000}, {"maxActive", 1000000}}}};
  const auto created = Call(bhttp::verb::post, "/api/v1/admin/events", admin, json::serialize(ev));
  const std::string event_id = Str(created.body, "eventId");
  const auto map = Call(bhttp::verb::get, "/api/v1/events/" + event_id + "/seats", admin);
  std::vector<std::string> seats;
  for (const auto& s : map.body.at("seats").as_array()) seats.emplace_back(s.at("seatId").as_string());

  // Setup: every customer makes `per_user` paid-at-the-gateway payments.
  struct Prepared {
    std::string token;
    std::string payment_id;
  };
  std::mutex mu;
  std::vector<Prepared> prepared;
  std::atomic<std::size_t> next_user{0};
  std::atomic<int> setup_errors{0};
  std::atomic<std::size_t> next_seat{0};
  auto setup = [&](unsigned seed) {
    std::mt19937_64 rng(seed);
    for (std::size_t u; (u = next_user++) < users.size();) {
      const auto token = login(users[u].first, users[u].second);
      for (int k = 0; k < per_user; ++k) {
        Call(bhttp::verb::post, "/api/v1/queue/" + event_id + "/enter", token);
        std::string qr;
        for (int i = 0; i < 200 && qr.empty(); ++i) {
          qr = Str(Call(bhttp::verb::get, "/api/v1/queue/" + event_id + "/status", token).body, "reservationToken");
          if (qr.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        const auto seat = seats[next_seat++ % seats.size()];
        const auto hold = Call(bhttp::verb::post, "/api/v1/reservations/hold", token,
                               json::serialize(json::object{{"eventId", event_id}, {"seatIds", json::array{json::string(seat)}}}),
                               {{"X-Queue-Token", qr}, {"Idempotency-Key", Uuid(rng)}});
        if (hold.status != 201) {
          ++setup_errors;
          continue;
        }
        const auto pay = Call(bhttp::verb::post, "/api/v1/payments", token,
                              json::serialize(json::object{{"reservationId", hold.body.at("reservationId")}, {"paymentKey", Uuid(rng)}}),
                              {{"X-Queue-Token", Str(hold.body, "paymentToken")}});
        const auto pid = Str(pay.body, "paymentId");
        if (pid.empty()) {
          ++setup_errors;
          continue;
        }
        Call(bhttp::verb::post, "/sandbox/pg/payments/" + pid + "/pay", "",
             json::serialize(json::object{{"card", "4242424242424242"}, {"webhook", false}}));
        std::lock_guard lock(mu);
        prepared.push_back({token, pid});
      }
    }
  };
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < concurrency; ++i) threads.emplace_back(setup, static_cast<unsigned>(i + 1));
    for (auto& t : threads) t.join();
  }

  // Confirm everything at once.
  std::vector<double> latencies;
  std::atomic<std::size_t> next{0};
  std::atomic<int> ok{0}, failed{0};
  const auto started = std::chrono::steady_clock::now();
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < concurrency; ++i) {
      threads.emplace_back([&] {
        for (std::size_t j; (j = next++) < prepared.size();) {
          const auto t0 = std::chrono::steady_clock::now();
          const auto r = Call(bhttp::verb::post, "/api/v1/payments/" + prepared[j].payment_id + "/confirm", prepared[j].token);
          const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          (r.status == 200 && Str(r.body, "status") == "SUCCESS" ? ok : failed)++;
          std::lock_guard lock(mu);
          latencies.push_back(ms);
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::sort(latencies.begin(), latencies.end());
  const auto pct = [&](double p) {
    return latencies.empty() ? 0.0 : latencies[static_cast<std::size_t>(p * static_cast<double>(latencies.size() - 1))];
  };
  json::object out{{"event_id", event_id},
                   {"payments", static_cast<std::int64_t>(prepared.size())},
                   {"setup_errors", setup_errors.load()},
                   {"concurrency", concurrency},
                   {"confirm", json::object{{"per_second", static_cast<double>(prepared.size()) / wall},
                                            {"succeeded", ok.load()},
                                            {"failed", failed.load()},
                                            {"p50_ms", pct(0.5)},
                                            {"p99_ms", pct(0.99)},
                                            {"max_ms", latencies.empty() ? 0.0 : latencies.back()}}}};
  std::cout << json::serialize(out) << "\n";
  return failed.load() == 0 ? 0 : 1;
}
