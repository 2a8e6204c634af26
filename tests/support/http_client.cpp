#include "http_client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>

#include <poll.h>

#include <thread>

namespace ticketd::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpResponse Request(std::uint16_t port, http::verb method, const std::string& target, const std::string& body,
                     const std::map<std::string, std::string>& headers) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() && req.find(http::field::content_type) == req.end()) {
    req.set(http::field::content_type, "application/json");
  }
  req.body() = body;
  req.prepare_payload();
  stream.expires_after(std::chrono::seconds(30));
  http::write(stream, req);
  beast::flat_buffer buffer;
  HttpResponse res;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  http::read(stream, buffer, parser);
  res = parser.release();
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return res;
}

std::string RawExchange(std::uint16_t port, const std::string& raw, std::chrono::milliseconds timeout) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(socket, asio::buffer(raw));
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{socket.native_handle(), POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (::poll(&pfd, 1, static_cast<int>(std::max<long long>(1, left.count()))) <= 0) break;
    beast::error_code ec;
    const auto n = socket.read_some(asio::buffer(buf), ec);
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

bool ClosedWithin(std::uint16_t port, const std::string& raw, std::chrono::milliseconds within) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  if (!raw.empty()) {
    beast::error_code write_ec;
    asio::write(socket, asio::buffer(raw), write_ec);
    if (write_ec) return true;  // refused so fast that the write met the reset
  }
  const auto deadline = std::chrono::steady_clock::now() + within;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{socket.native_handle(), POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (::poll(&pfd, 1, static_cast<int>(std::max<long long>(1, left.count()))) <= 0) return false;
    beast::error_code ec;
    socket.read_some(asio::buffer(buf), ec);
    if (ec) return true;  // EOF or reset: the server closed it
  }
  return false;
}

bool WaitReady(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    try {
      if (Request(port, boost::beast::http::verb::get, "/readyz").result_int() == 200) return true;
    } catch (const std::exception&) {
      // Not accepting yet: keep polling until the deadline.
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace ticketd::test
