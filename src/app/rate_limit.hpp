#pragma once
// In-memory token buckets for the edge rate limits: one bucket per
// (policy, key), where the key is a user id or a client IP. Bounded: when
// more than `max_keys` buckets exist, the least recently used ones are
// evicted (an evicted bucket starts full again). Limits are per instance.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ticketd::app {

/// `limit` requests per `window`, refilled continuously (a token bucket with
/// capacity `limit` and rate `limit / window`).
struct RatePolicy {
  std::string name;  // shown in RateLimit-Policy, e.g. "booking-user"
  std::int64_t limit = 0;
  std::chrono::seconds window{60};
};

struct RateDecision {
  bool allowed = true;
  std::int64_t remaining = 0;      // whole tokens left after this request
  std::int64_t reset_seconds = 0;  // until the bucket is full again (RateLimit t=)
  std::int64_t retry_after = 0;    // until one token is back (only when refused), >= 1
};

/// Thread-safe (sharded mutexes).
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimiter(std::size_t max_keys);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  /// Takes one token from the bucket of (policy, key) if it has one.
  RateDecision Take(const RatePolicy& policy, std::string_view key, Clock::time_point now = Clock::now());
  /// Buckets currently held (for tests and metrics).
  [[nodiscard]] std::size_t size() const;

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated{};
    std::list<std::string>::iterator lru;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;
    std::list<std::string> lru;  // front = most recently used
  };
  std::size_t per_shard_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace ticketd::app
