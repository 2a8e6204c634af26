#pragma once

#include "catalog/service.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::catalog {

/// Registers the catalog module's routes (API.md: Catalog).
void AddRoutes(http::Router& router, CatalogService& service);

}  // namespace ticketd::catalog
