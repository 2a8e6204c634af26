// The HTTP ceiling baseline for tools/bench/http-baseline: a bare Beast
// HTTP/1.1 server shaped like Beast's example/http/server/awaitable that
// answers every request with ticketd's /healthz body.
//
// Usage: ticketd_hello_server [port] [threads]   (port 0 picks a free one)

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kBody = R"({"status":"ok"})";
constexpr auto kIdleTimeout = std::chrono::seconds(30);

asio::awaitable<void> Session(beast::tcp_stream stream) {
  beast::flat_buffer buffer;
  for (;;) {
    stream.expires_after(kIdleTimeout);
    http::request<http::string_body> req;
    auto [read_ec, read_bytes] = co_await http::async_read(stream, buffer, req, kUseTuple);
    if (read_ec) break;  // end_of_stream is the normal close

    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = kBody;
    res.prepare_payload();
    auto [write_ec, write_bytes] = co_await http::async_write(stream, res, kUseTuple);
    if (write_ec || !res.keep_alive()) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> Listen(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(acceptor.get_executor()), kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;  // e.g. EMFILE: keep accepting
    }
    socket.set_option(tcp::no_delay(true), ec);
    const auto executor = socket.get_executor();
    asio::co_spawn(executor, Session(beast::tcp_stream(std::move(socket))), asio::detached);
  }
}

bool ParseNumber(std::string_view text, int& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

int main(int argc, char** argv) {
  int port = 8080;
  int threads = 1;
  if (argc > 3 || (argc > 1 && !ParseNumber(argv[1], port)) || (argc > 2 && !ParseNumber(argv[2], threads)) ||
      port < 0 || port > 65535 || threads < 1) {
    std::fprintf(stderr, "usage: %s [port] [threads]\n", argv[0]);
    return 2;
  }

  try {
    asio::io_context ioc(threads);
    tcp::acceptor acceptor(ioc);
    const tcp::endpoint endpoint(asio::ip::address_v4::any(), static_cast<unsigned short>(port));
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&ioc](const beast::error_code&, int) { ioc.stop(); });
    asio::co_spawn(ioc, Listen(acceptor), [&ioc](const std::exception_ptr& e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& error) {
        std::fprintf(stderr, "ticketd_hello_server: accept loop failed: %s\n", error.what());
      }
      ioc.stop();
    });

    std::printf("listening on %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);

    std::vector<std::jthread> workers;
    workers.reserve(static_cast<std::size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) workers.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ticketd_hello_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
