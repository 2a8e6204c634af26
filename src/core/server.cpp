#include "core/server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>
#include <cctype>

#include "ticketd/core/input.hpp"
#include "ticketd/core/log.hpp"
#include "ticketd/core/stream.hpp"

namespace ticketd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// ---- streaming responses (ticketd/core/stream.hpp) ----

constexpr std::string_view kStreamMarker = "X-Ticketd-Stream";
std::mutex g_streams_mu;
std::unordered_map<std::uint64_t, StreamBody> g_streams;
std::uint64_t g_next_stream = 1;

// Chunked writes on the connection's strand; Wake may come from any thread.
class ConnStreamWriter final : public StreamWriter, public std::enable_shared_from_this<ConnStreamWriter> {
 public:
  ConnStreamWriter(beast::tcp_stream& stream, const std::atomic<bool>& draining, std::chrono::milliseconds write_timeout)
      : stream_(stream), draining_(draining), timer_(stream.get_executor()), write_timeout_(write_timeout) {}

  asio::awaitable<bool> Write(std::string data) override {
    if (closed_ || draining_.load()) co_return false;
    if (data.empty()) co_return true;
    std::string chunk = fmt::format("{:x}\r\n", data.size());
    chunk += data;
    chunk += "\r\n";
    stream_.expires_after(write_timeout_);
    boost::system::error_code ec;
    co_await asio::async_write(stream_, asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
    stream_.expires_never();
    if (ec) closed_ = true;
    co_return !closed_;
  }

  asio::awaitable<bool> Wait(std::chrono::milliseconds timeout) override {
    if (closed_ || draining_.load()) co_return false;
    if (woken_.exchange(false)) co_return true;
    timer_.expires_after(timeout);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    woken_ = false;
    co_return !closed_ && !draining_.load();
  }

  void Wake() override {
    woken_ = true;
    asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
  }

  // On the strand: the final chunk.
  asio::awaitable<void> End() {
    if (closed_) co_return;
    stream_.expires_after(write_timeout_);
    boost::system::error_code ec;
    co_await asio::async_write(stream_, asio::buffer(std::string_view("0\r\n\r\n")),
                               asio::redirect_error(asio::use_awaitable, ec));
    closed_ = true;
  }

 private:
  beast::tcp_stream& stream_;
  const std::atomic<bool>& draining_;
  asio::steady_timer timer_;
  std::chrono::milliseconds write_timeout_;
  std::atomic<bool> woken_{false};
  bool closed_ = false;
};

}  // namespace

Response MakeStream(Response head, StreamBody body) {
  std::uint64_t id = 0;
  {
    std::lock_guard lock(g_streams_mu);
    id = g_next_stream++;
    g_streams.emplace(id, std::move(body));
  }
  head.body().clear();
  head.set(kStreamMarker, std::to_string(id));
  return head;
}

std::optional<StreamBody> TakeStream(Response& response) {
  auto it = response.find(kStreamMarker);
  if (it == response.end()) return std::nullopt;
  std::uint64_t id = 0;
  try {
    id = std::stoull(std::string(it->value()));
  } catch (const std::exception&) {
    response.erase(kStreamMarker);
    return std::nullopt;
  }
  response.erase(kStreamMarker);
  std::lock_guard lock(g_streams_mu);
  auto found = g_streams.find(id);
  if (found == g_streams.end()) return std::nullopt;
  StreamBody body = std::move(found->second);
  g_streams.erase(found);
  return body;
}

struct Server::Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  bool idle = true;  // touched only on the connection's strand
  std::shared_ptr<ConnStreamWriter> writer;  // set on the strand while streaming
};

namespace {

bool SaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' || c == ':';
  });
}

// Request ids only need to be unique, not secret: a per-thread PRNG in UUID
// form is cheaper than the CSPRNG on every request.
std::string NewRequestId() {
  thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }()};
  const std::uint64_t a = rng();
  const std::uint64_t b = rng();
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xFFFF, a & 0xFFF,
                     ((b >> 48) & 0x3FFF) | 0x8000, b & 0xFFFFFFFFFFFFULL);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// RFC 9112 §6: reject framing that a proxy in front of us could read
// differently (request smuggling). Beast already rejects CL+TE when TE comes
// second and conflicting Content-Length values.
std::optional<std::string> FramingError(const beast_http::request_parser<beast_http::empty_body>& parser) {
  const auto& h = parser.get();
  const auto cl_count = std::distance(h.equal_range(beast_http::field::content_length).first,
                                      h.equal_range(beast_http::field::content_length).second);
  if (cl_count > 1) return "duplicate Content-Length";
  std::string te;
  for (auto it = h.find(beast_http::field::transfer_encoding); it != h.end() && it->name() == beast_http::field::transfer_encoding;
       ++it) {
    if (!te.empty()) te += ",";
    te += Lower(it->value());
  }
  if (te.empty()) return std::nullopt;
  if (cl_count > 0) return "both Content-Length and Transfer-Encoding";
  // The final coding must be chunked and chunked must appear only once.
  std::vector<std::string> codings;
  std::size_t start = 0;
  while (start <= te.size()) {
    auto end = te.find(',', start);
    if (end == std::string::npos) end = te.size();
    std::string token = te.substr(start, end - start);
    token.erase(0, token.find_first_not_of(" \t"));
    token.erase(token.find_last_not_of(" \t") + 1);
    if (!token.empty()) codings.push_back(token);
    start = end + 1;
  }
  if (codings.empty() || codings.back() != "chunked") return "Transfer-Encoding must end in chunked";
  if (std::count(codings.begin(), codings.end(), "chunked") > 1) return "chunked applied more than once";
  if (h.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
  return std::nullopt;
}

std::string AllowHeader(const std::vector<Verb>& verbs) {
  std::string out;
  for (auto v : verbs) {
    if (!out.empty()) out += ", ";
    out += std::string(beast_http::to_string(v));
  }
  return out;
}

}  // namespace

Server::Server(ServerOptions options, const Router& router, metrics::Registry& registry)
    : options_(std::move(options)), router_(router), registry_(registry) {
  in_flight_gauge_ = &registry_.GetGauge("ticketd_http_requests_in_flight", "HTTP requests being handled");
  connections_gauge_ = &registry_.GetGauge("ticketd_http_connections", "Open HTTP connections");
  rejected_connections_ =
      &registry_.GetCounter("ticketd_http_rejected_connections_total", "Connections refused at the connection cap");
}

Server::~Server() {
  if (!stopped_) Stop(0ms);
}

void Server::Use(Middleware middleware) { middleware_.push_back(std::move(middleware)); }

void Server::Start() {
  // Build the middleware chain once: chain_ = m0(m1(…(Dispatch))).
  Next next = [this](Request& r) { return Dispatch(r); };
  for (auto it = middleware_.rbegin(); it != middleware_.rend(); ++it) {
    next = [mw = *it, inner = std::move(next)](Request& r) { return mw(r, inner); };
  }
  chain_ = std::move(next);
  for (const auto& route : router_.routes()) {
    auto m = std::make_unique<RouteMetrics>();
    m->latency = &RequestLatency(std::string(beast_http::to_string(route.method)), route.path);
    route_metrics_.emplace(&route.handler, std::move(m));
  }

  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.host, ec);
  if (ec) throw std::runtime_error("server.host: not an IP address: " + options_.host);
  const tcp::endpoint endpoint{address, options_.port};
  acceptor_ = std::make_unique<tcp::acceptor>(io_);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " +
                             ec.message());
  }
  bound_port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  const int n = std::max(1, options_.io_threads);
  threads_.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { io_.run(); });
}

asio::awaitable<void> Server::AcceptLoop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_->async_accept(asio::make_strand(io_), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
      // EMFILE and friends: back off briefly instead of spinning.
      log::Warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer t(io_, 50ms);
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (connections_.load() >= options_.max_connections) {
      rejected_connections_->Inc();
      socket.close(ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<Connection>(std::move(socket));
    {
      std::lock_guard lock(conns_mu_);
      std::erase_if(conns_, [](const auto& w) { return w.expired(); });
      conns_.push_back(conn);
    }
    // Counted here, not when Serve starts: a burst of accepts must see every
    // connection already taken, or it could pass max_connections.
    connections_.fetch_add(1);
    connections_gauge_->Add(1);
    auto ex = conn->stream.get_executor();
    asio::co_spawn(ex, Serve(std::move(conn)), asio::detached);
  }
}

asio::awaitable<void> Server::Serve(std::shared_ptr<Connection> conn) {
  beast::tcp_stream& stream = conn->stream;
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  std::string peer_ip;
  if (auto ep = stream.socket().remote_endpoint(ec); !ec) peer_ip = ep.address().to_string();
  bool first = true;

  // Writes an error before the request was fully read; the connection closes after it.
  auto fail = [&](const Problem& problem, std::string_view request_id) -> asio::awaitable<void> {
    Response res = ProblemResponse(problem, request_id);
    SetSecurityHeaders(res);  // the edge middleware never sees these
    res.set(beast_http::field::connection, "close");
    res.set("X-Request-Id", request_id);
    res.keep_alive(false);
    stream.expires_after(options_.write_timeout);
    boost::system::error_code wec;
    co_await beast_http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, wec));
  };

  for (;;) {
    // Idle: wait for the first byte of the next request.
    if (buffer.size() == 0) {
      conn->idle = true;
      if (draining_.load()) break;
      stream.expires_after(first ? options_.header_timeout : options_.idle_timeout);
      const std::size_t n =
          co_await stream.async_read_some(buffer.prepare(4096), asio::redirect_error(asio::use_awaitable, ec));
      conn->idle = false;
      if (ec) break;
      buffer.commit(n);
    }
    conn->idle = false;
    first = false;
    // In flight from the request's first byte until its response is written:
    // the drain waits for exactly these.
    in_flight_.fetch_add(1);
    in_flight_gauge_->Add(1);
    struct InFlightGuard {
      Server* server;
      bool active = true;
      void Release() {
        if (!active) return;
        active = false;
        server->in_flight_.fetch_sub(1);
        server->in_flight_gauge_->Add(-1);
      }
      ~InFlightGuard() { Release(); }
    } in_flight_guard{this};

    // Header, within the header deadline (slowloris). Most requests arrive
    // whole in one read: parse what is buffered first and only go back to the
    // socket (arming the deadline) when more is needed.
    beast_http::request_parser<beast_http::empty_body> head;
    head.header_limit(static_cast<std::uint32_t>(options_.header_limit));
    head.body_limit(boost::none);
    ec = {};
    bool deadline_armed = false;
    if (buffer.size() > 0) {
      buffer.consume(head.put(buffer.data(), ec));
      if (ec == beast_http::error::need_more) ec = {};
    }
    if (!ec && !head.is_header_done()) {
      stream.expires_after(options_.header_timeout);
      deadline_armed = true;
      co_await beast_http::async_read_header(stream, buffer, head, asio::redirect_error(asio::use_awaitable, ec));
    }
    const auto received_at = std::chrono::steady_clock::now();
    std::string request_id;
    if (!ec) {
      auto it = head.get().find("X-Request-Id");
      if (it != head.get().end() && SaneRequestId(it->value())) request_id = std::string(it->value());
    }
    if (request_id.empty()) request_id = NewRequestId();
    if (ec) {
      if (ec == beast_http::error::header_limit) {
        co_await fail(problems::HeaderTooLarge(), request_id);
      } else if (ec != beast::error::timeout && ec != beast_http::error::end_of_stream &&
                 ec != asio::error::operation_aborted && ec != asio::error::eof &&
                 ec != asio::error::connection_reset) {
        co_await fail(problems::BadRequest("Malformed HTTP request: " + ec.message()), request_id);
      }
      break;
    }
    if (auto framing = FramingError(head)) {
      co_await fail(problems::BadRequest("Invalid message framing: " + *framing), request_id);
      break;
    }

    // Route first: the body limit belongs to the route.
    const auto target = std::string_view(head.get().target());
    const auto path = target.substr(0, target.find('?'));
    RouteMatch match = router_.Match(head.get().method(), path);
    const std::size_t body_limit =
        match.route != nullptr ? match.route->meta.body_limit.value_or(options_.default_body_limit) : options_.default_body_limit;
    if (head.content_length() && *head.content_length() > body_limit) {
      co_await fail(problems::PayloadTooLarge("The request body exceeds " + std::to_string(body_limit) + " bytes"),
                    request_id);
      break;
    }
    if (beast::iequals(head.get()[beast_http::field::expect], "100-continue")) {
      beast_http::response<beast_http::empty_body> cont{Status::continue_, 11};
      stream.expires_after(options_.write_timeout);
      co_await beast_http::async_write(stream, cont, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }

    // Body, within the body deadline (slow bodies).
    beast_http::request_parser<beast_http::string_body> parser(std::move(head));
    parser.body_limit(body_limit);
    if (!parser.is_done()) {
      stream.expires_after(options_.body_timeout);
      deadline_armed = true;
      co_await beast_http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      log::Debug("request body not read", {{"request_id", request_id}, {"error", ec.message()}});
      if (ec == beast_http::error::body_limit) {
        co_await fail(problems::PayloadTooLarge("The request body exceeds " + std::to_string(body_limit) + " bytes"),
                      request_id);
      } else if (ec != beast::error::timeout && ec != asio::error::operation_aborted && ec != asio::error::eof &&
                 ec != beast_http::error::partial_message && ec != asio::error::connection_reset) {
        co_await fail(problems::BadRequest("Malformed HTTP request body: " + ec.message()), request_id);
      }
      break;
    }
    if (deadline_armed) stream.expires_never();  // the handler may take its time

    Request request;
    request.raw = parser.release();
    request.request_id = std::move(request_id);
    request.peer_ip = peer_ip;
    request.client_ip = peer_ip;
    request.received_at = received_at;
    if (match.kind == RouteMatch::Kind::kFound) {
      request.route = match.route->path;
      request.meta = &match.route->meta;
      request.handler = &match.route->handler;
      request.path_params = std::move(match.params);
    }

    Response response;
    try {
      response = co_await chain_(request);
    } catch (const std::exception& e) {
      // Dispatch maps every exception; this only catches middleware bugs.
      log::Error("unhandled exception", {{"request_id", request.request_id}, {"error", e.what()}});
      response = ProblemResponse(problems::Internal(), request.request_id);
    }
    const bool head_request = request.raw.method() == Verb::head;
    if (auto body = TakeStream(response); body && head_request) {
      // HEAD of a stream: its head only, the body is never started.
      response.chunked(true);
      const bool keep_alive = request.raw.keep_alive() && !draining_.load();
      Finish(request, response, keep_alive);
      stream.expires_after(options_.write_timeout);
      beast_http::response_serializer<beast_http::string_body> head_writer(response);
      co_await beast_http::async_write_header(stream, head_writer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep_alive) break;
      continue;
    } else if (body) {
      // A stream: head now, then the body until it ends; never in flight for the drain.
      response.body().clear();
      response.chunked(true);
      Finish(request, response, false);
      stream.expires_after(options_.write_timeout);
      beast_http::response_serializer<beast_http::string_body> head_writer(response);
      co_await beast_http::async_write_header(stream, head_writer, asio::redirect_error(asio::use_awaitable, ec));
      stream.expires_never();
      in_flight_guard.Release();
      if (!ec) {
        auto writer = std::make_shared<ConnStreamWriter>(stream, draining_, options_.write_timeout);
        conn->writer = writer;
        try {
          auto task = (*body)(writer);  // a named awaitable: nothing temporary in the co_await operand
          co_await std::move(task);
        } catch (const std::exception& e) {
          log::Error("stream failed", {{"request_id", request.request_id}, {"error", e.what()}});
        }
        co_await writer->End();
        conn->writer.reset();
      }
      break;
    }
    const bool keep_alive = request.raw.keep_alive() && !draining_.load();
    Finish(request, response, keep_alive);
    stream.expires_after(options_.write_timeout);
    if (head_request) {
      // The GET answer's headers (Content-Length included), no body.
      beast_http::response_serializer<beast_http::string_body> head_writer(response);
      co_await beast_http::async_write_header(stream, head_writer, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await beast_http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec || !keep_alive) break;
  }

  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.close();
  connections_.fetch_sub(1);
  connections_gauge_->Add(-1);
}

asio::awaitable<Response> Server::Dispatch(Request& request) {
  try {
    if (request.handler == nullptr) {
      // No route: 405 when the path exists for other methods, else 404.
      const auto target = std::string_view(request.raw.target());
      const auto match = router_.Match(request.raw.method(), target.substr(0, target.find('?')));
      if (match.kind == RouteMatch::Kind::kMethodNotAllowed) {
        Response res = ProblemResponse(
            problems::MethodNotAllowed(std::string(request.raw.method_string()) + " is not supported here"),
            request.request_id);
        res.set(beast_http::field::allow, AllowHeader(match.allowed));
        co_return res;
      }
      throw ApiError(problems::NotFound("No route for " + std::string(target.substr(0, target.find('?')))));
    }
    // One input check for every route: handlers rely on valid text.
    CheckInput(request);
    co_return co_await (*request.handler)(request);
  } catch (const ApiError& e) {
    co_return ProblemResponse(e.problem(), request.request_id);
  } catch (const DependencyUnavailable& e) {
    log::Warn("dependency unavailable",
              {{"request_id", request.request_id}, {"dependency", e.dependency()}, {"error", e.reason()}});
    co_return ProblemResponse(problems::ServiceUnavailable("A dependency is temporarily unavailable; try again", 2),
                              request.request_id);
  } catch (const std::exception& e) {
    log::Error("handler failed", {{"request_id", request.request_id}, {"route", request.route}, {"error", e.what()}});
    co_return ProblemResponse(problems::Internal(), request.request_id);
  }
}

void Server::Finish(const Request& request, Response& response, bool keep_alive) {
  response.set("X-Request-Id", request.request_id);
  response.keep_alive(keep_alive);
  if (!keep_alive) response.set(beast_http::field::connection, "close");
  if (!response.has_content_length() && !response.chunked()) response.prepare_payload();

  const auto elapsed = std::chrono::steady_clock::now() - request.received_at;
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const std::string method(request.raw.method_string());
  const int status = response.result_int();
  RouteMetrics* cached = nullptr;
  if (request.handler != nullptr) {
    if (auto it = route_metrics_.find(request.handler); it != route_metrics_.end()) cached = it->second.get();
  }
  if (cached != nullptr && status >= 100 && status < 600) {
    auto& slot = cached->by_status[static_cast<std::size_t>(status)];
    metrics::Counter* counter = slot.load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = &RequestCounter(method, request.route, status);
      slot.store(counter, std::memory_order_release);
    }
    counter->Inc();
    cached->latency->Observe(seconds);
  } else {
    RequestCounter(method, request.route, status).Inc();
    RequestLatency(method, request.route).Observe(seconds);
  }
  if (options_.access_log && log::Enabled(log::Level::kInfo)) {
    boost::json::object fields{{"request_id", request.request_id},
                               {"method", method},
                               {"route", request.route},
                               {"status", response.result_int()},
                               {"duration_ms", std::round(seconds * 1e6) / 1e3},
                               {"client_ip", request.client_ip}};
    if (request.principal) fields["user_id"] = request.principal->user_id;
    log::Access("request", std::move(fields));
  }
}

metrics::Counter& Server::RequestCounter(const std::string& method, const std::string& route, int status) {
  return registry_.GetCounter("ticketd_http_requests_total", "HTTP requests by route template, method and status",
                              {{"method", method}, {"route", route}, {"status", std::to_string(status)}});
}

metrics::Histogram& Server::RequestLatency(const std::string& method, const std::string& route) {
  return registry_.GetHistogram("ticketd_http_request_duration_seconds", "HTTP request latency by route template",
                                {{"method", method}, {"route", route}});
}

void Server::BeginDrain() {
  if (draining_.exchange(true)) return;
  asio::post(io_, [this] {
    boost::system::error_code ec;
    if (acceptor_) acceptor_->close(ec);
  });
  std::lock_guard lock(conns_mu_);
  for (auto& weak : conns_) {
    if (auto conn = weak.lock()) {
      asio::post(conn->stream.get_executor(), [conn] {
        if (conn->idle) conn->stream.cancel();
        if (conn->writer) conn->writer->Wake();
      });
    }
  }
}

bool Server::Stop(std::chrono::milliseconds deadline) {
  if (stopped_) return true;
  stopped_ = true;
  BeginDrain();
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
  const bool clean = in_flight_.load() == 0;
  // Give responses being written a moment, then close whatever is left.
  const auto write_until = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(deadline, 1000ms);
  while (connections_.load() > 0 && std::chrono::steady_clock::now() < write_until) std::this_thread::sleep_for(10ms);
  {
    std::lock_guard lock(conns_mu_);
    for (auto& weak : conns_) {
      if (auto conn = weak.lock()) {
        asio::post(conn->stream.get_executor(), [conn] {
          conn->stream.cancel();
          if (conn->writer) conn->writer->Wake();
        });
      }
    }
  }
  const auto close_until = std::chrono::steady_clock::now() + 1000ms;
  while (connections_.load() > 0 && std::chrono::steady_clock::now() < close_until) std::this_thread::sleep_for(5ms);
  io_.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  return clean;
}

}  // namespace ticketd::http
