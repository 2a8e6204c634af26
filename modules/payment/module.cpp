#include "payment/module.hpp"

#include <pqxx/pqxx>

#include <algorithm>

#include "payment/handlers/routes.hpp"
#include "ticketd/core/log.hpp"

namespace ticketd::payment {

namespace {

// Secrets never reach the log table: the Authorization header is not recorded
// and bodies carry no card data; long bodies are cut.
// (An out-parameter, not a returned string: GCC 12 -O2 reports a false
// array-bounds error on moving a short returned std::string.)
void Cut(const std::string& s, std::string& out) {
  out.assign(s, 0, std::min<std::size_t>(s.size(), 4000));
  if (s.size() > 4000) out.append("...");
}

}  // namespace

PaymentModule::PaymentModule(PaymentModuleOptions options, db::PoolOptions pool,
                             reservation::ReservationReader& reservations, queue::QueueTokens& tokens,
                             catalog::CatalogReader& catalog, metrics::Registry* registry)
    : options_(std::move(options)), pool_(std::move(pool), registry) {
  if (options_.gateway != "sandbox" && options_.gateway != "portone") {
    throw std::invalid_argument("payment.gateway: unknown adapter " + options_.gateway);
  }
  // On the pool's threads, never blocking the caller's I/O thread (the
  // refund worker runs many gateway calls on one thread at once).
  auto log = [this](const std::string& payment_id, const std::string& operation, const std::string& method,
                    const std::string& url, const std::string& request, int status, const std::string& response,
                    const std::string& error, std::chrono::milliseconds took) -> boost::asio::awaitable<void> {
    std::string failure;
    try {
      std::string request_cut;
      std::string response_cut;
      Cut(request, request_cut);
      Cut(response, response_cut);
      const int duration_ms = static_cast<int>(took.count());
      co_await pool_.Transact([&](pqxx::work& tx) {
        tx.exec_params0("INSERT INTO payment.gateway_log (payment_id, operation, method, url, request, status, response, "
                        "error, duration_ms) VALUES ($1, $2, $3, $4, $5, NULLIF($6, 0), $7, NULLIF($8, ''), $9)",
                        payment_id, operation, method, url, request_cut, status, response_cut, error, duration_ms);
      });
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) log::Warn("payment: gateway log not written", {{"error", failure}});
  };
  auto portone = options_.portone;
  if (options_.gateway == "sandbox") {
    portone.api_secret = options_.sandbox.api_secret;
    portone.store_id = options_.sandbox.store_id;
    portone.base_url = "http://127.0.0.1:0/sandbox/pg";  // set once the server listens
    sandbox_ = std::make_unique<SandboxGateway>(options_.sandbox, pool_);
  }
  gateway_ = std::make_unique<PortOneGateway>(portone, log, registry);
  auto service_options = options_.service;
  service_options.provider = options_.gateway;
  service_options.store_id = portone.store_id;
  service_options.gateway_timeout = portone.timeout;
  service_ = std::make_unique<PaymentService>(service_options, pool_, *gateway_, reservations, tokens, catalog, registry);
}

PaymentModule::~PaymentModule() { Stop(); }

void PaymentModule::AddRoutes(http::Router& router) {
  ticketd::payment::AddRoutes(router, *service_);
  if (sandbox_) sandbox_->AddRoutes(router, "/sandbox/pg");
}

bool PaymentModule::AddSandboxRoutes(http::Router& router) {
  if (!sandbox_) return false;
  sandbox_->AddRoutes(router, "");
  return true;
}

void PaymentModule::SetSandboxUrl(const std::string& url) {
  if (!sandbox_) return;
  sandbox_url_ = url;
  gateway_->SetBaseUrl(url);
}

void PaymentModule::SetListeningPort(std::uint16_t port) {
  if (!sandbox_) return;
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  if (sandbox_url_.empty()) gateway_->SetBaseUrl(base + "/sandbox/pg");
  sandbox_->SetWebhookUrl(base + "/api/v1/payments/webhooks/portone");
}

void PaymentModule::Start() { service_->Start(); }

void PaymentModule::Stop() {
  if (service_) service_->Stop();
  pool_.Stop();
}

}  // namespace ticketd::payment
