// The payment module's refund worker against real Postgres and the sandbox
// gateway over loopback HTTP (served by the module itself, as in ticketd):
// a backlog of refunds (an event cancellation) is drained in a bounded number
// of worker rounds with concurrent gateway calls, and two instances on the
// same database racing over one backlog never cancel a payment twice.
// Reservation, queue and catalog are never asked on the refund path: inert
// stand-ins.
#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <pqxx/pqxx>

#include <atomic>
#include <memory>
#include <thread>

#include "core/server.hpp"
#include "payment/module.hpp"
#include "support/pg.hpp"
#include "support/run_sync.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/migrate.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

using test::RunSync;

constexpr const char* kWebhookSecret = "whsec_dGlja2V0ZC1zYW5kYm94LXdlYmhvb2stc2VjcmV0";

class NoReservations final : public reservation::ReservationReader {
 public:
  asio::awaitable<std::optional<reservation::ReservationSummary>> FindReservation(std::string) override {
    co_return std::nullopt;
  }
};

class NoTokens final : public queue::QueueTokens {
 public:
  asio::awaitable<queue::TokenCheck> ValidateReservationToken(std::string, std::string, std::string) override {
    co_return queue::TokenCheck::kInvalid;
  }
  asio::awaitable<std::string> IssuePaymentToken(std::string, std::string, std::string, std::chrono::seconds) override {
    co_return std::string();
  }
  asio::awaitable<queue::TokenCheck> ValidatePaymentToken(std::string, std::string, std::string) override {
    co_return queue::TokenCheck::kInvalid;
  }
  asio::awaitable<queue::TokenCheck> Consume(std::string, std::string) override { co_return queue::TokenCheck::kInvalid; }
  asio::awaitable<int> ConsumePaymentTokens(std::string) override { co_return 0; }
};

class NoCatalog final : public catalog::CatalogReader {
 public:
  asio::awaitable<std::optional<catalog::EventInfo>> FindEvent(std::string) override { co_return std::nullopt; }
  catalog::SeatResolution ResolveSeats(const std::string&, const std::vector<std::string>&) override { return {}; }
};

void MigratePayment(const std::string& url) {
  std::vector<db::Migration> mine;
  for (auto& m : db::EmbeddedMigrations()) {
    if (m.module == "payment") mine.push_back(m);
  }
  db::Migrate(url, mine, "");
}

// One ticketd instance as far as payment goes: its own pool, gateway client,
// service (worker) and HTTP server with the sandbox gateway and the webhook
// route on it.
struct Node {
  Node(const std::string& db_url, int concurrency) {
    payment::PaymentModuleOptions o;
    o.gateway = "sandbox";
    o.sandbox.api_secret = "sandbox-api-secret";
    o.sandbox.store_id = "store-test";
    o.sandbox.webhook_secret = kWebhookSecret;
    o.service.webhook_secret = kWebhookSecret;
    o.service.worker_interval = 50ms;
    o.service.refund_concurrency = concurrency;
    db::PoolOptions po;
    po.name = "payment";
    po.conninfo = db::WithCredentials(db_url, db::ModuleRole("payment"), "");
    po.size = 8;
    module = std::make_unique<payment::PaymentModule>(o, po, reservations, tokens, catalog, &registry);
    module->AddRoutes(router);
    http::ServerOptions so;
    so.port = 0;
    so.io_threads = 2;
    so.access_log = false;
    server = std::make_unique<http::Server>(so, router, registry);
    server->Start();
    module->SetListeningPort(server->port());
  }
  ~Node() {
    module->service().Stop();
    server->Stop(2s);
    module->Stop();
  }
  payment::PaymentService& service() { return module->service(); }

  NoReservations reservations;
  NoTokens tokens;
  NoCatalog catalog;
  metrics::Registry registry;
  http::Router router;
  std::unique_ptr<payment::PaymentModule> module;
  std::unique_ptr<http::Server> server;
};

// `n` successful sandbox payments of one event whose refunds are due (what
// an event cancellation leaves behind), paid at the sandbox gateway.
void SeedRefunds(const std::string& url, int n) {
  pqxx::connection c(url);
  pqxx::work tx(c);
  tx.exec_params0(
      "INSERT INTO payment.payments (id, user_id, reservation_id, event_id, payment_key, amount, currency, order_name, "
      "fence, gateway, status, pre_registered, paid_at, refund_reason, refund_next_at) "
      "SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), $2::uuid, gen_random_uuid()::text, 55000, 'KRW', "
      "'refund test', 1, 'sandbox', 'REFUND_PENDING', true, now(), 'EVENT_CANCELLED', now() "
      "FROM generate_series(1, $1)",
      n, NewUuid());
  tx.exec0("INSERT INTO payment.sandbox_payments (id, store_id, transaction_id, status, total, paid, paid_at) "
           "SELECT id::text, 'store-test', gen_random_uuid()::text, 'PAID', amount, amount, now() FROM payment.payments");
  tx.commit();
}

std::int64_t Count(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx.exec1(sql)[0].as<std::int64_t>();
}

std::int64_t Refunded(const std::string& url) {
  return Count(url, "SELECT count(*) FROM payment.payments WHERE status = 'REFUNDED' AND refunded_at IS NOT NULL "
                    "AND refund_next_at IS NULL");
}

// Every payment refunded exactly once: one cancel request at the gateway, one
// cancellation there, one PaymentRefunded event.
void CheckEachRefundedOnce(const std::string& url, int n) {
  CHECK(Refunded(url) == n);
  CHECK(Count(url, "SELECT count(*) FROM payment.payments WHERE status <> 'REFUNDED'") == 0);
  CHECK(Count(url, "SELECT count(*) FROM payment.sandbox_payments WHERE status = 'CANCELLED'") == n);
  CHECK(Count(url, "SELECT count(*) FROM payment.gateway_log WHERE operation = 'cancel'") == n);
  CHECK(Count(url, "SELECT count(DISTINCT payment_id) FROM payment.gateway_log WHERE operation = 'cancel'") == n);
  CHECK(Count(url, "SELECT count(*) FROM payment.gateway_log WHERE operation = 'cancel' AND status <> 200") == 0);
  CHECK(Count(url, "SELECT count(*) FROM payment.payments WHERE refund_attempts <> 1") == 0);
  CHECK(Count(url, "SELECT count(*) FROM payment.outbox WHERE event_type = 'PaymentRefunded'") == n);
  CHECK(Count(url, "SELECT count(DISTINCT aggregate_id) FROM payment.outbox WHERE event_type = 'PaymentRefunded'") == n);
}

}  // namespace

TEST_CASE("payment refunds: a backlog of 200 is drained in ceil(200 / batch) worker rounds, each refunded once") {
  test::TempDatabase db;
  MigratePayment(db.url());
  constexpr int kRefunds = 200;
  SeedRefunds(db.url(), kRefunds);
  Node node(db.url(), 16);
  const int batch = payment::PaymentService::RefundBatch(16);
  REQUIRE(batch < kRefunds);  // several rounds, each a full batch but the last
  const int rounds = (kRefunds + batch - 1) / batch;
  int settled = 0;
  for (int i = 0; i < rounds; ++i) settled += node.service().WorkOnce();
  CHECK(settled == kRefunds);
  CheckEachRefundedOnce(db.url(), kRefunds);
  // Nothing left: another round does nothing.
  CHECK(node.service().WorkOnce() == 0);
  CHECK(Count(db.url(), "SELECT count(*) FROM payment.gateway_log WHERE operation = 'cancel'") == kRefunds);
}

TEST_CASE("payment refunds: two instances racing over one backlog never cancel a payment twice") {
  test::TempDatabase db;
  MigratePayment(db.url());
  constexpr int kRefunds = 300;
  SeedRefunds(db.url(), kRefunds);
  Node a(db.url(), 16);
  Node b(db.url(), 8);
  // Both background workers, plus rounds driven by hand on both at once.
  a.service().Start();
  b.service().Start();
  std::atomic<int> by_hand{0};
  std::vector<std::thread> threads;
  for (Node* n : {&a, &b, &a, &b}) {
    threads.emplace_back([n, &by_hand] {
      for (int i = 0; i < 20; ++i) by_hand += n->service().WorkOnce();
    });
  }
  for (auto& t : threads) t.join();
  // Liveness bound only (not a timing assertion): wait for the backlog to be gone.
  for (int i = 0; i < 1200 && Refunded(db.url()) < kRefunds; ++i) std::this_thread::sleep_for(50ms);
  a.service().Stop();
  b.service().Stop();
  CheckEachRefundedOnce(db.url(), kRefunds);
  // Which instance did which (each calls the sandbox on its own port).
  const auto by_a = Count(db.url(), "SELECT count(*) FROM payment.gateway_log WHERE operation = 'cancel' AND url LIKE "
                                    "'%:" + std::to_string(a.server->port()) + "/%'");
  MESSAGE("cancels by instance a: " << by_a << ", by b: " << kRefunds - by_a << ", settled by hand-driven rounds: " << by_hand.load());
}

TEST_CASE("payment refunds: a refund leased by another instance is not sent to the gateway again") {
  test::TempDatabase db;
  MigratePayment(db.url());
  SeedRefunds(db.url(), 1);
  Node node(db.url(), 4);
  const std::string id = [&] {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    // Another instance holds the lease: its gateway call is in flight.
    const auto r = tx.exec1("UPDATE payment.payments SET refund_next_at = now() + interval '60 seconds', "
                            "refund_attempts = 1 RETURNING id::text");
    tx.commit();
    return r[0].as<std::string>();
  }();
  CHECK(node.service().WorkOnce() == 0);
  std::string reason = "ADMIN_REFUND";
  std::string pid = id;
  const auto answer = RunSync(node.service().AdminRefund(std::move(pid), std::move(reason)));
  CHECK(answer.at("status").as_string() == "REFUND_PENDING");
  CHECK(Count(db.url(), "SELECT count(*) FROM payment.gateway_log WHERE operation = 'cancel'") == 0);
  CHECK(Count(db.url(), "SELECT count(*) FROM payment.sandbox_payments WHERE status = 'PAID'") == 1);
  // Once the lease is over (the other instance died mid-call), it is retried here, once.
  {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    tx.exec0("UPDATE payment.payments SET refund_next_at = now() - interval '1 second'");
    tx.commit();
  }
  CHECK(node.service().WorkOnce() == 1);
  CHECK(Refunded(db.url()) == 1);
  CHECK(Count(db.url(), "SELECT count(*) FROM payment.gateway_log WHERE operation = 'cancel'") == 1);
  CHECK(Count(db.url(), "SELECT refund_attempts FROM payment.payments") == 2);
}
