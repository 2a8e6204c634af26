#pragma once
// Everything the queue module needs from configuration, as plain data
// (built by src/app from the [queue] section; the module never sees the config).

#include <chrono>
#include <string>

namespace ticketd::queue {

/// Per-event settings: config defaults, overridden by the event's `queue`
/// settings from the catalog, overridden by the admin at runtime.
struct RoomSettings {
  int admission_rate_per_second = 10;
  int max_active = 500;
  int capacity = 50000;
  int token_ttl_seconds = 600;
  int pre_queue_minutes = 30;
  std::string method = "fifo";  // fifo | random
  bool paused = false;
};

struct QueueOptions {
  RoomSettings defaults;
  /// WAITING users not seen (status/stream) for this long are DROPPED.
  std::chrono::seconds drop_after{120};
  /// Admission tick of the scheduler.
  std::chrono::milliseconds admission_interval{1000};
  /// How often every instance reads changes made elsewhere into its index.
  std::chrono::milliseconds sync_interval{250};
  /// How often coalesced last-seen refreshes are written.
  std::chrono::milliseconds touch_flush_interval{2000};
  /// Window of the observed admission rate behind estimatedWaitSeconds.
  std::chrono::seconds estimate_window{60};
  int max_streams_per_user = 2;
  std::chrono::seconds stream_heartbeat{15};
};

}  // namespace ticketd::queue
