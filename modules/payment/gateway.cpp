#include "payment/gateway.hpp"

#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ticketd/core/crypto.hpp"
#include "ticketd/core/log.hpp"

namespace ticketd::payment {

namespace json = boost::json;
namespace bh = boost::beast::http;

// ---------------------------------------------------------------- breaker

bool CircuitBreaker::Allow() {
  std::lock_guard lock(mu_);
  if (state_ == State::kClosed) return true;
  if (state_ == State::kOpen) {
    if (now_() < open_until_) return false;
    state_ = State::kHalfOpen;
    probing_ = false;
  }
  if (probing_) return false;  // half-open: one probe at a time
  probing_ = true;
  return true;
}

void CircuitBreaker::Record(bool success) {
  std::lock_guard lock(mu_);
  if (state_ == State::kHalfOpen) {
    probing_ = false;
    if (success) {
      state_ = State::kClosed;
      outcomes_.clear();
    } else {
      state_ = State::kOpen;
      open_until_ = now_() + options_.open_for;
    }
    return;
  }
  if (state_ == State::kOpen) return;  // a call that started before it opened
  outcomes_.push_back(success);
  while (static_cast<int>(outcomes_.size()) > options_.window) outcomes_.pop_front();
  if (static_cast<int>(outcomes_.size()) < options_.min_calls) return;
  int failures = 0;
  for (const bool ok : outcomes_) failures += ok ? 0 : 1;
  if (static_cast<double>(failures) >= options_.failure_ratio * static_cast<double>(outcomes_.size())) {
    state_ = State::kOpen;
    open_until_ = now_() + options_.open_for;
    outcomes_.clear();
  }
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

// ---------------------------------------------------------------- PortOne

PortOneGateway::PortOneGateway(PortOneOptions options, ExchangeLog log, metrics::Registry* registry)
    : options_(std::move(options)),
      log_(std::move(log)),
      client_(http::ClientOptions{options_.timeout, "", "ticketd", 1 << 20}),
      breaker_(options_.breaker) {
  if (registry != nullptr) {
    const std::string name = "ticketd_payment_gateway_calls_total";
    calls_ok_ = &registry->GetCounter(name, "Payment gateway calls by outcome", {{"outcome", "ok"}});
    calls_failed_ = &registry->GetCounter(name, "Payment gateway calls by outcome", {{"outcome", "failed"}});
    calls_refused_ = &registry->GetCounter(name, "Payment gateway calls by outcome", {{"outcome", "circuit_open"}});
  }
}

void PortOneGateway::SetBaseUrl(std::string url) {
  std::lock_guard lock(url_mu_);
  options_.base_url = std::move(url);
}

boost::asio::awaitable<PortOneGateway::Reply> PortOneGateway::Call(std::string operation, std::string payment_id,
                                                                   bh::verb method, std::string path, std::string body,
                                                                   bool safe_to_retry) {
  std::string url;
  {
    std::lock_guard lock(url_mu_);
    url = options_.base_url + path;
  }
  const int attempts = safe_to_retry ? 2 : 1;
  for (int attempt = 1;; ++attempt) {
    if (!breaker_.Allow()) {
      if (calls_refused_ != nullptr) calls_refused_->Inc();
      throw DependencyUnavailable("payment-gateway", "circuit open: the gateway failed repeatedly", true);
    }
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::pair<std::string, std::string>> headers{{"Authorization", "PortOne " + options_.api_secret},
                                                             {"Accept", "application/json"}};
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    std::string error;
    Reply reply;
    bool transient = false;
    try {
      std::string u = url;
      std::string b = body;
      const auto res = co_await client_.Send(method, std::move(u), std::move(headers), std::move(b));
      reply = {res.status, res.body};
      transient = res.status >= 500 || res.status == 429;
      if (transient) error = "HTTP " + std::to_string(res.status);
    } catch (const DependencyUnavailable& e) {
      error = e.reason();
      transient = true;
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    breaker_.Record(!transient);
    if (transient) {
      if (calls_failed_ != nullptr) calls_failed_->Inc();
    } else if (calls_ok_ != nullptr) {
      calls_ok_->Inc();
    }
    if (log_) {
      const std::string method_name(bh::to_string(method));
      co_await log_(payment_id, operation, method_name, url, body, reply.status, reply.body, error, took);
    }
    if (!transient) co_return reply;
    if (attempt >= attempts) throw DependencyUnavailable("payment-gateway", error, true);
  }
}

namespace {

[[noreturn]] void Rejected(int status, const std::string& body) {
  std::string type = "HTTP_" + std::to_string(status);
  std::string message;
  try {
    const auto v = json::parse(body);
    if (const auto* o = v.if_object()) {
      if (const auto* t = o->if_contains("type"); t != nullptr && t->is_string()) type = std::string(t->as_string());
      if (const auto* m = o->if_contains("message"); m != nullptr && m->is_string()) message = std::string(m->as_string());
    }
  } catch (const std::exception&) {
  }
  throw GatewayRejected(status, type, message);
}

std::string PathId(const std::string& id) {
  // Our payment ids are UUIDs: nothing to escape, but refuse anything else.
  for (const char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') throw std::invalid_argument("bad payment id");
  }
  return id;
}

}  // namespace

boost::asio::awaitable<void> PortOneGateway::PreRegister(std::string payment_id, std::int64_t amount, std::string currency) {
  json::object body{{"totalAmount", amount}, {"currency", currency}};
  if (!options_.store_id.empty()) body["storeId"] = options_.store_id;
  std::string path = "/payments/" + PathId(payment_id) + "/pre-register";
  std::string op = "pre-register";
  const auto reply = co_await Call(std::move(op), payment_id, bh::verb::post, std::move(path), json::serialize(body), false);
  if (reply.status / 100 != 2) Rejected(reply.status, reply.body);
}

boost::asio::awaitable<std::optional<GatewayPayment>> PortOneGateway::GetPayment(std::string payment_id) {
  std::string path = "/payments/" + PathId(payment_id);
  if (!options_.store_id.empty()) path += "?storeId=" + options_.store_id;
  std::string op = "get";
  const auto reply = co_await Call(std::move(op), payment_id, bh::verb::get, std::move(path), std::string(), true);
  if (reply.status == 404) co_return std::nullopt;
  if (reply.status / 100 != 2) Rejected(reply.status, reply.body);
  auto parsed = ParseGatewayPayment(reply.body);
  if (!parsed) throw DependencyUnavailable("payment-gateway", "unreadable payment from the gateway", false);
  co_return parsed;
}

boost::asio::awaitable<std::string> PortOneGateway::Cancel(std::string payment_id, std::string reason) {
  json::object body{{"reason", reason}, {"requester", "ADMIN"}};
  if (!options_.store_id.empty()) body["storeId"] = options_.store_id;
  std::string path = "/payments/" + PathId(payment_id) + "/cancel";
  std::string op = "cancel";
  const auto reply = co_await Call(std::move(op), payment_id, bh::verb::post, std::move(path), json::serialize(body), false);
  if (reply.status / 100 != 2) Rejected(reply.status, reply.body);
  try {
    const auto v = json::parse(reply.body);
    co_return std::string(v.at("cancellation").at("status").as_string());
  } catch (const std::exception&) {
    throw DependencyUnavailable("payment-gateway", "unreadable cancellation from the gateway", false);
  }
}

std::optional<GatewayPayment> ParseGatewayPayment(const std::string& text) {
  try {
    const auto v = json::parse(text);
    const auto& o = v.as_object();
    GatewayPayment p;
    p.id = std::string(o.at("id").as_string());
    p.status = std::string(o.at("status").as_string());
    p.currency = std::string(o.at("currency").as_string());
    const auto& amount = o.at("amount").as_object();
    p.total = amount.at("total").to_number<std::int64_t>();
    if (const auto* paid = amount.if_contains("paid")) p.paid = paid->to_number<std::int64_t>();
    if (const auto* c = amount.if_contains("cancelled")) p.cancelled = c->to_number<std::int64_t>();
    if (const auto* f = o.if_contains("failure"); f != nullptr && f->is_object()) {
      if (const auto* r = f->as_object().if_contains("reason"); r != nullptr && r->is_string()) {
        p.failure_reason = std::string(r->as_string());
      }
    }
    return p;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// ---------------------------------------------------------------- webhooks

namespace {

std::string KeyOf(const std::string& secret) {
  std::string s = secret;
  if (s.starts_with("whsec_")) s = s.substr(6);
  return crypto::Base64Decode(s).value_or(std::string());
}

}  // namespace

std::string SignWebhook(const std::string& secret, const std::string& id, const std::string& timestamp,
                        const std::string& body) {
  return "v1," + crypto::Base64Encode(crypto::HmacSha256(KeyOf(secret), id + "." + timestamp + "." + body));
}

bool VerifyWebhook(const std::string& secret, const std::string& id, const std::string& timestamp,
                   const std::string& body, const std::string& signature_header, std::int64_t now_seconds,
                   std::int64_t tolerance_seconds) {
  if (id.empty() || timestamp.empty() || timestamp.size() > 12) return false;
  std::int64_t ts = 0;
  for (const char c : timestamp) {
    if (c < '0' || c > '9') return false;
    ts = ts * 10 + (c - '0');
  }
  if (ts < now_seconds - tolerance_seconds || ts > now_seconds + tolerance_seconds) return false;
  const std::string key = KeyOf(secret);
  if (key.empty()) return false;
  const std::string expected = crypto::Base64Encode(crypto::HmacSha256(key, id + "." + timestamp + "." + body));
  std::size_t start = 0;
  bool ok = false;
  while (start < signature_header.size()) {
    auto end = signature_header.find(' ', start);
    if (end == std::string::npos) end = signature_header.size();
    const std::string entry = signature_header.substr(start, end - start);
    if (entry.starts_with("v1,")) {
      const std::string sig = entry.substr(3);
      // Constant time over equal lengths; every entry is checked.
      if (crypto::ConstantTimeEquals(sig, expected)) ok = true;
    }
    start = end + 1;
  }
  return ok;
}

}  // namespace ticketd::payment
