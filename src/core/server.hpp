#pragma once
// The HTTP/1.1 server: Asio + Beast, one coroutine per connection on its own
// strand, N I/O threads. Enforces the transport rules (header limit → 431,
// per-route body limit → 413 before reading, request-smuggling framing → 400
// and close, header/body/idle/write deadlines, connection cap), assigns the
// request id, runs middleware and the matched handler, maps exceptions to the
// problem+json shape, records metrics and writes the access log.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <atomic>
#include <unordered_map>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ticketd/core/http.hpp"
#include "ticketd/core/metrics.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  int io_threads = 1;
  std::size_t max_connections = 10000;
  std::size_t header_limit = 8192;
  std::size_t default_body_limit = 64 * 1024;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds write_timeout{30000};
  bool access_log = true;
};

class Server {
 public:
  Server(ServerOptions options, const Router& router, metrics::Registry& registry);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Adds middleware (outermost first). Only before Start().
  void Use(Middleware middleware);
  /// Binds and starts the I/O threads. Throws std::runtime_error when the
  /// address cannot be bound.
  void Start();
  /// The bound port (useful with port 0).
  [[nodiscard]] std::uint16_t port() const noexcept { return bound_port_; }
  /// Stops accepting, closes idle keep-alive connections and marks every
  /// later response `Connection: close`. Requests in flight continue.
  void BeginDrain();
  [[nodiscard]] bool draining() const noexcept { return draining_.load(); }
  /// Waits up to `deadline` for in-flight requests, then closes every
  /// connection and joins the I/O threads. Returns false if requests were
  /// still running at the deadline.
  bool Stop(std::chrono::milliseconds deadline);
  [[nodiscard]] int InFlight() const noexcept { return in_flight_.load(); }
  [[nodiscard]] boost::asio::io_context& io() noexcept { return io_; }

  struct Connection;

 private:
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(std::shared_ptr<Connection> conn);
  boost::asio::awaitable<Response> Dispatch(Request& request);
  void Finish(const Request& request, Response& response, bool keep_alive);
  metrics::Counter& RequestCounter(const std::string& method, const std::string& route, int status);
  metrics::Histogram& RequestLatency(const std::string& method, const std::string& route);

  // Per-route series, resolved once so the hot path takes no registry lock.
  struct RouteMetrics {
    metrics::Histogram* latency = nullptr;
    std::array<std::atomic<metrics::Counter*>, 600> by_status{};
  };
  std::unordered_map<const Handler*, std::unique_ptr<RouteMetrics>> route_metrics_;

  ServerOptions options_;
  const Router& router_;
  metrics::Registry& registry_;
  std::vector<Middleware> middleware_;
  Next chain_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  std::uint16_t bound_port_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<std::size_t> connections_{0};
  std::mutex conns_mu_;
  std::vector<std::weak_ptr<Connection>> conns_;
  bool stopped_ = false;
  metrics::Gauge* in_flight_gauge_ = nullptr;
  metrics::Gauge* connections_gauge_ = nullptr;
  metrics::Counter* rejected_connections_ = nullptr;
};

}  // namespace ticketd::http
