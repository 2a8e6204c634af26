// Request decoding of the queue routes (decode.hpp).
#include "queue/handlers/decode.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

#include "ticketd/catalog/catalog.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/json_fields.hpp"

namespace ticketd::queue {

using http::Request;

namespace {

std::optional<int> RangeInt(JsonFields& f, std::string_view name, std::int64_t lo, std::int64_t hi) {
  const auto v = f.OptionalInt(name);
  if (!v) return std::nullopt;
  if (*v < lo || *v > hi) {
    f.Fail(std::string(name), "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return std::nullopt;
  }
  return static_cast<int>(*v);
}

}  // namespace

std::string DecodeEventId(const Request& r) {
  const auto& id = r.Param("eventId");
  if (!IsUuid(id)) throw ApiError(problems::ValidationFailed("eventId must be a UUID", {{"eventId", "must be a UUID"}}));
  std::string lower = id;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

SettingsPatch DecodeSettingsPatch(const Request& r) {
  JsonFields f(r.JsonBody(), {"admissionRatePerSecond", "maxActive", "capacity", "tokenTtlSeconds", "preQueueMinutes",
                              "method", "paused"});
  SettingsPatch patch;
  patch.admission_rate_per_second = RangeInt(f, "admissionRatePerSecond", 1, 100000);
  patch.max_active = RangeInt(f, "maxActive", 1, catalog::kMaxActiveLimit);
  patch.capacity = RangeInt(f, "capacity", 1, 10000000);
  patch.token_ttl_seconds = RangeInt(f, "tokenTtlSeconds", 10, 86400);
  patch.pre_queue_minutes = RangeInt(f, "preQueueMinutes", 0, 1440);
  patch.method = f.OptionalString("method", 16);
  if (patch.method && *patch.method != "fifo" && *patch.method != "random") f.Fail("method", "must be \"fifo\" or \"random\"");
  patch.paused = f.OptionalBool("paused");
  f.Finish();
  return patch;
}

}  // namespace ticketd::queue
