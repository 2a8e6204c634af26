#include "app/rate_limit.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace ticketd::app {

namespace {
constexpr std::size_t kShards = 16;
}

RateLimiter::RateLimiter(std::size_t max_keys) : per_shard_(std::max<std::size_t>(1, max_keys / kShards)) {
  shards_.reserve(kShards);
  for (std::size_t i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>());
}

RateDecision RateLimiter::Take(const RatePolicy& policy, std::string_view key, Clock::time_point now) {
  RateDecision d;
  if (policy.limit <= 0) return d;  // unlimited
  const double capacity = static_cast<double>(policy.limit);
  const double window = static_cast<double>(std::max<std::int64_t>(1, policy.window.count()));

  std::string id;
  id.reserve(policy.name.size() + 1 + key.size());
  id += policy.name;
  id += '|';
  id += key;
  Shard& shard = *shards_[std::hash<std::string>{}(id) % kShards];
  std::lock_guard lock(shard.mu);
  auto it = shard.buckets.find(id);
  if (it == shard.buckets.end()) {
    while (shard.buckets.size() >= per_shard_ && !shard.lru.empty()) {
      shard.buckets.erase(shard.lru.back());
      shard.lru.pop_back();
    }
    shard.lru.push_front(id);
    it = shard.buckets.emplace(std::move(id), Bucket{capacity, now, shard.lru.begin()}).first;
  } else {
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second.lru);
    const double elapsed = std::chrono::duration<double>(now - it->second.updated).count();
    if (elapsed > 0) {
      it->second.tokens = std::min(capacity, it->second.tokens + elapsed * capacity / window);
      it->second.updated = now;
    }
  }
  Bucket& b = it->second;
  // Seconds until the bucket holds `tokens`, rounded up (a hair of float noise is not a second).
  auto seconds_until = [&](double tokens) {
    return static_cast<std::int64_t>(std::ceil(std::max(0.0, tokens - b.tokens) * window / capacity - 1e-9));
  };
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    d.allowed = true;
  } else {
    d.allowed = false;
    d.retry_after = std::max<std::int64_t>(1, seconds_until(1.0));
  }
  d.remaining = static_cast<std::int64_t>(std::floor(b.tokens));
  d.reset_seconds = seconds_until(capacity);
  return d;
}

std::size_t RateLimiter::size() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    n += s->buckets.size();
  }
  return n;
}

}  // namespace ticketd::app
