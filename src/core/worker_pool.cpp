#include "ticketd/core/worker_pool.hpp"

#include <stdexcept>

namespace ticketd {

WorkerPool::WorkerPool(std::string name, int threads, std::size_t max_queue)
    : name_(std::move(name)), max_queue_(max_queue) {
  if (threads < 1) throw std::invalid_argument("worker pool needs at least one thread");
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

std::size_t WorkerPool::QueueDepth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

bool WorkerPool::Submit(Job job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void WorkerPool::Loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

}  // namespace ticketd
