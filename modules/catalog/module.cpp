#include "catalog/module.hpp"

#include <chrono>

#include "catalog/handlers/routes.hpp"
#include "ticketd/core/log.hpp"

namespace ticketd::catalog {

CatalogModule::CatalogModule(CatalogOptions options, db::PoolOptions pool, metrics::Registry* registry)
    : pool_(std::move(pool), registry),
      service_(std::make_unique<CatalogService>(std::move(options), pool_, registry)) {}

CatalogModule::~CatalogModule() { Stop(); }

void CatalogModule::AddRoutes(http::Router& router) { ticketd::catalog::AddRoutes(router, *service_); }

void CatalogModule::Start() {
  loader_ = std::thread([this] {
    bool warned = false;
    while (!stop_) {
      try {
        service_->PreloadSync();
        return;
      } catch (const std::exception& e) {
        if (!warned) log::Warn("catalog: seat maps not loaded yet; retrying", {{"error", e.what()}});
        warned = true;
      }
      for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
}

void CatalogModule::Stop() {
  stop_ = true;
  if (loader_.joinable()) loader_.join();
  pool_.Stop();
}

}  // namespace ticketd::catalog
