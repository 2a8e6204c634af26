#pragma once
// The reservation module as the app wires it: its own DB pool (role
// ticketd_reservation), the service with its expiry sweeper, and routes.

#include <memory>

#include "reservation/service.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::reservation {

class ReservationModule {
 public:
  ReservationModule(ReservationOptions options, db::PoolOptions pool, catalog::CatalogReader& catalog,
                    catalog::SeatMapFeed& seat_map, queue::QueueTokens& tokens, metrics::Registry* registry);
  ~ReservationModule();
  void AddRoutes(http::Router& router);
  void Start();
  void Stop();
  [[nodiscard]] ReservationService& service() { return *service_; }
  [[nodiscard]] ReservationReader& reader() { return *service_; }
  [[nodiscard]] db::Pool& pool() { return pool_; }

 private:
  ReservationOptions options_;
  db::Pool pool_;
  std::unique_ptr<ReservationService> service_;
};

}  // namespace ticketd::reservation
