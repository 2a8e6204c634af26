#pragma once
// A bounded pool of threads for CPU-heavy work (password hashing) that must
// not run on I/O threads. Coroutines `co_await pool.Run(fn)` and resume on
// their own executor. At most `threads` jobs run at once (this bounds memory,
// e.g. argon2id's 19 MiB per hash); beyond `max_queue` waiting jobs, Run
// throws DependencyUnavailable (→ 503 with Retry-After), so a storm queues a
// bounded amount of work instead of growing without limit.

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "ticketd/core/error.hpp"

namespace ticketd {

class WorkerPool {
 public:
  WorkerPool(std::string name, int threads, std::size_t max_queue);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  template <typename F>
  auto Run(F fn) -> boost::asio::awaitable<std::invoke_result_t<F&>>;
  void Stop();
  [[nodiscard]] std::size_t QueueDepth() const;

 private:
  using Job = std::move_only_function<void()>;
  bool Submit(Job job);
  void Loop();

  std::string name_;
  std::size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

template <typename F>
auto WorkerPool::Run(F fn) -> boost::asio::awaitable<std::invoke_result_t<F&>> {
  using R = std::invoke_result_t<F&>;
  using Value = std::conditional_t<std::is_void_v<R>, bool, R>;
  auto result = co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                     void(std::exception_ptr, std::optional<Value>)>(
      [this, &fn](auto handler) {
        auto resume_on = boost::asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto finish = [shared, resume_on](std::exception_ptr ep, std::optional<Value> v) {
          boost::asio::post(resume_on, [shared, ep, v = std::move(v)]() mutable { (*shared)(ep, std::move(v)); });
        };
        const bool queued = Submit([fn = std::move(fn), finish]() mutable {
          try {
            if constexpr (std::is_void_v<R>) {
              fn();
              finish(nullptr, true);
            } else {
              finish(nullptr, fn());
            }
          } catch (...) {
            finish(std::current_exception(), std::nullopt);
          }
        });
        if (!queued) {
          finish(std::make_exception_ptr(DependencyUnavailable(name_, "worker pool saturated")), std::nullopt);
        }
      },
      boost::asio::use_awaitable);
  if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

}  // namespace ticketd
