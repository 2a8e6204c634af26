#pragma once
// The payment gateway as the payment service sees it (PortOne V2 semantics),
// the PortOne HTTP adapter with its circuit breaker, and Standard Webhooks
// signatures. The sandbox gateway (sandbox.hpp) speaks the same wire format,
// so `sandbox` vs `portone` is only a base URL and a secret.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "ticketd/core/error.hpp"
#include "ticketd/core/http_client.hpp"
#include "ticketd/core/metrics.hpp"

namespace ticketd::payment {

/// PortOne's view of a payment (`GET /payments/{id}`).
struct GatewayPayment {
  std::string id;
  std::string status;  // READY, PAY_PENDING, VIRTUAL_ACCOUNT_ISSUED, PAID, FAILED, PARTIAL_CANCELLED, CANCELLED
  std::string currency;
  std::int64_t total = 0;
  std::int64_t paid = 0;
  std::int64_t cancelled = 0;
  std::string failure_reason;
};

/// A definite refusal by the gateway (4xx with a PortOne error `type`).
class GatewayRejected : public std::runtime_error {
 public:
  GatewayRejected(int status, std::string type, std::string message)
      : std::runtime_error(type + ": " + message), status_(status), type_(std::move(type)) {}
  [[nodiscard]] int status() const noexcept { return status_; }
  [[nodiscard]] const std::string& type() const noexcept { return type_; }

 private:
  int status_;
  std::string type_;
};

/// Errors: DependencyUnavailable (unreachable, timeout, 5xx, circuit open) or
/// GatewayRejected. Thread-safe.
class PaymentGateway {
 public:
  virtual ~PaymentGateway() = default;
  virtual boost::asio::awaitable<void> PreRegister(std::string payment_id, std::int64_t amount, std::string currency) = 0;
  /// nullopt: the gateway does not know the payment (PAYMENT_NOT_FOUND).
  virtual boost::asio::awaitable<std::optional<GatewayPayment>> GetPayment(std::string payment_id) = 0;
  /// Full cancel (refund); returns the cancellation status (SUCCEEDED, REQUESTED).
  virtual boost::asio::awaitable<std::string> Cancel(std::string payment_id, std::string reason) = 0;
};

struct BreakerOptions {
  int window = 20;      // last calls considered
  int min_calls = 10;   // no opinion before this many
  double failure_ratio = 0.5;
  std::chrono::milliseconds open_for{60000};
};

/// Closed → open when failures reach the ratio over the window; open → fast
/// refusal for `open_for`; then half-open: one probe at a time, success
/// closes, failure opens again. Thread-safe.
class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit CircuitBreaker(BreakerOptions options, std::function<Clock::time_point()> now = Clock::now)
      : options_(options), now_(std::move(now)) {}
  /// False while open (and while a half-open probe is in flight).
  bool Allow();
  void Record(bool success);
  enum class State { kClosed, kOpen, kHalfOpen };
  [[nodiscard]] State state() const;

 private:
  BreakerOptions options_;
  std::function<Clock::time_point()> now_;
  mutable std::mutex mu_;
  std::deque<bool> outcomes_;
  State state_ = State::kClosed;
  Clock::time_point open_until_{};
  bool probing_ = false;
};

struct PortOneOptions {
  std::string base_url = "https://api.portone.io";
  std::string api_secret;
  std::string store_id;
  std::chrono::milliseconds timeout{10000};
  BreakerOptions breaker;
};

/// Writes one row per gateway exchange (payment.gateway_log); must not throw.
/// A coroutine: the write goes through the pool while the caller's I/O thread
/// serves others. The arguments must stay alive until it completes.
using ExchangeLog = std::function<boost::asio::awaitable<void>(
    const std::string& payment_id, const std::string& operation, const std::string& method, const std::string& url,
    const std::string& request, int status, const std::string& response, const std::string& error,
    std::chrono::milliseconds took)>;

class PortOneGateway final : public PaymentGateway {
 public:
  PortOneGateway(PortOneOptions options, ExchangeLog log, metrics::Registry* registry);
  boost::asio::awaitable<void> PreRegister(std::string payment_id, std::int64_t amount, std::string currency) override;
  boost::asio::awaitable<std::optional<GatewayPayment>> GetPayment(std::string payment_id) override;
  boost::asio::awaitable<std::string> Cancel(std::string payment_id, std::string reason) override;
  [[nodiscard]] CircuitBreaker& breaker() noexcept { return breaker_; }
  void SetBaseUrl(std::string url);

 private:
  struct Reply {
    int status = 0;
    std::string body;
  };
  boost::asio::awaitable<Reply> Call(std::string operation, std::string payment_id, boost::beast::http::verb method,
                                     std::string path, std::string body, bool safe_to_retry);
  PortOneOptions options_;
  ExchangeLog log_;
  http::HttpClient client_;
  CircuitBreaker breaker_;
  mutable std::mutex url_mu_;
  metrics::Counter* calls_ok_ = nullptr;
  metrics::Counter* calls_failed_ = nullptr;
  metrics::Counter* calls_refused_ = nullptr;
};

std::optional<GatewayPayment> ParseGatewayPayment(const std::string& json);

// ---- Standard Webhooks

/// "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" with key = base64-decoded secret minus `whsec_`.
std::string SignWebhook(const std::string& secret, const std::string& id, const std::string& timestamp,
                        const std::string& body);
/// Verifies `signature_header` (space-separated `v1,…` entries) in constant
/// time and the timestamp within ±tolerance of `now_seconds`.
bool VerifyWebhook(const std::string& secret, const std::string& id, const std::string& timestamp,
                   const std::string& body, const std::string& signature_header, std::int64_t now_seconds,
                   std::int64_t tolerance_seconds = 300);

}  // namespace ticketd::payment
