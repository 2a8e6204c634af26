#pragma once
// The payment service: starting a payment, the one verification that confirm,
// webhook and reconciliation share, refunds (retried until done), reads, and
// the saga steps that ask for refunds. Every state change and its domain event
// commit in one transaction; the gateway is only ever believed after a GET.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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
  /// Gateway calls (refunds, reconciliation checks) a worker round runs at once.
  int refund_concurrency = 16;
  /// Budget of one gateway call (payment.gateway_timeout_ms): sizes the refund lease.
  std::chrono::milliseconds gateway_timeout{10000};
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

  /// 201 body; a replay of the same paymentKey answers the payment as it is
  /// now, first finishing a start that was cut off before the gateway knew it.
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
  /// the worker thread and tests call it; never on an I/O thread). A round
  /// claims up to RefundBatch(refund_concurrency) due refunds in one
  /// transaction (a lease per payment, FOR UPDATE SKIP LOCKED: another
  /// instance never gets the same one while its lease runs) and runs
  /// `refund_concurrency` gateway calls at once on a private io_context.
  struct Round {
    int settled = 0;          // refunds done + payments verified to a final state
    int refunds_claimed = 0;  // refunds leased this round
    bool backlog = false;     // a full batch made progress: more are likely due, no pause
  };
  Round RunRound();
  /// RunRound().settled.
  int WorkOnce();
  /// Due refunds one round claims at most.
  static int RefundBatch(int concurrency) { return 4 * std::max(1, concurrency); }
  void Start();
  void Stop();

 private:
  /// Pre-registers a payment whose start was cut off (row written, gateway
  /// never told) while its hold is still payable; answers the payment.
  boost::asio::awaitable<boost::json::object> FinishStart(std::string payment_id, const CreateInput& in,
                                                          std::int64_t amount);
  struct RefundClaim {
    std::string payment_id;
    std::string reason;
    std::string lease_until;  // refund_next_at as leased (text): the lease's identity
  };
  boost::asio::awaitable<boost::json::object> Load(std::string payment_id, std::optional<std::string> owner);
  /// Claims the one refund of `payment_id` if due and not leased, then issues it.
  boost::asio::awaitable<bool> RefundNow(std::string payment_id);
  /// Up to `limit` due refunds (all, or only `payment_id` when not empty), leased.
  std::vector<RefundClaim> ClaimRefunds(pqxx::work& tx, int limit, const std::string& payment_id) const;
  /// The gateway cancel of a claimed refund and its outcome (done, or backed off).
  boost::asio::awaitable<bool> IssueRefund(RefundClaim claim);
  /// How long a claimed refund is leased: longer than any gateway call.
  [[nodiscard]] std::chrono::milliseconds RefundLease() const;
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
