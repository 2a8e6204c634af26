#pragma once
// The payment module as the app wires it: its own DB pool (role
// ticketd_payment), the gateway adapter (sandbox served by ticketd itself, or
// PortOne over HTTPS), the service with its refund/reconciliation worker, and
// routes.

#include <memory>

#include "payment/gateway.hpp"
#include "payment/sandbox.hpp"
#include "payment/service.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::payment {

struct PaymentModuleOptions {
  PaymentOptions service;
  std::string gateway = "sandbox";  // "sandbox" | "portone"
  PortOneOptions portone;           // base_url ignored for the sandbox (ticketd's own /sandbox/pg)
  SandboxOptions sandbox;
};

class PaymentModule {
 public:
  PaymentModule(PaymentModuleOptions options, db::PoolOptions pool, reservation::ReservationReader& reservations,
                queue::QueueTokens& tokens, catalog::CatalogReader& catalog, metrics::Registry* registry);
  ~PaymentModule();
  void AddRoutes(http::Router& router);
  /// PortOne's routes at the root, for the sandbox's own listener
  /// (payment.sandbox_listen); false when the gateway is not the sandbox.
  bool AddSandboxRoutes(http::Router& router);
  /// The sandbox listener's base URL: the adapter calls it there, exactly as
  /// it calls PortOne at its base URL.
  void SetSandboxUrl(const std::string& url);
  /// Once the server listens: the sandbox's webhook target is on this port;
  /// without a sandbox listener the adapter calls /sandbox/pg here.
  void SetListeningPort(std::uint16_t port);
  void Start();
  void Stop();
  [[nodiscard]] PaymentService& service() { return *service_; }
  [[nodiscard]] db::Pool& pool() { return pool_; }
  [[nodiscard]] PortOneGateway& gateway() { return *gateway_; }

 private:
  PaymentModuleOptions options_;
  db::Pool pool_;
  std::unique_ptr<PortOneGateway> gateway_;
  std::unique_ptr<SandboxGateway> sandbox_;
  std::string sandbox_url_;
  std::unique_ptr<PaymentService> service_;
};

}  // namespace ticketd::payment
