#pragma once
// The queue module as the app wires it: its own DB pool (role ticketd_queue),
// the service (index, sync, scheduler, tokens) and routes.

#include <memory>

#include "queue/options.hpp"
#include "queue/service.hpp"
#include "ticketd/catalog/catalog.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/router.hpp"
#include "ticketd/queue/queue.hpp"

namespace ticketd::queue {

class QueueModule {
 public:
  /// Connects lazily: constructing the module never touches Postgres.
  QueueModule(QueueOptions options, db::PoolOptions pool, catalog::CatalogReader& catalog, metrics::Registry* registry);
  ~QueueModule();
  void AddRoutes(http::Router& router);
  /// Rebuilds the index in the background (see ready()), then syncs and schedules.
  void Start();
  void Stop();
  /// False while the index is being rebuilt from Postgres (readiness).
  [[nodiscard]] bool ready() const { return service_->ready(); }
  [[nodiscard]] QueueService& service() { return *service_; }
  /// For reservation and payment.
  [[nodiscard]] QueueTokens& tokens() { return *service_; }
  [[nodiscard]] db::Pool& pool() { return pool_; }

 private:
  db::Pool pool_;
  std::unique_ptr<QueueService> service_;
};

}  // namespace ticketd::queue
