#pragma once
// What the queue's admin route hands to QueueService: plain data, decoded and
// checked by handlers/decode.cpp (no I/O; fuzzed by fuzz/route_body_fuzz.cpp).

#include <optional>
#include <string>

namespace ticketd::queue {

/// PUT /admin/queue/{eventId}: the settings present change.
struct SettingsPatch {
  std::optional<int> admission_rate_per_second;
  std::optional<int> max_active;
  std::optional<int> capacity;
  std::optional<int> token_ttl_seconds;
  std::optional<int> pre_queue_minutes;
  std::optional<std::string> method;
  std::optional<bool> paused;
};

}  // namespace ticketd::queue
