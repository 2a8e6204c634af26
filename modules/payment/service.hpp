#pragma once
// The payment service: starting a payment, the one verification that confirm,
// webhook and reconciliation share, refunds (retried until done), reads, and
// the saga steps that ask for refunds. Every state change and its domain event
// commit in one transaction; the gateway is only ever believed after a GET.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "payment/gateway.hpp"
#include "ticketd/catalog/catalog.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/events.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/queue/queue.hpp"
#include "ticketd/reservation/reservation.hpp"

namespace ticketd::payment {

struct PaymentOptions {
  std::string provider = "sandbox";  // shown to the frontend: "sandbox" | "portone"
  std::string store_id;
  std::string channel_key;
  std::string webhook_secret;
  std::chrono::seconds reconcile_after{120};    // PENDING older than this is asked about
  std::chrono::seconds abandon_after{1800};     // READY at the gateway and older than this → FAILED
  std::chrono::milliseconds worker_interval{1000};
  std::chrono::milliseconds refund_backoff_max{300000};
};

struct CreateInput {
  std::string user_id;
  std::string payment_token;
  std::string reservation_id;
  std::string payment_key;
};

class PaymentService {
 public:
  PaymentService(PaymentOptions options, db::Pool& pool, PaymentGateway& gateway,
                 reservation::ReservationReader& reservations, queue::QueueTokens& tokens,
                 catalog::CatalogReader& catalog, metrics::Registry* registry);
  ~PaymentService();

  /// 201 body; a replay of the same paymentKey answers the payment as it is now.
  boost::asio::awaitable<boost::json::object> Create(CreateInput in);
  boost::asio::awaitable<boost::json::object> Confirm(std::string user_id, std::string payment_id);
  boost::asio::awaitable<boost::json::object> Get(std::string user_id, std::string payment_id);
  boost::asio::awaitable<boost::json::object> List(std::string user_id, int page, int size);
  boost::asio::awaitable<boost::json::object> AdminRefund(std::string payment_id, std::string reason);
  /// Standard Webhooks delivery: verified, recorded, answered at once; the
  /// payment is verified against the gateway in the background. Throws 401
  /// INVALID_SIGNATURE.
  boost::asio::awaitable<void> Webhook(std::string id, std::string timestamp, std::string signature, std::string body);

  /// The verification shared by confirm, webhook and reconciliation.
  enum class Outcome { kUnchanged, kSucceeded, kFailed, kAmountMismatch, kRefunded, kStillPending };
  boost::asio::awaitable<Outcome> Verify(std::string payment_id);

  // Saga steps (consumer group ticketd.payment on reservation.events).
  void OnConfirmationRejected(pqxx::work& tx, const events::Envelope& e);
  void OnReservationCancelled(pqxx::work& tx, const events::Envelope& e);

  /// One round of refunds due and reconciliation of stuck payments (blocking;
  /// the worker thread and tests call it). Returns payments settled.
  int WorkOnce();
  void Start();
  void Stop();

 private:
  boost::asio::awaitable<boost::json::object> Load(std::string payment_id, std::optional<std::string> owner);
  boost::asio::awaitable<bool> RefundNow(std::string payment_id);
  void WorkerLoop();

  PaymentOptions options_;
  db::Pool& pool_;
  PaymentGateway& gateway_;
  reservation::ReservationReader& reservations_;
  queue::QueueTokens& tokens_;
  catalog::CatalogReader& catalog_;
  metrics::Counter* succeeded_ = nullptr;
  metrics::Counter* failed_ = nullptr;
  metrics::Counter* refunded_ = nullptr;
  metrics::Counter* refund_failures_ = nullptr;
  std::thread worker_;
  std::atomic<bool> stop_{false};
};

}  // namespace ticketd::payment
