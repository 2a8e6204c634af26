#pragma once
// Streaming responses (Server-Sent Events) on top of the string-response
// server: a handler returns `MakeStream(head, body)`; the server writes the
// head (status and headers, no Content-Length, `Connection: close`), then runs
// `body` with a writer until it returns, the client goes away or the server
// drains, and closes the connection. A stream is not "in flight" for the
// graceful drain: on SIGTERM every pending Wait() returns false at once.
//
//   co_return http::MakeStream(std::move(head), [](std::shared_ptr<http::StreamWriter> w) -> awaitable<void> {
//     while (co_await w->Write("data: hi\n\n") && co_await w->Wait(15s)) {}
//   });

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "ticketd/core/http.hpp"

namespace ticketd::http {

/// The connection side of a stream. Write/Wait run on the connection's
/// strand (call them from the body only); Wake is thread-safe.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  /// Writes raw bytes (within the server's write timeout). False when the
  /// client is gone or the server is draining: the body should return.
  virtual boost::asio::awaitable<bool> Write(std::string data) = 0;
  /// Sleeps up to `timeout` or until Wake(). False when the stream must end
  /// (server draining or connection closed).
  virtual boost::asio::awaitable<bool> Wait(std::chrono::milliseconds timeout) = 0;
  /// Ends a pending (or the next) Wait early. Any thread.
  virtual void Wake() = 0;
};

using StreamBody = std::function<boost::asio::awaitable<void>(std::shared_ptr<StreamWriter>)>;

/// Marks `head` (its status and headers; the body is ignored) as a stream
/// answered by `body`.
Response MakeStream(Response head, StreamBody body);
/// Server side: removes and returns the stream body attached to `response`
/// by MakeStream, if any.
std::optional<StreamBody> TakeStream(Response& response);

}  // namespace ticketd::http
