#pragma once
// Cache-aside with a short TTL and single flight: the first reader of a cold
// or expired key loads it; concurrent readers of that key wait for the same
// load instead of querying Postgres again. Invalidate() drops a key (a load in
// flight when it happens still answers its waiters but is not stored: any
// invalidation during a load keeps that load's result out of the cache).

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ticketd::catalog {

template <typename V>
class SingleFlightCache {
 public:
  using Value = std::shared_ptr<const V>;
  using Clock = std::chrono::steady_clock;
  struct Loaded {
    Value value;
    Clock::duration ttl;  // how long it may be served
  };
  using Loader = std::function<boost::asio::awaitable<Loaded>()>;

  explicit SingleFlightCache(std::size_t max_entries) : max_entries_(max_entries) {}

  boost::asio::awaitable<Value> Get(std::string key, Loader load) {
    std::shared_ptr<Flight> flight;
    std::uint64_t generation = 0;
    {
      std::unique_lock lock(mu_);
      auto& e = entries_[key];
      if (e.value && Clock::now() < e.expires_at) {
        ++hits_;
        co_return e.value;
      }
      if (e.flight) {
        flight = e.flight;
        lock.unlock();
        ++waits_;
        co_return co_await Wait(flight);
      }
      ++misses_;
      flight = std::make_shared<Flight>();
      e.flight = flight;
      generation = generation_;
    }
    Loaded loaded;
    std::exception_ptr error;
    try {
      loaded = co_await load();
    } catch (...) {
      error = std::current_exception();
    }
    std::vector<Waiter> waiters;
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(key);
      if (it != entries_.end() && it->second.flight == flight) {
        it->second.flight.reset();
        if (!error && generation == generation_) {
          if (entries_.size() > max_entries_) {
            // Unbounded keys (list queries): start over rather than grow.
            entries_.clear();
            it = entries_.emplace(key, Entry{}).first;
          }
          it->second.value = loaded.value;
          it->second.expires_at = Clock::now() + loaded.ttl;
        } else if (!it->second.value) {
          entries_.erase(it);
        }
      }
      flight->done = true;
      flight->error = error;
      flight->value = loaded.value;
      waiters.swap(flight->waiters);
    }
    for (auto& w : waiters) w(error, loaded.value);
    if (error) std::rethrow_exception(error);
    co_return loaded.value;
  }

  /// Drops one key; loads in flight are not stored.
  void Invalidate(const std::string& key) {
    std::lock_guard lock(mu_);
    ++generation_;
    const auto it = entries_.find(key);
    if (it == entries_.end()) return;
    it->second.value.reset();
  }

  /// Drops every key; loads in flight are not stored.
  void Clear() {
    std::lock_guard lock(mu_);
    ++generation_;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.flight) {
        it->second.value.reset();
        ++it;
      } else {
        it = entries_.erase(it);
      }
    }
  }

  [[nodiscard]] std::uint64_t hits() const { return hits_.load(); }
  [[nodiscard]] std::uint64_t misses() const { return misses_.load(); }
  [[nodiscard]] std::uint64_t waits() const { return waits_.load(); }

 private:
  using Waiter = std::function<void(std::exception_ptr, Value)>;
  struct Flight {
    bool done = false;
    std::exception_ptr error;
    Value value;
    std::vector<Waiter> waiters;
  };
  struct Entry {
    Value value;
    Clock::time_point expires_at{};
    std::shared_ptr<Flight> flight;
  };

  boost::asio::awaitable<Value> Wait(std::shared_ptr<Flight> flight) {
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(std::exception_ptr, Value)>(
        [this, flight](auto handler) {
          auto resume_on = boost::asio::get_associated_executor(handler);
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          Waiter w = [shared, resume_on](std::exception_ptr ep, Value v) {
            boost::asio::post(resume_on, [shared, ep, v = std::move(v)]() mutable { (*shared)(ep, std::move(v)); });
          };
          std::unique_lock lock(mu_);
          if (flight->done) {
            auto ep = flight->error;
            auto v = flight->value;
            lock.unlock();
            w(ep, std::move(v));
            return;
          }
          flight->waiters.push_back(std::move(w));
        },
        boost::asio::use_awaitable);
  }

  std::size_t max_entries_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::uint64_t generation_ = 0;
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
  std::atomic<std::uint64_t> waits_{0};
};

}  // namespace ticketd::catalog
