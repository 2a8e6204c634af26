#pragma once
// Runs a coroutine to completion on a private io_context on the calling
// thread and returns its result (or rethrows its exception). For tests that
// drive a service's awaitable API from plain test code.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <utility>

namespace ticketd::test {

template <typename T>
T RunSync(boost::asio::awaitable<T> aw) {
  boost::asio::io_context io;
  auto fut = boost::asio::co_spawn(io, std::move(aw), boost::asio::use_future);
  io.run();
  return fut.get();
}

}  // namespace ticketd::test
