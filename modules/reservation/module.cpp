#include "reservation/module.hpp"

#include "reservation/handlers/routes.hpp"

namespace ticketd::reservation {

ReservationModule::ReservationModule(ReservationOptions options, db::PoolOptions pool, catalog::CatalogReader& catalog,
                                     catalog::SeatMapFeed& seat_map, queue::QueueTokens& tokens,
                                     metrics::Registry* registry)
    : options_(options),
      pool_(std::move(pool), registry),
      service_(std::make_unique<ReservationService>(options, pool_, catalog, seat_map, tokens, registry)) {}

ReservationModule::~ReservationModule() { Stop(); }

void ReservationModule::AddRoutes(http::Router& router) {
  ticketd::reservation::AddRoutes(router, *service_, options_.max_seats_per_user);
}

void ReservationModule::Start() { service_->Start(); }

void ReservationModule::Stop() {
  if (service_) service_->Stop();
  pool_.Stop();
}

}  // namespace ticketd::reservation
