#include "queue/module.hpp"

#include "queue/handlers/routes.hpp"

namespace ticketd::queue {

QueueModule::QueueModule(QueueOptions options, db::PoolOptions pool, catalog::CatalogReader& catalog,
                         metrics::Registry* registry)
    : pool_(std::move(pool), registry),
      service_(std::make_unique<QueueService>(std::move(options), pool_, catalog, registry)) {}

QueueModule::~QueueModule() { Stop(); }

void QueueModule::AddRoutes(http::Router& router) { ticketd::queue::AddRoutes(router, *service_); }

void QueueModule::Start() { service_->Start(); }

void QueueModule::Stop() {
  if (service_) service_->Stop();
  pool_.Stop();
}

}  // namespace ticketd::queue
