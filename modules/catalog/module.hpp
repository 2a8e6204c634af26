#pragma once
// The catalog module as the app wires it: its own DB pool (role
// ticketd_catalog), the service with its caches and live seat maps, routes,
// and the start-up load of the seat maps of events on sale.

#include <atomic>
#include <memory>
#include <thread>

#include "catalog/service.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::catalog {

class CatalogModule {
 public:
  CatalogModule(CatalogOptions options, db::PoolOptions pool, metrics::Registry* registry);
  ~CatalogModule();
  void AddRoutes(http::Router& router);
  /// Loads the seat maps of events on sale in the background (retrying while
  /// Postgres is unreachable); ready() turns true when done.
  void Start();
  void Stop();
  [[nodiscard]] bool ready() const noexcept { return service_->ready(); }
  [[nodiscard]] CatalogService& service() { return *service_; }
  [[nodiscard]] CatalogReader& reader() { return *service_; }
  [[nodiscard]] SeatMapFeed& feed() { return *service_; }
  [[nodiscard]] db::Pool& pool() { return pool_; }

 private:
  db::Pool pool_;
  std::unique_ptr<CatalogService> service_;
  std::thread loader_;
  std::atomic<bool> stop_{false};
};

}  // namespace ticketd::catalog
