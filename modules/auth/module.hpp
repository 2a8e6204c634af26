#pragma once
// The auth module as the app wires it: its own DB pool (role ticketd_auth),
// its hashing pool, adapters, service and routes.

#include <memory>

#include "auth/options.hpp"
#include "auth/service.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/router.hpp"
#include "ticketd/core/worker_pool.hpp"

namespace ticketd::auth {

class AuthModule {
 public:
  /// Throws std::invalid_argument for unusable options (short keys, unknown adapter).
  AuthModule(AuthOptions options, db::PoolOptions pool, metrics::Registry* registry);
  ~AuthModule();
  void AddRoutes(http::Router& router);
  void Start();
  void Stop();
  [[nodiscard]] AuthService& service() { return *service_; }
  [[nodiscard]] const TokenVerifier& verifier() const { return *service_; }
  [[nodiscard]] db::Pool& pool() { return pool_; }

 private:
  db::Pool pool_;
  WorkerPool hashing_;
  std::unique_ptr<AuthService> service_;
};

}  // namespace ticketd::auth
