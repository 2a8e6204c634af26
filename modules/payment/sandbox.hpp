#pragma once
// The sandbox payment gateway: ticketd serves a stand-in for PortOne V2 with
// PortOne's routes, bodies, errors and state machine (READY → PAID | FAILED,
// PAID → CANCELLED), at the root of its own listener (payment.sandbox_listen,
// so PortOne's server SDK and the `portone` adapter take it as their base URL
// unchanged) and under /sandbox/pg on the main one, plus the customer's step
// POST …/payments/{id}/pay {"card", "amount"?, "webhook"?, "orderName"?, "customer"?}:
//   4242424242424242 → PAID; 4000000000000002 → FAILED (card declined);
//   4000000000000119 → PAID, but the gateway stops answering about this
//   payment for `stall` and sends no webhook (the timeout path).
// After a state change it sends a Standard-Webhooks-signed webhook to
// ticketd's webhook route unless the body says {"webhook": false}, and keeps
// each delivery in the payment's `webhooks` history (PortOne's format).
// Refused in production (config check). State lives in payment.sandbox_payments.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "ticketd/core/db.hpp"
#include "ticketd/core/http_client.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::payment {

struct SandboxOptions {
  std::string api_secret;      // expected in `Authorization: PortOne <secret>`
  std::string store_id;
  std::string channel_key;     // shown as the payment's channel
  std::string webhook_secret;  // whsec_… used to sign webhooks
  std::chrono::milliseconds stall{30000};
  std::chrono::milliseconds webhook_delay{0};  // before sending a webhook
};

class SandboxGateway {
 public:
  SandboxGateway(SandboxOptions options, db::Pool& pool);
  /// PortOne's routes under `prefix` ("" for the sandbox's own listener).
  void AddRoutes(http::Router& router, const std::string& prefix);
  /// Where webhooks go (known once the server listens).
  void SetWebhookUrl(std::string url);

 private:
  boost::asio::awaitable<void> SendWebhook(std::string type, std::string payment_id, std::string transaction_id,
                                           std::string cancellation_id);
  SandboxOptions options_;
  db::Pool& pool_;
  http::HttpClient client_;
  std::mutex mu_;
  std::string webhook_url_;
};

}  // namespace ticketd::payment
