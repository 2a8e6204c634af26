// ticketd_flash_sale: the flash-sale load generator. Plays N customers through
// the real HTTP API of a running ticketd — log in (or use a session issued by
// `ticketd seed-users --tokens-out`), enter the waiting room, poll status
// honouring nextPollSeconds, hold seats when admitted (contention: everyone
// wants the front rows, or uniform), pay at the sandbox gateway (a share is
// declined or abandoned), confirm, and a share cancel — then checks the
// invariants by reading Postgres directly and prints a JSON report.
//
// Customers are state machines driven by a pool of worker threads, each with
// one keep-alive connection (sync Beast): a customer costs a few hundred
// bytes while it waits, so 50,000 of them are cheap. Transport errors and 503
// (ticketd or Postgres down in the chaos run) are retried with backoff; every
// request is recorded per endpoint in a log-linear histogram.
//
//   ticketd_flash_sale --port P --db-url URL --users-file F [options]   (--help)
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- histogram
// HDR-style log-linear: values (µs) below 64 exact, then 32 linear
// sub-buckets per power of two (≤ 3.2% relative error), up to ~2^40 µs.
class Histogram {
 public:
  static constexpr int kSub = 32;
  static constexpr int kBuckets = 64 + (41 - 6) * kSub;
  void Record(std::uint64_t us) {
    counts_[Index(us)].fetch_add(1, std::memory_order_relaxed);
    total_.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t m = max_.load(std::memory_order_relaxed);
    while (us > m && !max_.compare_exchange_weak(m, us, std::memory_order_relaxed)) {
    }
  }
  [[nodiscard]] std::uint64_t Count() const { return total_.load(); }
  [[nodiscard]] std::uint64_t Max() const { return max_.load(); }
  // Upper bound of the bucket holding the p-quantile.
  [[nodiscard]] std::uint64_t Quantile(double p) const {
    const std::uint64_t n = Count();
    if (n == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(n)));
    std::uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[static_cast<std::size_t>(i)].load();
      if (seen >= std::max<std::uint64_t>(rank, 1)) return std::min(Upper(i), Max());
    }
    return Max();
  }
  // Non-empty buckets as [[upper_us, count], …].
  [[nodiscard]] json::array Buckets() const {
    json::array out;
    for (int i = 0; i < kBuckets; ++i) {
      const auto c = counts_[static_cast<std::size_t>(i)].load();
      if (c != 0) out.push_back(json::array{Upper(i), c});
    }
    return out;
  }
  [[nodiscard]] json::object Summary() const {
    auto ms = [](std::uint64_t us) { return static_cast<double>(us) / 1000.0; };
    return json::object{{"count", Count()},          {"p50_ms", ms(Quantile(0.50))}, {"p95_ms", ms(Quantile(0.95))},
                        {"p99_ms", ms(Quantile(0.99))}, {"max_ms", ms(Max())}};
  }

 private:
  static int Index(std::uint64_t v) {
    if (v < 64) return static_cast<int>(v);
    const int e = std::min(63 - std::countl_zero(v), 40);
    const auto sub = static_cast<int>((std::min<std::uint64_t>(v, (std::uint64_t{1} << 41) - 1) >> (e - 5)) & (kSub - 1));
    return 64 + (e - 6) * kSub + sub;
  }
  static std::uint64_t Upper(int i) {
    if (i < 64) return static_cast<std::uint64_t>(i);
    const int e = (i - 64) / kSub + 6;
    const int sub = (i - 64) % kSub;
    return (std::uint64_t{1} << e) + (static_cast<std::uint64_t>(sub + 1) << (e - 5)) - 1;
  }
  std::array<std::atomic<std::uint64_t>, kBuckets> counts_{};
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> max_{0};
};

// ---------------------------------------------------------------- recording
struct EndpointStats {
  Histogram latency;
  std::mutex mu;
  std::map<std::string, std::uint64_t> codes;  // "200", "409 SEAT_UNAVAILABLE", "transport"
};

struct Second {
  std::uint64_t requests = 0, errors = 0;
  std::vector<std::uint32_t> lat_us;  // sampled, for per-second percentiles
  std::int64_t waiting_server = -1, active_server = -1, waiting_client = 0, available_seats = -1;
};

class Recorder {
 public:
  explicit Recorder(Clock::time_point start) : start_(start) {}
  void Record(const std::string& endpoint, std::uint64_t us, const std::string& code, bool error) {
    EndpointStats* e;
    {
      std::lock_guard lock(mu_);
      auto& slot = endpoints_[endpoint];
      if (!slot) slot = std::make_unique<EndpointStats>();
      e = slot.get();
      auto& s = SecondAt(Clock::now());
      ++s.requests;
      if (error) ++s.errors;
      if (s.lat_us.size() < 4000) s.lat_us.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(us, 0xffffffffu)));
    }
    e->latency.Record(us);
    std::lock_guard lock(e->mu);
    ++e->codes[code];
  }
  template <class F>
  void WithSecond(F&& f) {
    std::lock_guard lock(mu_);
    f(SecondAt(Clock::now()));
  }
  json::object Endpoints(double wall_s) {
    std::lock_guard lock(mu_);
    json::object out;
    for (auto& [name, e] : endpoints_) {
      auto o = e->latency.Summary();
      o["per_second"] = static_cast<double>(e->latency.Count()) / std::max(wall_s, 1e-9);
      json::object codes;
      {
        std::lock_guard l2(e->mu);
        for (auto& [c, n] : e->codes) codes[c] = n;
      }
      o["codes"] = std::move(codes);
      o["histogram_us"] = e->latency.Buckets();
      out[name] = std::move(o);
    }
    return out;
  }
  json::array Timeline() {
    std::lock_guard lock(mu_);
    json::array out;
    for (std::size_t i = 0; i < seconds_.size(); ++i) {
      auto& s = seconds_[i];
      std::sort(s.lat_us.begin(), s.lat_us.end());
      auto q = [&](double p) {
        return s.lat_us.empty() ? 0.0
                                : static_cast<double>(s.lat_us[static_cast<std::size_t>(p * static_cast<double>(s.lat_us.size() - 1))]) /
                                      1000.0;
      };
      out.push_back(json::object{{"t", i},
                                 {"requests", s.requests},
                                 {"errors", s.errors},
                                 {"p50_ms", q(0.5)},
                                 {"p99_ms", q(0.99)},
                                 {"max_ms", q(1.0)},
                                 {"waiting_server", s.waiting_server},
                                 {"active_server", s.active_server},
                                 {"waiting_client", s.waiting_client},
                                 {"available_seats", s.available_seats}});
    }
    return out;
  }

 private:
  Second& SecondAt(Clock::time_point t) {
    const auto i = static_cast<std::size_t>(std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(t - start_).count()));
    if (seconds_.size() <= i) seconds_.resize(i + 1);
    return seconds_[i];
  }
  Clock::time_point start_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<EndpointStats>> endpoints_;
  std::vector<Second> seconds_;
};

// ---------------------------------------------------------------- HTTP client
struct Reply {
  int status = 0;  // 0: transport error
  json::value body;
  std::string code;  // problem "code"
};

std::string Str(const json::value& v, const char* k) {
  if (!v.is_object()) return {};
  const auto* f = v.as_object().if_contains(k);
  return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
}

class Connection {
 public:
  Connection(std::string host, std::uint16_t port, Recorder& rec) : host_(std::move(host)), port_(port), rec_(rec) {}
  Reply Call(const std::string& endpoint, bhttp::verb verb, const std::string& target, const std::string& token,
             const std::string& body = "", const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    const auto t0 = Clock::now();
    Reply r;
    for (int attempt = 0; attempt < 2; ++attempt) {  // a stale keep-alive connection gets one fresh retry
      try {
        if (!stream_) {
          stream_ = std::make_unique<beast::tcp_stream>(io_);
          stream_->expires_after(5s);
          stream_->connect(tcp::endpoint(asio::ip::make_address(host_), port_));
          fresh_ = true;
          // A reconnect to a dead server's port can connect to itself (TCP
          // simultaneous open on loopback) and hold the port: refuse that.
          if (stream_->socket().local_endpoint() == stream_->socket().remote_endpoint()) {
            throw std::runtime_error("self-connect");
          }
        }
        bhttp::request<bhttp::string_body> req(verb, target, 11);
        req.set(bhttp::field::host, host_);
        req.keep_alive(true);
        if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
        for (const auto& [k, v] : headers) req.set(k, v);
        if (!body.empty()) {
          req.set(bhttp::field::content_type, "application/json");
          req.body() = body;
        }
        req.prepare_payload();
        stream_->expires_after(30s);
        bhttp::write(*stream_, req);
        beast::flat_buffer buf;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        bhttp::read(*stream_, buf, parser);
        auto res = parser.release();
        r.status = static_cast<int>(res.result_int());
        if (!res.keep_alive()) stream_.reset();
        try {
          if (!res.body().empty()) r.body = json::parse(res.body());
        } catch (const std::exception&) {
        }
        if (r.status >= 400) r.code = Str(r.body, "code");
        fresh_ = false;
        break;
      } catch (const std::exception&) {
        const bool was_fresh = fresh_;
        stream_.reset();
        r = Reply{};
        if (was_fresh) break;  // a new connection failed: the server is down
      }
    }
    const auto us = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
    const std::string code = r.status == 0 ? "transport" : r.code.empty() ? std::to_string(r.status) : std::to_string(r.status) + " " + r.code;
    rec_.Record(endpoint, us, code, r.status == 0 || r.status >= 500);
    return r;
  }

 private:
  std::string host_;
  std::uint16_t port_;
  Recorder& rec_;
  asio::io_context io_;
  std::unique_ptr<beast::tcp_stream> stream_;
  bool fresh_ = false;
};

std::string Uuid(std::mt19937_64& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(36, '0');
  for (std::size_t i = 0; i < 36; ++i) s[i] = kHex[rng() & 0xf];
  s[8] = s[13] = s[18] = s[23] = '-';
  s[14] = '4';
  s[19] = '8';
  return s;
}

std::string Iso(std::chrono::system_clock::time_point t) {
  const auto tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// ---------------------------------------------------------------- the sale
struct Options {
  std::string scenario = "smoke";
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string db_url;
  std::string users_file;
  std::string password = "bench-password-1";
  std::string admin_email = "admin@ticketd.local";
  std::string admin_password = "ticketd-admin-dev";
  int customers = 0;
  int events_open = 1;
  double hot_share = 1.0;  // share of customers who want the hot event (the rest: the other events)
  int hall_seats = 3000;
  int seats_per_customer = 2;
  std::string contention = "front";
  std::string arrival = "burst";
  double arrival_seconds = 10;
  double login_share = 1.0;
  double map_share = 0.1;
  double fail_share = 0.05;
  double abandon_share = 0.03;
  double cancel_share = 0.05;
  int hold_retries = 10;
  int admission_rate = 1000;
  int max_active = 2000;
  int workers = 64;
  double duration = 0;  // soak: stop arrivals after this many seconds (0: arrival_seconds)
  double step_retry_seconds = 120;
  double settle_seconds = 90;
  std::string acks_file;
  std::uint64_t seed = 42;
  bool strict = false;  // customers ending in an error fail the run too
  // Several instances behind a load balancer: each instance's own port. After
  // a sampled hold (acknowledged through the balancer), every instance's seat
  // map is polled until it shows the seat taken: the seat-map lag.
  std::vector<std::uint16_t> probe_ports;
  double probe_every_seconds = 0.5;
};

enum class Step { kLogin, kEnter, kPoll, kHold, kPay, kConfirm, kWaitConfirmed, kCancel, kLeave, kDone };
enum class Outcome { kNone, kBooked, kCancelled, kDeclined, kAbandoned, kSoldOut, kGaveUp, kError };
constexpr std::array<const char*, 8> kOutcomeNames{"none", "booked", "cancelled", "declined", "abandoned", "sold_out", "gave_up", "error"};

struct Customer {
  std::string email, token;
  int event = 0;
  Step step = Step::kLogin;
  Outcome outcome = Outcome::kNone;
  bool waiting = false, entered = false;
  int attempts = 0;
  Clock::time_point step_started{}, entered_at{};
  std::string qr, qp, reservation, payment;
  std::string idem, pay_key;  // kept across retries of the same step: retries are idempotent
  std::vector<std::size_t> pick;  // the seats asked for under `idem`
  std::int64_t amount = 0;
  enum class Pay { kSuccess, kDecline, kAbandon } pay = Pay::kSuccess;
  bool cancel = false;
};

struct Event {
  std::string id;
  std::vector<std::string> seats;  // in seat-map order (front first)
  std::mutex mu;
  std::vector<char> available;  // the shared view: last map + what holds taught us
  std::int64_t available_count = -1;
  std::atomic<bool> sold_out{false};
  std::optional<double> sold_out_at;
};

struct Acks {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> holds;        // reservation, user email
  std::vector<std::tuple<std::string, std::string, std::int64_t>> payments;  // payment, reservation, amount
  std::vector<std::string> cancels;                              // reservation
  std::vector<std::string> enters;                               // event|email
};

class Sale {
 public:
  Sale(Options o, std::vector<std::pair<std::string, std::string>> users)
      : o_(std::move(o)), users_(std::move(users)), start_(Clock::now()), rec_(start_) {}

  int Run();

 private:
  Connection NewConnection() { return Connection(o_.host, o_.port, rec_); }
  double Now() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  void Setup();
  void RefreshMap(Connection& c, Event& e, const std::string& endpoint, const std::string& token = "");
  void Schedule(std::size_t i, Clock::time_point at) {
    {
      std::lock_guard lock(qmu_);
      q_.push({at, i});
    }
    qcv_.notify_one();
  }
  void Worker(unsigned seed);
  void Monitor();
  // Runs one step; returns when to run the next one (nullopt: done).
  std::optional<Clock::time_point> Advance(Connection& c, Customer& cu, std::mt19937_64& rng);
  std::optional<Clock::time_point> Retry(Customer& cu, const Reply& r);
  void Finish(Customer& cu, Outcome o) {
    cu.outcome = o;
    cu.step = Step::kDone;
    if (cu.waiting) {
      cu.waiting = false;
      --waiting_;
    }
  }
  std::vector<std::size_t> PickSeats(Event& e, std::mt19937_64& rng);
  json::object Check();

  Options o_;
  std::vector<std::pair<std::string, std::string>> users_;
  Clock::time_point start_;
  Recorder rec_;
  std::string admin_;
  std::vector<std::unique_ptr<Event>> events_;
  std::vector<Customer> customers_;
  std::mutex qmu_;
  std::condition_variable qcv_;
  std::priority_queue<std::pair<Clock::time_point, std::size_t>, std::vector<std::pair<Clock::time_point, std::size_t>>,
                      std::greater<>>
      q_;
  // Seat-map lag probes (o_.probe_ports): one hold at a time is followed.
  struct Probe {
    std::string event, seat, token;
    Clock::time_point acked;
  };
  void ProbeLoop();
  void OfferProbe(const std::string& event, const std::string& seat, const std::string& token);
  std::mutex probe_mu_;
  std::condition_variable probe_cv_;
  std::optional<Probe> probe_;
  Clock::time_point last_probe_{};
  std::map<std::uint16_t, std::vector<double>> probe_lag_ms_;  // per port (under probe_mu_)
  std::uint64_t probe_timeouts_ = 0;
  std::atomic<int> done_{0};
  std::atomic<int> waiting_{0};
  std::atomic<bool> stop_{false};
  Histogram queue_wait_;
  Acks acks_;
};

void Sale::Setup() {
  auto c = NewConnection();
  const auto login = c.Call("POST /auth/login (admin)", bhttp::verb::post, "/api/v1/auth/login", "",
                            json::serialize(json::object{{"email", o_.admin_email}, {"password", o_.admin_password}, {"captchaToken", "test-pass"}}));
  admin_ = Str(login.body, "accessToken");
  if (admin_.empty()) throw std::runtime_error("admin login failed: " + std::to_string(login.status));
  // A venue to put our hall in: the first one there is.
  const auto venues = c.Call("GET /venues", bhttp::verb::get, "/api/v1/venues?size=1", "");
  std::string venue;
  if (venues.body.is_object() && venues.body.as_object().contains("items") && !venues.body.at("items").as_array().empty()) {
    venue = Str(venues.body.at("items").as_array().at(0), "venueId");
  }
  if (venue.empty()) {
    const auto v = c.Call("POST /admin/venues", bhttp::verb::post, "/api/v1/admin/venues", admin_,
                          json::serialize(json::object{{"name", "Bench Arena"}, {"address", "1 Bench Road"}, {"city", "Seoul"}}));
    venue = Str(v.body, "venueId");
  }
  if (venue.empty()) throw std::runtime_error("no venue");
  // The hall: rows of 30 seats, front rows VIP, then R, S, A.
  json::array rows;
  json::object prices;
  const json::object all_prices{{"VIP", 150000}, {"R", 120000}, {"S", 90000}, {"A", 60000}};
  const int per_row = 30;
  const int nrows = (o_.hall_seats + per_row - 1) / per_row;
  for (int r = 0; r < nrows; ++r) {
    const int n = std::min(per_row, o_.hall_seats - r * per_row);
    const double f = static_cast<double>(r) / nrows;
    const char* grade = f < 0.1 ? "VIP" : f < 0.3 ? "R" : f < 0.6 ? "S" : "A";
    rows.push_back(json::object{{"row", std::to_string(r + 1)}, {"seats", n}, {"grade", grade}});
    prices[grade] = all_prices.at(grade);
  }
  const std::string tag = std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 100000000000);
  const auto hall = c.Call("POST /admin/venues/{id}/halls", bhttp::verb::post, "/api/v1/admin/venues/" + venue + "/halls", admin_,
                           json::serialize(json::object{{"name", "Bench Hall " + tag},
                                                        {"seatTemplate", json::object{{"sections", json::array{json::object{{"name", "A"}, {"rows", rows}}}}}}}));
  const auto hall_id = Str(hall.body, "hallId");
  if (hall_id.empty()) throw std::runtime_error("hall creation failed: " + std::to_string(hall.status) + " " + json::serialize(hall.body));
  const auto now = std::chrono::system_clock::now();
  for (int i = 0; i < o_.events_open; ++i) {
    json::object ev{{"venueId", venue},
                    {"hallId", hall_id},
                    {"title", "Flash Sale " + tag + " #" + std::to_string(i + 1)},
                    {"artist", "Bench"},
                    {"saleStartsAt", Iso(now - 1h)},
                    {"saleEndsAt", Iso(now + 24h)},
                    {"startsAt", Iso(now + 72h)},
                    {"endsAt", Iso(now + 75h)},
                    {"prices", prices},
                    {"queue", json::object{{"admissionRatePerSecond", o_.admission_rate}, {"maxActive", o_.max_active}}}};
    const auto created = c.Call("POST /admin/events", bhttp::verb::post, "/api/v1/admin/events", admin_, json::serialize(ev));
    auto e = std::make_unique<Event>();
    e->id = Str(created.body, "eventId");
    if (e->id.empty()) throw std::runtime_error("event creation failed: " + std::to_string(created.status) + " " + json::serialize(created.body));
    RefreshMap(c, *e, "GET /events/{id}/seats (monitor)");
    if (e->seats.empty()) throw std::runtime_error("empty seat map");
    events_.push_back(std::move(e));
  }
}

void Sale::RefreshMap(Connection& c, Event& e, const std::string& endpoint, const std::string& token) {
  const auto map = c.Call(endpoint, bhttp::verb::get, "/api/v1/events/" + e.id + "/seats", token.empty() ? admin_ : token);
  if (map.status != 200 || !map.body.is_object()) return;
  std::lock_guard lock(e.mu);
  const auto& seats = map.body.at("seats").as_array();
  if (e.seats.empty()) {
    for (const auto& s : seats) e.seats.emplace_back(s.at("seatId").as_string());
    e.available.assign(e.seats.size(), 1);
  }
  std::int64_t n = 0;
  for (std::size_t i = 0; i < seats.size() && i < e.available.size(); ++i) {
    const bool a = seats[i].at("status").as_string() == "AVAILABLE";
    e.available[i] = a ? 1 : 0;
    n += a ? 1 : 0;
  }
  e.available_count = n;
  if (n == 0 && !e.sold_out.exchange(true)) e.sold_out_at = Now();
  if (n > 0) e.sold_out = false;
}

std::vector<std::size_t> Sale::PickSeats(Event& e, std::mt19937_64& rng) {
  std::lock_guard lock(e.mu);
  std::vector<std::size_t> free;
  for (std::size_t i = 0; i < e.available.size(); ++i) {
    if (e.available[i] != 0) free.push_back(i);
  }
  const auto want = static_cast<std::size_t>(o_.seats_per_customer);
  if (free.size() < want) return {};
  std::vector<std::size_t> out;
  if (o_.contention == "front") {
    // Everyone wants the front rows: the first free seats, with a little
    // spread (the best 8×want), so neighbours collide but not all of them.
    const std::size_t window = std::min(free.size(), want * 8);
    std::vector<std::size_t> w(free.begin(), free.begin() + static_cast<std::ptrdiff_t>(window));
    std::shuffle(w.begin(), w.end(), rng);
    out.assign(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(want));
  } else {
    std::sample(free.begin(), free.end(), std::back_inserter(out), want, rng);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<Clock::time_point> Sale::Retry(Customer& cu, const Reply& r) {
  // Transport errors, 503 and 429: the server (or its database) is down or
  // busy; keep trying this step with backoff for up to step_retry_seconds.
  if (std::chrono::duration<double>(Clock::now() - cu.step_started).count() > o_.step_retry_seconds) {
    Finish(cu, Outcome::kError);
    return std::nullopt;
  }
  ++cu.attempts;
  double wait = std::min(5.0, 0.2 * (1 << std::min(cu.attempts, 5)));
  if (r.status == 429 || r.status == 503) wait = std::max(wait, 0.5);
  return Clock::now() + std::chrono::milliseconds(static_cast<int>(wait * 1000));
}

std::optional<Clock::time_point> Sale::Advance(Connection& c, Customer& cu, std::mt19937_64& rng) {
  Event& ev = *events_[static_cast<std::size_t>(cu.event)];
  const std::string qpath = "/api/v1/queue/" + ev.id;
  auto next = [&](Step s, Clock::time_point at = Clock::now()) -> std::optional<Clock::time_point> {
    if (s != cu.step) {
      cu.step = s;
      cu.attempts = 0;
      cu.step_started = Clock::now();
    }
    return at;
  };
  auto transient = [](const Reply& r) { return r.status == 0 || r.status == 503 || r.status == 429 || r.status == 502; };
  // WAITING/ADMITTED answer of enter and status.
  auto on_queue = [&](const Reply& r) -> std::optional<Clock::time_point> {
    if (!cu.entered) {
      cu.entered = true;
      cu.entered_at = Clock::now();
      std::lock_guard lock(acks_.mu);
      acks_.enters.push_back(ev.id + "|" + cu.email);
    }
    const auto status = Str(r.body, "status");
    if (status == "ADMITTED" && !Str(r.body, "reservationToken").empty()) {
      cu.qr = Str(r.body, "reservationToken");
      queue_wait_.Record(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - cu.entered_at).count()));
      if (cu.waiting) {
        cu.waiting = false;
        --waiting_;
      }
      return next(Step::kHold);
    }
    if (!cu.waiting) {
      cu.waiting = true;
      ++waiting_;
    }
    double poll = 1;
    if (r.body.is_object()) {
      if (const auto* p = r.body.as_object().if_contains("nextPollSeconds"); p != nullptr && p->is_number()) poll = p->to_number<double>();
    }
    std::uniform_real_distribution<double> jitter(1.0, 1.1);  // never earlier than asked
    return next(Step::kPoll, Clock::now() + std::chrono::milliseconds(static_cast<int>(poll * jitter(rng) * 1000)));
  };

  switch (cu.step) {
    case Step::kLogin: {
      if (!cu.token.empty()) return next(Step::kEnter);
      const auto r = c.Call("POST /auth/login", bhttp::verb::post, "/api/v1/auth/login", "",
                            json::serialize(json::object{{"email", cu.email}, {"password", o_.password}, {"captchaToken", "test-pass"}}));
      if (r.status == 200) {
        cu.token = Str(r.body, "accessToken");
        return next(Step::kEnter);
      }
      if (transient(r)) return Retry(cu, r);
      Finish(cu, Outcome::kError);
      return std::nullopt;
    }
    case Step::kEnter:
    case Step::kPoll: {
      if (ev.sold_out && cu.step == Step::kPoll) return next(Step::kLeave);
      const bool enter = cu.step == Step::kEnter;
      const auto r = enter ? c.Call("POST /queue/{id}/enter", bhttp::verb::post, qpath + "/enter", cu.token)
                           : c.Call("GET /queue/{id}/status", bhttp::verb::get, qpath + "/status", cu.token);
      if (r.status == 200 || r.status == 201) return on_queue(r);
      if (transient(r)) return Retry(cu, r);
      if (!enter && r.status == 404) return next(Step::kEnter);  // our entry is gone (expired): enter again
      Finish(cu, Outcome::kError);
      return std::nullopt;
    }
    case Step::kHold: {
      if (std::uniform_real_distribution<double>(0, 1)(rng) < o_.map_share) {
        RefreshMap(c, ev, "GET /events/{id}/seats", cu.token);
      }
      // A retry after a transport error/503 repeats the same request (same
      // key, same seats); a new key only after an answer.
      if (cu.idem.empty()) cu.pick = PickSeats(ev, rng);
      const auto pick = cu.pick;
      if (pick.empty()) {
        if (!ev.sold_out) RefreshMap(c, ev, "GET /events/{id}/seats", cu.token);
        if (ev.sold_out || cu.attempts >= o_.hold_retries) {
          cu.outcome = Outcome::kSoldOut;
          return next(Step::kLeave);
        }
        ++cu.attempts;
        return Clock::now() + 500ms;
      }
      if (cu.idem.empty()) cu.idem = Uuid(rng);
      json::array ids;
      for (auto i : pick) ids.push_back(json::string(ev.seats[i]));
      const auto r = c.Call("POST /reservations/hold", bhttp::verb::post, "/api/v1/reservations/hold", cu.token,
                            json::serialize(json::object{{"eventId", ev.id}, {"seatIds", ids}}),
                            {{"X-Queue-Token", cu.qr}, {"Idempotency-Key", cu.idem}});
      if (r.status == 201) {
        cu.idem.clear();
        cu.reservation = Str(r.body, "reservationId");
        cu.qp = Str(r.body, "paymentToken");
        if (!o_.probe_ports.empty()) OfferProbe(ev.id, ev.seats[pick.front()], cu.token);
        {
          std::lock_guard lock(acks_.mu);
          acks_.holds.emplace_back(cu.reservation, cu.email);
        }
        {
          std::lock_guard lock(ev.mu);
          for (auto i : pick) ev.available[i] = 0;
        }
        const double x = std::uniform_real_distribution<double>(0, 1)(rng);
        cu.pay = x < o_.fail_share ? Customer::Pay::kDecline
                 : x < o_.fail_share + o_.abandon_share ? Customer::Pay::kAbandon
                                                        : Customer::Pay::kSuccess;
        cu.cancel = std::uniform_real_distribution<double>(0, 1)(rng) < o_.cancel_share;
        return next(Step::kPay);
      }
      if (r.status == 409 && r.code == "SEAT_UNAVAILABLE") {
        {
          std::lock_guard lock(ev.mu);
          for (auto i : pick) ev.available[i] = 0;  // someone was faster; the map will tell us more
        }
        cu.idem.clear();
        if (++cu.attempts > o_.hold_retries) {
          cu.outcome = Outcome::kGaveUp;
          return next(Step::kLeave);
        }
        return Clock::now();
      }
      // The first attempt under this key is still running (its answer was
      // lost to a transport error): ask again shortly, same key.
      if (r.status == 409 && r.code == "IDEMPOTENCY_IN_PROGRESS") return Retry(cu, r);
      if (transient(r) || (r.status == 500 && cu.attempts < 3)) return Retry(cu, r);
      Finish(cu, Outcome::kError);
      return std::nullopt;
    }
    case Step::kPay: {
      if (cu.payment.empty()) {
        if (cu.pay_key.empty()) cu.pay_key = Uuid(rng);
        const auto r = c.Call("POST /payments", bhttp::verb::post, "/api/v1/payments", cu.token,
                              json::serialize(json::object{{"reservationId", cu.reservation}, {"paymentKey", cu.pay_key}}),
                              {{"X-Queue-Token", cu.qp}});
        if (r.status == 201 || r.status == 200) {
          cu.payment = Str(r.body, "paymentId");
          if (r.body.is_object() && r.body.as_object().contains("amount")) cu.amount = r.body.at("amount").to_number<std::int64_t>();
        } else if (transient(r) || (r.status == 409 && r.code == "IDEMPOTENCY_IN_PROGRESS")) {
          // The same paymentKey is still being started (a retry after a timeout
          // overtook the first try): ask again, as a client does, for the answer.
          return Retry(cu, r);
        } else {
          Finish(cu, Outcome::kError);
          return std::nullopt;
        }
        if (cu.pay == Customer::Pay::kAbandon) {
          Finish(cu, Outcome::kAbandoned);  // the hold expires, the seats return
          return std::nullopt;
        }
      }
      const char* card = cu.pay == Customer::Pay::kDecline ? "4000000000000002" : "4242424242424242";
      const auto r = c.Call("POST /sandbox/pg/payments/{id}/pay", bhttp::verb::post, "/sandbox/pg/payments/" + cu.payment + "/pay", "",
                            json::serialize(json::object{{"card", card}, {"webhook", false}}));
      if (r.status / 100 == 2) return next(Step::kConfirm);
      if (transient(r)) return Retry(cu, r);
      Finish(cu, Outcome::kError);
      return std::nullopt;
    }
    case Step::kConfirm: {
      const auto r = c.Call("POST /payments/{id}/confirm", bhttp::verb::post, "/api/v1/payments/" + cu.payment + "/confirm", cu.token);
      if (r.status == 200) {
        const auto st = Str(r.body, "status");
        if (st == "SUCCESS") {
          {
            std::lock_guard lock(acks_.mu);
            acks_.payments.emplace_back(cu.payment, cu.reservation, cu.amount);
          }
          if (cu.cancel) return next(Step::kWaitConfirmed);
          Finish(cu, Outcome::kBooked);
          return std::nullopt;
        }
        Finish(cu, cu.pay == Customer::Pay::kDecline ? Outcome::kDeclined : Outcome::kError);
        return std::nullopt;
      }
      if (transient(r)) return Retry(cu, r);
      Finish(cu, Outcome::kError);
      return std::nullopt;
    }
    case Step::kWaitConfirmed: {
      const auto r = c.Call("GET /reservations/{id}", bhttp::verb::get, "/api/v1/reservations/" + cu.reservation, cu.token);
      if (r.status == 200 && Str(r.body, "status") == "CONFIRMED") return next(Step::kCancel);
      if (r.status == 200 && Str(r.body, "status") != "PENDING") {
        Finish(cu, Outcome::kBooked);  // rejected after payment (refunded): counted by the checks
        return std::nullopt;
      }
      if (std::chrono::duration<double>(Clock::now() - cu.step_started).count() > o_.step_retry_seconds) {
        Finish(cu, Outcome::kBooked);
        return std::nullopt;
      }
      return Clock::now() + 300ms;
    }
    case Step::kCancel: {
      const auto r = c.Call("POST /reservations/{id}/cancel", bhttp::verb::post, "/api/v1/reservations/" + cu.reservation + "/cancel", cu.token);
      if (r.status / 100 == 2) {
        {
          std::lock_guard lock(acks_.mu);
          acks_.cancels.push_back(cu.reservation);
        }
        Finish(cu, Outcome::kCancelled);
        return std::nullopt;
      }
      if (transient(r)) return Retry(cu, r);
      Finish(cu, Outcome::kError);
      return std::nullopt;
    }
    case Step::kLeave: {
      const auto r = c.Call("DELETE /queue/{id}", bhttp::verb::delete_, qpath, cu.token);
      if (transient(r)) return Retry(cu, r);
      Finish(cu, cu.outcome == Outcome::kNone ? Outcome::kSoldOut : cu.outcome);
      return std::nullopt;
    }
    case Step::kDone:
      return std::nullopt;
  }
  return std::nullopt;
}

void Sale::Worker(unsigned seed) {
  std::mt19937_64 rng(o_.seed * 7919 + seed);
  auto c = NewConnection();
  for (;;) {
    std::size_t i = 0;
    {
      std::unique_lock lock(qmu_);
      for (;;) {
        if (stop_) return;
        if (!q_.empty() && q_.top().first <= Clock::now()) break;
        if (q_.empty()) {
          qcv_.wait_for(lock, 100ms);
        } else {
          qcv_.wait_until(lock, std::min(q_.top().first, Clock::now() + 100ms));
        }
      }
      i = q_.top().second;
      q_.pop();
    }
    auto& cu = customers_[i];
    const auto at = Advance(c, cu, rng);
    if (at) {
      Schedule(i, *at);
    } else if (++done_ == static_cast<int>(customers_.size())) {
      qcv_.notify_all();
    }
  }
}

void Sale::Monitor() {
  auto c = NewConnection();
  for (std::uint64_t n = 0; !stop_; ++n) {
    const auto tick = Clock::now() + 1s;
    const auto hot = events_.front().get();
    const auto st = c.Call("GET /admin/queue/{id} (monitor)", bhttp::verb::get, "/api/v1/admin/queue/" + hot->id, admin_);
    RefreshMap(c, *hot, "GET /events/{id}/seats (monitor)");
    for (std::size_t k = 1; k < events_.size(); ++k) {
      if (events_[k]->sold_out || n % 5 != 0) continue;  // the others every 5 s
      RefreshMap(c, *events_[k], "GET /events/{id}/seats (monitor)");
    }
    std::int64_t avail = 0;
    {
      std::lock_guard lock(hot->mu);
      avail = hot->available_count;
    }
    rec_.WithSecond([&](Second& s) {
      if (st.status == 200) {
        s.waiting_server = st.body.at("waiting").to_number<std::int64_t>();
        s.active_server = st.body.at("active").to_number<std::int64_t>();
      }
      s.waiting_client = waiting_.load();
      s.available_seats = avail;
    });
    std::this_thread::sleep_until(tick);
  }
}

void Sale::OfferProbe(const std::string& event, const std::string& seat, const std::string& token) {
  const auto now = Clock::now();
  {
    std::lock_guard lock(probe_mu_);
    if (probe_ || now - last_probe_ < std::chrono::duration<double>(o_.probe_every_seconds)) return;
    probe_ = Probe{event, seat, token, now};
    last_probe_ = now;
  }
  probe_cv_.notify_one();
}

void Sale::ProbeLoop() {
  Recorder quiet(start_);  // the probes' requests stay out of the sale's figures
  std::map<std::uint16_t, std::unique_ptr<Connection>> conns;
  for (auto port : o_.probe_ports) conns[port] = std::make_unique<Connection>(o_.host, port, quiet);
  for (;;) {
    Probe p;
    {
      std::unique_lock lock(probe_mu_);
      probe_cv_.wait_for(lock, 200ms, [&] { return probe_.has_value() || stop_.load(); });
      if (stop_.load()) return;
      if (!probe_) continue;
      p = *probe_;
    }
    const std::string target = "/api/v1/events/" + p.event + "/seats";
    for (auto port : o_.probe_ports) {
      bool seen = false;
      while (Clock::now() - p.acked < 10s && !stop_.load()) {
        const auto r = conns[port]->Call("probe", bhttp::verb::get, target, p.token);
        if (r.status == 200 && r.body.is_object() && r.body.as_object().contains("seats")) {
          for (const auto& seat : r.body.at("seats").as_array()) {
            if (Str(seat, "seatId") == p.seat) {
              seen = Str(seat, "status") != "AVAILABLE";
              break;
            }
          }
        }
        if (seen) break;
        std::this_thread::sleep_for(5ms);
      }
      std::lock_guard lock(probe_mu_);
      if (seen) {
        // Measured from the hold's acknowledgement; the first port's poll
        // runs first, so later ports' lags are upper bounds.
        probe_lag_ms_[port].push_back(std::chrono::duration<double, std::milli>(Clock::now() - p.acked).count());
      } else {
        ++probe_timeouts_;
      }
    }
    std::lock_guard lock(probe_mu_);
    probe_.reset();
  }
}

int Sale::Run() {
  Setup();
  const double setup_s = Now();
  // Customers: the hot event gets hot_share of them, the others the rest.
  std::mt19937_64 rng(o_.seed);
  const auto n = static_cast<std::size_t>(o_.customers);
  if (users_.size() < n) throw std::runtime_error("users file has " + std::to_string(users_.size()) + " users, need " + std::to_string(n));
  customers_.resize(n);
  const auto t0 = Clock::now();
  const double span = o_.duration > 0 ? o_.duration : o_.arrival_seconds;
  for (std::size_t i = 0; i < n; ++i) {
    auto& cu = customers_[i];
    cu.email = users_[i].first;
    if (std::uniform_real_distribution<double>(0, 1)(rng) >= o_.login_share) cu.token = users_[i].second;
    cu.event = events_.size() > 1 && std::uniform_real_distribution<double>(0, 1)(rng) >= o_.hot_share
                   ? 1 + static_cast<int>(rng() % (events_.size() - 1))
                   : 0;
    // burst: uniform over the window; ramp: density rising linearly (t = span·√u).
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const double at = o_.arrival == "ramp" ? span * std::sqrt(u) : span * u;
    cu.step_started = t0;
    Schedule(i, t0 + std::chrono::microseconds(static_cast<std::int64_t>(at * 1e6)));
  }
  const auto sale_start = Now();
  std::thread monitor([this] { Monitor(); });
  std::thread prober;
  if (!o_.probe_ports.empty()) prober = std::thread([this] { ProbeLoop(); });
  std::vector<std::thread> workers;
  for (int w = 0; w < o_.workers; ++w) workers.emplace_back([this, w] { Worker(static_cast<unsigned>(w + 1)); });
  {
    std::unique_lock lock(qmu_);
    while (done_.load() != static_cast<int>(customers_.size())) qcv_.wait_for(lock, 200ms);
    stop_ = true;
  }
  qcv_.notify_all();
  for (auto& t : workers) t.join();
  monitor.join();
  probe_cv_.notify_all();
  if (prober.joinable()) prober.join();
  const double wall = Now() - sale_start;

  std::array<int, kOutcomeNames.size()> outcomes{};
  for (const auto& cu : customers_) ++outcomes[static_cast<std::size_t>(cu.outcome)];
  json::object out_o;
  for (std::size_t k = 1; k < kOutcomeNames.size(); ++k) out_o[kOutcomeNames[k]] = outcomes[k];
  json::array sold_out;
  for (const auto& e : events_) sold_out.push_back(e->sold_out_at ? json::value(*e->sold_out_at - sale_start) : json::value(nullptr));

  json::object report{
      {"scenario", o_.scenario},
      {"params", json::object{{"customers", o_.customers},
                              {"events_open", o_.events_open},
                              {"hot_share", o_.hot_share},
                              {"hall_seats", o_.hall_seats},
                              {"seats_per_customer", o_.seats_per_customer},
                              {"contention", o_.contention},
                              {"arrival", o_.arrival},
                              {"arrival_seconds", span},
                              {"login_share", o_.login_share},
                              {"map_share", o_.map_share},
                              {"fail_share", o_.fail_share},
                              {"abandon_share", o_.abandon_share},
                              {"cancel_share", o_.cancel_share},
                              {"admission_rate_per_second", o_.admission_rate},
                              {"max_active", o_.max_active},
                              {"workers", o_.workers}}},
      {"setup_seconds", setup_s},
      {"wall_seconds", wall},
      {"hot_event_id", events_.front()->id},
      {"sold_out_seconds", sold_out},
      {"outcomes", out_o},
      {"queue_wait", [&] {
         auto s = queue_wait_.Summary();
         s["histogram_us"] = queue_wait_.Buckets();
         return s;
       }()},
      {"endpoints", rec_.Endpoints(wall)},
      {"timeline", rec_.Timeline()},
  };
  if (!o_.probe_ports.empty()) {
    auto pct = [](std::vector<double> v, double q) {
      if (v.empty()) return json::value(nullptr);
      std::sort(v.begin(), v.end());
      return json::value(v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))]);
    };
    std::vector<double> all;
    json::object per_port;
    for (const auto& [port, lags] : probe_lag_ms_) {
      all.insert(all.end(), lags.begin(), lags.end());
      per_port[std::to_string(port)] = json::object{{"samples", lags.size()}, {"p50_ms", pct(lags, 0.5)}, {"p99_ms", pct(lags, 0.99)}};
    }
    report["seat_map_lag"] = json::object{{"samples", all.size()},
                                          {"timeouts", probe_timeouts_},
                                          {"p50_ms", pct(all, 0.5)},
                                          {"p99_ms", pct(all, 0.99)},
                                          {"max_ms", pct(all, 1.0)},
                                          {"per_port", per_port}};
  }
  std::uint64_t total = 0;
  for (const auto& kv : report.at("endpoints").as_object()) total += kv.value().at("count").to_number<std::uint64_t>();
  report["requests_per_second"] = static_cast<double>(total) / std::max(wall, 1e-9);
  if (!o_.acks_file.empty()) {
    std::ofstream a(o_.acks_file);
    for (const auto& [r, u] : acks_.holds) a << "hold " << r << ' ' << u << '\n';
    for (const auto& [p, r, amt] : acks_.payments) a << "payment " << p << ' ' << r << ' ' << amt << '\n';
    for (const auto& r : acks_.cancels) a << "cancel " << r << '\n';
  }
  json::object inv;
  if (!o_.db_url.empty()) inv = Check();
  bool ok = true;
  for (const auto& kv : inv) {
    if (kv.value().is_object() && !kv.value().at("ok").as_bool()) ok = false;
  }
  report["invariants"] = inv;
  report["invariants_ok"] = ok;
  std::cout << json::serialize(report) << "\n";
  return ok && (!o_.strict || outcomes[static_cast<std::size_t>(Outcome::kError)] == 0) ? 0 : 1;
}

// ---------------------------------------------------------------- invariants
std::int64_t Scalar(pqxx::work& tx, const std::string& sql) {
  const auto r = tx.exec1(sql);
  return r[0].is_null() ? 0 : r[0].as<std::int64_t>();
}

json::object Sale::Check() {
  // Ids the generator was told about: these must all be in Postgres.
  std::string holds = "{", pays = "{", cancels = "{";
  auto add = [](std::string& arr, const std::string& v) {
    if (arr.size() > 1) arr += ',';
    arr += '"' + v + '"';
  };
  for (const auto& [r, u] : acks_.holds) add(holds, r);
  for (const auto& [p, r, a] : acks_.payments) add(pays, p);
  for (const auto& r : acks_.cancels) add(cancels, r);
  holds += '}';
  pays += '}';
  cancels += '}';
  std::string evs = "{";
  for (const auto& e : events_) add(evs, e->id);
  evs += '}';
  const auto started = Clock::now();
  json::object out;
  std::unique_ptr<pqxx::connection> db;
  for (;;) {
    out = {};
    bool all = true;
    try {
      if (!db) db = std::make_unique<pqxx::connection>(o_.db_url);
    } catch (const std::exception& e) {  // Postgres restarting (chaos): try again
      if (std::chrono::duration<double>(Clock::now() - started).count() > o_.settle_seconds) throw;
      std::this_thread::sleep_for(1s);
      continue;
    }
    pqxx::work tx(*db);
    // `eventual`: the saga, relay and refunds may still be catching up, so a
    // failure is looked at again until settle_seconds; the others are final.
    auto put = [&](const char* name, bool good, json::object detail, bool eventual = true) {
      detail["ok"] = good;
      if (eventual) all = all && good;
      out[name] = std::move(detail);
    };
    const std::string ev_filter = "event_id = ANY('" + evs + "'::uuid[])";
    // 1. No seat in two active reservations (and no active seat row of a finished reservation).
    {
      const auto dup = Scalar(tx, "SELECT count(*) FROM (SELECT rs.event_id, rs.seat_id FROM reservation.reservation_seats rs"
                                  " JOIN reservation.reservations r ON r.id = rs.reservation_id"
                                  " WHERE rs.active AND r.status IN ('PENDING','CONFIRMED') GROUP BY 1, 2 HAVING count(*) > 1) d");
      const auto stray = Scalar(tx, "SELECT count(*) FROM reservation.reservation_seats rs JOIN reservation.reservations r"
                                    " ON r.id = rs.reservation_id WHERE rs.active AND r.status NOT IN ('PENDING','CONFIRMED')");
      put("no_seat_in_two_active_reservations", dup == 0 && stray == 0,
          json::object{{"seats_in_two_active", dup}, {"active_seat_rows_of_finished_reservations", stray}},
          /*eventual=*/dup == 0);  // a seat sold twice never heals: no point waiting
    }
    // 2. Seats SOLD = seats in CONFIRMED reservations (count and identity).
    {
      const auto sold = Scalar(tx, "SELECT count(*) FROM catalog.seats WHERE status = 'SOLD' AND " + ev_filter);
      const auto confirmed = Scalar(tx, "SELECT count(*) FROM reservation.reservation_seats rs JOIN reservation.reservations r"
                                        " ON r.id = rs.reservation_id WHERE rs.active AND r.status = 'CONFIRMED' AND r." + ev_filter);
      const auto mismatch = Scalar(
          tx, "SELECT count(*) FROM (SELECT id FROM catalog.seats WHERE status = 'SOLD' AND " + ev_filter +
                  ") s FULL JOIN (SELECT rs.seat_id FROM reservation.reservation_seats rs JOIN reservation.reservations r"
                  " ON r.id = rs.reservation_id WHERE rs.active AND r.status = 'CONFIRMED' AND r." + ev_filter +
                  ") c ON c.seat_id = s.id WHERE s.id IS NULL OR c.seat_id IS NULL");
      put("sold_seats_equal_confirmed_seats", sold == confirmed && mismatch == 0,
          json::object{{"sold", sold}, {"in_confirmed_reservations", confirmed}, {"mismatched_seats", mismatch}});
    }
    // 3. Money: SUCCESS payments − refunds = CONFIRMED reservations' totals.
    {
      const auto paid = Scalar(tx, "SELECT sum(amount) FROM payment.payments WHERE status IN ('SUCCESS','REFUND_PENDING','REFUNDED') AND " + ev_filter);
      const auto refunded = Scalar(tx, "SELECT sum(amount) FROM payment.payments WHERE status IN ('REFUND_PENDING','REFUNDED') AND " + ev_filter);
      const auto pending_refunds = Scalar(tx, "SELECT count(*) FROM payment.payments WHERE status = 'REFUND_PENDING' AND " + ev_filter);
      const auto totals = Scalar(tx, "SELECT sum(total_amount) FROM reservation.reservations WHERE status = 'CONFIRMED' AND " + ev_filter);
      const auto unpaid = Scalar(tx, "SELECT count(*) FROM reservation.reservations r WHERE r.status = 'CONFIRMED' AND r." + ev_filter +
                                         " AND NOT EXISTS (SELECT 1 FROM payment.payments p WHERE p.reservation_id = r.id"
                                         " AND p.status = 'SUCCESS' AND p.amount = r.total_amount)");
      put("payments_minus_refunds_equal_confirmed_totals", paid - refunded == totals && unpaid == 0 && pending_refunds == 0,
          json::object{{"success_payments_krw", paid},
                       {"refunds_krw", refunded},
                       {"refunds_pending", pending_refunds},
                       {"confirmed_totals_krw", totals},
                       {"confirmed_without_matching_payment", unpaid}});
    }
    // 4. Every outbox row published.
    {
      json::object d;
      std::int64_t left = 0;
      for (const char* s : {"catalog", "payment", "reservation"}) {
        const auto n = Scalar(tx, std::string("SELECT count(*) FROM ") + s + ".outbox WHERE published_at IS NULL");
        d[s] = n;
        left += n;
      }
      put("every_outbox_row_published", left == 0, std::move(d));
    }
    // 5. Waiting room: everyone who entered is admitted (ADMITTED/USED/EXPIRED),
    //    left, or still WAITING — none lost, dropped or cleared — and admission
    //    followed the line (FIFO: no one admitted before someone ahead still waiting,
    //    admission times non-decreasing along the line).
    {
      const auto entered = static_cast<std::int64_t>(std::count_if(customers_.begin(), customers_.end(), [](const Customer& c) { return c.entered; }));
      const auto rows = Scalar(tx, "SELECT count(*) FROM queue.entries WHERE " + ev_filter);
      const auto lost = Scalar(tx, "SELECT count(*) FROM queue.entries WHERE " + ev_filter + " AND status IN ('DROPPED','CLEARED')");
      const auto skipped = Scalar(tx, "SELECT count(*) FROM queue.entries a JOIN queue.entries w ON w.event_id = a.event_id"
                                      " AND w.status = 'WAITING' AND w.seq < a.seq WHERE a.admitted_at IS NOT NULL AND a." + ev_filter);
      const auto out_of_order = Scalar(
          tx, "SELECT count(*) FROM (SELECT admitted_at, max(admitted_at) OVER (PARTITION BY event_id ORDER BY seq ROWS BETWEEN"
              " UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM queue.entries WHERE admitted_at IS NOT NULL AND " + ev_filter +
              ") s WHERE admitted_at < before");
      json::object by_status;
      for (const auto& r : tx.exec("SELECT status, count(*) FROM queue.entries WHERE " + ev_filter + " GROUP BY 1 ORDER BY 1")) {
        by_status[r[0].as<std::string>()] = r[1].as<std::int64_t>();
      }
      // The first offenders: place, entered and admitted times, and how much
      // later someone behind them in the line had been admitted.
      json::array examples;
      for (const auto& r : tx.exec(
               "SELECT seq, to_char(entered_at, 'HH24:MI:SS.US'), to_char(admitted_at, 'HH24:MI:SS.US'),"
               " round(extract(epoch FROM before - admitted_at)::numeric * 1000, 1)::text FROM ("
               "SELECT seq, entered_at, admitted_at, max(admitted_at) OVER w AS before"
               " FROM queue.entries WHERE admitted_at IS NOT NULL AND " + ev_filter +
               " WINDOW w AS (PARTITION BY event_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) s"
               " WHERE admitted_at < before ORDER BY seq LIMIT 5")) {
        examples.push_back(json::object{{"seq", r[0].as<std::int64_t>()},
                                        {"entered_at", r[1].as<std::string>()},
                                        {"admitted_at", r[2].as<std::string>()},
                                        {"admitted_after_someone_behind_by_ms", r[3].as<std::string>()}});
      }
      put("waiting_room_everyone_accounted_in_order", rows >= entered && lost == 0 && skipped == 0 && out_of_order == 0,
          json::object{{"entered_per_client", entered},
                       {"entries", rows},
                       {"by_status", by_status},
                       {"dropped_or_cleared", lost},
                       {"admitted_ahead_of_waiting", skipped},
                       {"admitted_out_of_order", out_of_order},
                       {"out_of_order_examples", examples}},
          false);
    }
    // 6. Nothing acknowledged was lost.
    {
      const auto holds_found = Scalar(tx, "SELECT count(*) FROM reservation.reservations WHERE id = ANY('" + holds + "'::uuid[])");
      const auto pays_found = Scalar(tx, "SELECT count(*) FROM payment.payments WHERE id = ANY('" + pays +
                                             "'::uuid[]) AND status IN ('SUCCESS','REFUND_PENDING','REFUNDED')");
      const auto cancels_ok = Scalar(tx, "SELECT count(*) FROM reservation.reservations WHERE id = ANY('" + cancels +
                                             "'::uuid[]) AND status = 'CANCELLED'");
      // A confirmed payment ends CONFIRMED, or refunded when the customer cancelled
      // or the reservation had already ended (then it must have been refunded).
      const auto paid_not_booked = Scalar(
          tx, "SELECT count(*) FROM payment.payments p JOIN reservation.reservations r ON r.id = p.reservation_id"
              " WHERE p.id = ANY('" + pays + "'::uuid[]) AND NOT (r.status = 'CONFIRMED' AND p.status = 'SUCCESS')"
              " AND NOT (r.status IN ('CANCELLED','EXPIRED') AND p.status = 'REFUNDED')");
      put("no_acknowledged_booking_or_payment_lost",
          holds_found == static_cast<std::int64_t>(acks_.holds.size()) && pays_found == static_cast<std::int64_t>(acks_.payments.size()) &&
              cancels_ok == static_cast<std::int64_t>(acks_.cancels.size()) && paid_not_booked == 0,
          json::object{{"holds_acknowledged", acks_.holds.size()},
                       {"holds_found", holds_found},
                       {"payments_acknowledged", acks_.payments.size()},
                       {"payments_found", pays_found},
                       {"cancels_acknowledged", acks_.cancels.size()},
                       {"cancels_found", cancels_ok},
                       {"paid_but_neither_confirmed_nor_refunded", paid_not_booked}});
    }
    {
      const auto refunded_after_reject =
          Scalar(tx, "SELECT count(*) FROM payment.payments p JOIN reservation.reservations r ON r.id = p.reservation_id"
                     " WHERE p.id = ANY('" + pays + "'::uuid[]) AND r.status = 'EXPIRED'");
      out["info"] = json::object{{"ok", true}, {"paid_after_hold_expired_refunded", refunded_after_reject}};
    }
    tx.commit();
    const double waited = std::chrono::duration<double>(Clock::now() - started).count();
    out["settled_after_seconds"] = waited;
    // The saga, relay and refunds are asynchronous: give them time to settle.
    if (all || waited > o_.settle_seconds) break;
    std::this_thread::sleep_for(1s);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"ticketd flash-sale load generator"};
  Options o;
  cli.add_option("--scenario", o.scenario, "smoke | flash-sale | soak (sets defaults; flags below override)")
      ->check(CLI::IsMember({"smoke", "flash-sale", "soak", "chaos"}));
  cli.add_option("--host", o.host, "ticketd address");
  cli.add_option("--port", o.port, "ticketd port")->required();
  cli.add_option("--db-url", o.db_url, "Postgres URL of ticketd's database: the invariants are checked there");
  cli.add_option("--users-file", o.users_file, "\"email access_token\" per line (ticketd seed-users --tokens-out)")->required();
  cli.add_option("--password", o.password, "The users' shared password (for real logins)");
  cli.add_option("--admin-email", o.admin_email);
  cli.add_option("--admin-password", o.admin_password);
  auto* customers = cli.add_option("--customers", o.customers, "Customers to play");
  auto* events = cli.add_option("--events", o.events_open, "Events open (the first is the hot one)");
  auto* hot = cli.add_option("--hot-share", o.hot_share, "Share of customers who want the hot event");
  auto* seats = cli.add_option("--hall-seats", o.hall_seats, "Seats per event (a hall is created)");
  cli.add_option("--seats-per-customer", o.seats_per_customer)->check(CLI::Range(1, 4));
  cli.add_option("--contention", o.contention, "front | uniform")->check(CLI::IsMember({"front", "uniform"}));
  cli.add_option("--arrival", o.arrival, "burst (uniform over the window) | ramp")->check(CLI::IsMember({"burst", "ramp"}));
  auto* arrival_s = cli.add_option("--arrival-seconds", o.arrival_seconds, "Arrival window");
  auto* duration = cli.add_option("--duration", o.duration, "soak: arrivals spread over this many seconds");
  auto* login = cli.add_option("--login-share", o.login_share, "Share of customers who log in with the password (argon2id); the rest use issued sessions");
  auto* map = cli.add_option("--map-share", o.map_share, "Share of admitted customers who fetch the seat map themselves");
  cli.add_option("--fail-share", o.fail_share, "Share whose card is declined");
  cli.add_option("--abandon-share", o.abandon_share, "Share who abandon at the payment widget");
  auto* cancel = cli.add_option("--cancel-share", o.cancel_share, "Share of bookers who cancel after confirmation");
  cli.add_option("--hold-retries", o.hold_retries);
  auto* rate = cli.add_option("--admission-rate", o.admission_rate, "Event queue admissionRatePerSecond");
  auto* active = cli.add_option("--max-active", o.max_active, "Event queue maxActive");
  auto* workers = cli.add_option("--workers", o.workers, "Worker threads (one keep-alive connection each)");
  cli.add_option("--step-retry-seconds", o.step_retry_seconds, "How long a step retries through outages");
  cli.add_option("--settle-seconds", o.settle_seconds, "How long the invariants may take to settle");
  cli.add_option("--acks-file", o.acks_file, "Write the acknowledged holds/payments/cancels here");
  cli.add_option("--seed", o.seed);
  cli.add_flag("--strict", o.strict, "Fail the run when any customer ends in an error (smoke)");
  cli.add_option("--probe-ports", o.probe_ports, "Instances' own ports: measure seat-map lag across them")->delimiter(',');
  cli.add_option("--probe-every-seconds", o.probe_every_seconds, "At most one seat-map probe this often");
  CLI11_PARSE(cli, argc, argv);
  // Scenario defaults for what was not given.
  auto dflt = [](CLI::Option* opt, auto& var, auto value) {
    if (opt->count() == 0) var = value;
  };
  if (o.scenario == "smoke") {
    dflt(customers, o.customers, 60);
    dflt(events, o.events_open, 2);
    dflt(hot, o.hot_share, 0.8);
    dflt(seats, o.hall_seats, 60);
    dflt(arrival_s, o.arrival_seconds, 2.0);
    dflt(rate, o.admission_rate, 50);
    dflt(active, o.max_active, 20);
    dflt(workers, o.workers, 8);
    dflt(map, o.map_share, 0.5);
    dflt(cancel, o.cancel_share, 0.15);
    dflt(login, o.login_share, 0.1);
  } else if (o.scenario == "flash-sale" || o.scenario == "chaos") {
    dflt(customers, o.customers, 50000);
    dflt(events, o.events_open, 10);
    dflt(hot, o.hot_share, 0.9);
    dflt(seats, o.hall_seats, 3000);
    dflt(arrival_s, o.arrival_seconds, 10.0);
    dflt(rate, o.admission_rate, 200);
    dflt(active, o.max_active, 1000);
    dflt(workers, o.workers, 64);
    dflt(login, o.login_share, 0.01);
  } else if (o.scenario == "soak") {
    dflt(customers, o.customers, 6000);
    dflt(events, o.events_open, 10);
    dflt(hot, o.hot_share, 0.1);
    dflt(seats, o.hall_seats, 3000);
    dflt(duration, o.duration, 120.0);
    dflt(rate, o.admission_rate, 100);
    dflt(active, o.max_active, 500);
    dflt(workers, o.workers, 32);
    dflt(cancel, o.cancel_share, 0.2);
    dflt(login, o.login_share, 0.02);
    o.contention = "uniform";
  }
  if (o.customers < 1) {
    std::cerr << "--customers must be >= 1\n";
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> users;
  {
    std::ifstream in(o.users_file);
    std::string email, token;
    while (in >> email >> token) users.emplace_back(email, token);
  }
  try {
    Sale sale(o, std::move(users));
    return sale.Run();
  } catch (const std::exception& e) {
    std::cerr << "ticketd_flash_sale: " << e.what() << "\n";
    return 2;
  }
}
