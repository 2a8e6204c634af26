#pragma once
// A raw Server-Sent Events client for tests: sends the GET, then collects the
// bytes as they arrive (headers, chunk framing and all), so a test can wait
// for an event or for the server to end the stream.

#include <boost/asio.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace ticketd::test {

class SseStream {
 public:
  SseStream(std::uint16_t port, const std::string& path, const std::string& token) : socket_(io_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    const std::string req = "GET /api/v1" + path + " HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\nAuthorization: Bearer " +
                            token + "\r\n\r\n";
    boost::asio::write(socket_, boost::asio::buffer(req));
    socket_.non_blocking(true);
  }
  /// Reads until `needle` appears (true) or the deadline / EOF (false).
  bool WaitFor(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (data_.find(needle) == std::string::npos) {
      if (eof_ || std::chrono::steady_clock::now() > until) return false;
      Pump();
    }
    return true;
  }
  /// True when the server closes the connection within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!eof_ && std::chrono::steady_clock::now() < until) Pump();
    return eof_;
  }
  /// Closes the connection from the client's side (a customer closing the tab).
  void Close() {
    boost::system::error_code ec;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    eof_ = true;
  }
  [[nodiscard]] const std::string& data() const { return data_; }

 private:
  void Pump() {
    char buf[4096];
    boost::system::error_code ec;
    const auto n = socket_.read_some(boost::asio::buffer(buf), ec);
    if (ec == boost::asio::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } else if (ec) {
      eof_ = true;
    } else {
      data_.append(buf, n);
    }
  }
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  std::string data_;
  bool eof_ = false;
};

}  // namespace ticketd::test
