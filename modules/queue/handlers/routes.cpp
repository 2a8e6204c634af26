// HTTP handlers of the queue module: parse → call QueueService → map the result.
#include "queue/handlers/routes.hpp"

#include <utility>

#include <boost/json.hpp>

#include <algorithm>

#include "queue/handlers/decode.hpp"
#include "ticketd/core/stream.hpp"
#include "ticketd/core/time.hpp"

namespace ticketd::queue {

namespace json = boost::json;
using http::AuthLevel;
using http::Request;
using http::Response;
using http::Status;
using http::Verb;
using Awaitable = boost::asio::awaitable<Response>;

namespace {

std::string Caller(const Request& r) {
  if (!r.principal) throw ApiError(problems::Unauthenticated());
  return r.principal->user_id;
}

json::object ToJson(const Answer& a) {
  json::object o{{"eventId", a.event_id},
                 {"status", ToString(a.status)},
                 {"position", a.position},
                 {"aheadCount", a.ahead},
                 {"estimatedWaitSeconds", a.estimated_wait_seconds},
                 {"nextPollSeconds", a.next_poll_seconds}};
  if (a.status == EntryStatus::kAdmitted) {
    o["reservationToken"] = a.token;
    o["expiresAt"] = FormatRfc3339(a.token_expires_at);
  }
  return o;
}

// The SSE body: the current place at once and whenever it changes (at most
// every nextPollSeconds), a comment line as heartbeat, and the admission with
// its token the moment the index sees it (the service wakes the stream).
boost::asio::awaitable<void> RunStream(QueueService& service, std::string event_id, std::string user_id,
                                       std::shared_ptr<http::StreamWriter> writer) {
  const auto key = ParseUserKey(user_id);
  if (!key) co_return;
  service.AttachStream(*key, writer);
  struct Detach {
    QueueService& service;
    UserKey key;
    std::shared_ptr<http::StreamWriter> writer;
    ~Detach() { service.DetachStream(key, writer); }
  } detach{service, *key, writer};
  const auto heartbeat = std::chrono::duration_cast<std::chrono::milliseconds>(service.options().stream_heartbeat);
  // The reconnect delay goes out with the first event (one write: a client
  // reading the first block gets the place, not only the retry line).
  std::string hello = "retry: 3000\n\n";
  std::string last;
  auto last_write = std::chrono::steady_clock::now();
  for (;;) {
    std::optional<Answer> answer;
    bool gone = false;
    try {
      std::string e = event_id;
      std::string u = user_id;
      answer = co_await service.Status(std::move(e), std::move(u));
    } catch (const ApiError&) {
      gone = true;
    } catch (const DependencyUnavailable&) {
      // Postgres hiccup on a fallback read: try again next round.
    }
    if (gone) {
      std::string bye = std::exchange(hello, std::string()) + "event: gone\ndata: {}\n\n";
      co_await writer->Write(std::move(bye));
      co_return;
    }
    std::chrono::milliseconds wait = heartbeat;
    const auto now = std::chrono::steady_clock::now();
    if (answer) {
      std::string data = json::serialize(ToJson(*answer));
      if (answer->status == EntryStatus::kAdmitted) {
        std::string message = std::exchange(hello, std::string()) + "event: admitted\ndata: " + data + "\n\n";
        co_await writer->Write(std::move(message));
        co_return;
      }
      if (data != last) {
        std::string message = std::exchange(hello, std::string()) + "event: position\ndata: " + data + "\n\n";
        if (!co_await writer->Write(std::move(message))) co_return;
        last = std::move(data);
        last_write = now;
      } else if (now - last_write >= heartbeat) {
        std::string ping = std::exchange(hello, std::string()) + ": keep-alive\n\n";
        if (!co_await writer->Write(std::move(ping))) co_return;
        last_write = now;
      }
      wait = std::min(wait, std::chrono::milliseconds(1000LL * answer->next_poll_seconds));
    }
    if (!co_await writer->Wait(wait)) co_return;
  }
}

}  // namespace

void AddRoutes(http::Router& router, QueueService& service) {
  const http::RouteMeta user_queue{AuthLevel::kUser, "queue", 4096};
  const http::RouteMeta user_status{AuthLevel::kUser, "queue-status", 4096};
  const http::RouteMeta admin{AuthLevel::kAdmin, "default", 16 * 1024};

  router.Add(Verb::post, "/api/v1/queue/{eventId}/enter", user_queue, [&service](Request& r) -> Awaitable {
    std::string event_id = DecodeEventId(r);
    std::string user_id = Caller(r);
    const Answer a = co_await service.Enter(std::move(event_id), std::move(user_id));
    co_return http::Json(Status::ok, ToJson(a));
  });

  router.Add(Verb::get, "/api/v1/queue/{eventId}/status", user_status, [&service](Request& r) -> Awaitable {
    std::string event_id = DecodeEventId(r);
    std::string user_id = Caller(r);
    const Answer a = co_await service.Status(std::move(event_id), std::move(user_id));
    co_return http::Json(Status::ok, ToJson(a));
  });

  router.Add(Verb::get, "/api/v1/queue/{eventId}/stream", user_queue, [&service](Request& r) -> Awaitable {
    std::string event_id = DecodeEventId(r);
    std::string user_id = Caller(r);
    const auto key = ParseUserKey(user_id);
    if (!key) throw ApiError(problems::Unauthenticated());
    {
      // Must be in the room (404 otherwise) before the stream opens.
      std::string e = event_id;
      std::string u = user_id;
      (void)co_await service.Status(std::move(e), std::move(u));
    }
    const auto slot_id = co_await service.ReserveStream(*key);
    if (!slot_id) {
      auto problem = problems::Make(429, "RATE_LIMITED", "Too many requests",
                                    "Too many open waiting-room streams for this user (on any instance); close one first");
      problem.retry_after = 5;
      throw ApiError(std::move(problem));
    }
    // Released when the stream ends or never starts (the body is dropped).
    std::shared_ptr<void> slot(nullptr, [&service, id = *slot_id](void*) { service.ReleaseStream(id); });
    Response head{Status::ok, 11};
    head.set(http::beast_http::field::content_type, "text/event-stream");
    head.set(http::beast_http::field::cache_control, "no-store");
    head.set("X-Accel-Buffering", "no");
    http::StreamBody body = [&service, event_id, user_id, slot](std::shared_ptr<http::StreamWriter> writer) {
      return RunStream(service, event_id, user_id, std::move(writer));
    };
    co_return http::MakeStream(std::move(head), std::move(body));
  });

  router.Add(Verb::delete_, "/api/v1/queue/{eventId}", user_queue, [&service](Request& r) -> Awaitable {
    std::string event_id = DecodeEventId(r);
    std::string user_id = Caller(r);
    co_await service.Leave(std::move(event_id), std::move(user_id));
    co_return http::Empty(Status::no_content);
  });

  router.Add(Verb::get, "/api/v1/admin/queue/{eventId}", admin, [&service](Request& r) -> Awaitable {
    std::string event_id = DecodeEventId(r);
    const json::object stats = co_await service.AdminStats(std::move(event_id));
    co_return http::Json(Status::ok, stats);
  });

  router.Add(Verb::put, "/api/v1/admin/queue/{eventId}", admin, [&service](Request& r) -> Awaitable {
    std::string event_id = DecodeEventId(r);
    auto patch = DecodeSettingsPatch(r);
    const json::object stats = co_await service.AdminUpdate(std::move(event_id), std::move(patch));
    co_return http::Json(Status::ok, stats);
  });

  router.Add(Verb::post, "/api/v1/admin/queue/{eventId}/clear", admin, [&service](Request& r) -> Awaitable {
    std::string event_id = DecodeEventId(r);
    const std::int64_t n = co_await service.AdminClear(std::move(event_id));
    co_return http::Json(Status::ok, json::object{{"cleared", n}});
  });
}

}  // namespace ticketd::queue
