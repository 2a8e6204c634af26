#pragma once
// What the catalog's write and search routes hand to CatalogService: plain
// data, decoded and checked by handlers/decode.cpp (no I/O; fuzzed by
// fuzz/route_body_fuzz.cpp).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catalog/seat_template.hpp"
#include "ticketd/catalog/catalog.hpp"

namespace ticketd::catalog {

struct VenueInput {
  std::string name;
  std::string address;
};

struct HallInput {
  std::string name;
  SeatTemplate seat_template;
};

/// Fields of POST /admin/events (all set) or PUT (those present change).
struct EventInput {
  std::optional<std::string> venue_id;
  std::optional<std::string> hall_id;
  std::optional<std::string> title;
  std::optional<std::string> artist;
  std::optional<std::string> description;
  std::optional<std::string> poster_url;
  std::optional<TimePoint> starts_at;
  std::optional<TimePoint> ends_at;
  std::optional<TimePoint> sale_starts_at;
  std::optional<TimePoint> sale_ends_at;
  std::optional<std::vector<std::pair<std::string, std::int64_t>>> prices;
  std::optional<QueueSettings> queue;
};

struct EventQuery {
  int page = 1;
  int size = 20;
  std::vector<std::string> statuses;  // UPCOMING, ON_SALE, …
  std::optional<TimePoint> from;      // startsAt ≥ from
  std::optional<TimePoint> to;        // startsAt < to
  std::optional<std::string> venue_id;
  std::optional<std::string> artist;  // case-insensitive substring
  std::optional<std::string> q;       // title or artist, substring / trigram
  std::string sort = "startsAt";      // [-]startsAt | [-]saleStartsAt | [-]title | [-]createdAt | relevance
  [[nodiscard]] std::string CacheKey() const;
};

}  // namespace ticketd::catalog
