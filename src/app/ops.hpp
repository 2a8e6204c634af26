#pragma once
// Operations routes outside /api/v1: /healthz (liveness), /readyz (readiness),
// /metrics (Prometheus text).

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ticketd/core/metrics.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::app {

/// One readiness condition: returns nullopt when fine, else why not.
struct ReadinessCheck {
  std::string name;
  std::function<boost::asio::awaitable<std::optional<std::string>>()> check;
};

void AddOpsRoutes(http::Router& router, std::vector<ReadinessCheck> checks, metrics::Registry& registry);

}  // namespace ticketd::app
