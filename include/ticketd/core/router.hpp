#pragma once
// Route table: method + path template (`/api/v1/events/{eventId}`) → handler
// and metadata. Built once at start-up, then read concurrently without locks.

#include <string>
#include <string_view>
#include <vector>

#include "ticketd/core/http.hpp"

namespace ticketd::http {

struct Route {
  Verb method;
  std::string path;  // template
  RouteMeta meta;
  Handler handler;
  std::vector<std::string> segments;  // split template, `{name}` for parameters
};

struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed } kind = Kind::kNotFound;
  const Route* route = nullptr;
  std::vector<std::pair<std::string, std::string>> params;
  /// Methods registered for the path when kind == kMethodNotAllowed (for `Allow`).
  std::vector<Verb> allowed;
};

class Router {
 public:
  /// Registers a route. Throws std::invalid_argument for a malformed template
  /// or a duplicate (method, template) or an ambiguous parameter placement.
  void Add(Verb method, std::string path, RouteMeta meta, Handler handler);
  /// Matches a request target's path (no query). Literal segments win over
  /// parameters. Parameter values are percent-decoded. HEAD matches the GET
  /// route of a path that has no HEAD route, and `allowed` lists HEAD after GET.
  [[nodiscard]] RouteMatch Match(Verb method, std::string_view path) const;
  [[nodiscard]] const std::vector<Route>& routes() const noexcept { return routes_; }

 private:
  std::vector<Route> routes_;
};

/// Splits `/a/b/c` into {"a","b","c"}; empty path → {}.
std::vector<std::string_view> SplitPath(std::string_view path);
/// Percent-decodes; returns false on a malformed escape.
bool PercentDecode(std::string_view in, std::string& out, bool plus_as_space = false);

}  // namespace ticketd::http
