#include "ticketd/core/router.hpp"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>

#include <algorithm>
#include <stdexcept>

namespace ticketd::http {

namespace {

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}


// True when `route` matches `parts` (parameters must percent-decode); fills
// `params` when given.
bool MatchSegments(const Route& route, const std::vector<std::string_view>& parts,
                   std::vector<std::pair<std::string, std::string>>* params) {
  std::string decoded;
  if (route.segments.size() != parts.size()) return false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& seg = route.segments[i];
    if (IsParam(seg)) {
      if (parts[i].empty() || !PercentDecode(parts[i], decoded)) return false;
      if (params != nullptr) params->emplace_back(seg.substr(1, seg.size() - 2), decoded);
    } else if (seg != parts[i]) {
      return false;
    }
  }
  return true;
}

// Lower is more specific: a bit per parameter position, earlier segments weigh more.
unsigned long long Specificity(const Route& route) {
  unsigned long long score = 0;
  for (const auto& seg : route.segments) score = (score << 1) | (IsParam(seg) ? 1ULL : 0ULL);
  return score;
}

}  // namespace

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) return out;
  while (true) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool PercentDecode(std::string_view in, std::string& out, bool plus_as_space) {
  // Boost.URL checks every escape (a '%' and two hex digits) and decodes.
  const auto encoded = boost::urls::make_pct_string_view(boost::core::string_view(in.data(), in.size()));
  if (!encoded) return false;
  out = encoded->decode(boost::urls::encoding_opts(plus_as_space));
  return true;
}

void Router::Add(Verb method, std::string path, RouteMeta meta, Handler handler) {
  if (path.empty() || path.front() != '/') throw std::invalid_argument("route must start with '/': " + path);
  Route route{method, path, std::move(meta), std::move(handler), {}};
  for (auto seg : SplitPath(path)) {
    if (seg.empty() && path != "/") throw std::invalid_argument("empty segment in route " + path);
    if (seg.find_first_of("{}") != std::string_view::npos && !IsParam(seg)) {
      throw std::invalid_argument("malformed parameter in route " + path);
    }
    route.segments.emplace_back(seg);
  }
  for (const auto& existing : routes_) {
    if (existing.segments.size() != route.segments.size()) continue;
    bool same_shape = true;
    for (std::size_t i = 0; i < route.segments.size() && same_shape; ++i) {
      const bool a = IsParam(existing.segments[i]);
      const bool b = IsParam(route.segments[i]);
      same_shape = (a && b) || (!a && !b && existing.segments[i] == route.segments[i]);
    }
    if (!same_shape) continue;
    if (existing.method == method) throw std::invalid_argument("duplicate route " + path);
    if (existing.path != route.path) {
      throw std::invalid_argument("route " + path + " differs from " + existing.path + " only in parameter names");
    }
  }
  routes_.push_back(std::move(route));
}

RouteMatch Router::Match(Verb method, std::string_view path) const {
  const auto parts = SplitPath(path);
  RouteMatch result;
  const Route* best = nullptr;
  unsigned long long best_score = 0;
  const Route* best_any = nullptr;
  unsigned long long best_any_score = 0;
  for (const auto& route : routes_) {
    if (!MatchSegments(route, parts, nullptr)) continue;
    const auto score = Specificity(route);
    if (best_any == nullptr || score < best_any_score) {
      best_any = &route;
      best_any_score = score;
    }
    // HEAD is served by the GET route wherever there is no HEAD route of its own (RFC 9110 §9.3.2).
    const bool serves = route.method == method || (method == Verb::head && route.method == Verb::get);
    if (serves && (best == nullptr || score < best_score || (score == best_score && route.method == method))) {
      best = &route;
      best_score = score;
    }
  }
  if (best_any == nullptr) return result;
  if (best != nullptr) {
    result.kind = RouteMatch::Kind::kFound;
    result.route = best;
    MatchSegments(*best, parts, &result.params);
    return result;
  }
  // The path exists, but not for this method: 405 listing the most specific path's methods.
  result.kind = RouteMatch::Kind::kMethodNotAllowed;
  for (const auto& route : routes_) {
    if (route.path == best_any->path) result.allowed.push_back(route.method);
  }
  if (std::find(result.allowed.begin(), result.allowed.end(), Verb::get) != result.allowed.end() &&
      std::find(result.allowed.begin(), result.allowed.end(), Verb::head) == result.allowed.end()) {
    result.allowed.insert(std::find(result.allowed.begin(), result.allowed.end(), Verb::get) + 1, Verb::head);
  }
  return result;
}

}  // namespace ticketd::http
