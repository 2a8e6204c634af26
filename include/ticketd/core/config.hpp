#pragma once
// Configuration: one TOML file with a section per concern, every key
// overridable by the environment (`TICKETD_<SECTION>_<KEY>`), secrets also
// from a file (`<key>_file` / `TICKETD_<SECTION>_<KEY>_FILE`). Validated
// against one declarative schema (config_schema.cpp): an unknown key, a wrong
// type or an out-of-range value is a ConfigError naming the key. Only the
// wiring in src/app reads this; modules receive plain option structs.

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace ticketd::config {

enum class Type { kString, kInt, kBool, kDouble, kStringList };

using Value = std::variant<std::string, std::int64_t, bool, double, std::vector<std::string>>;

struct KeySpec {
  std::string section;
  std::string key;
  Type type;
  Value default_value;
  std::string doc;
  double min = 0;  // for numbers; min > max means unbounded
  double max = -1;
  std::vector<std::string> choices;  // for strings; empty = any
  bool secret = false;               // may come from `<key>_file`; never logged
};

/// Every known key, in documentation order.
const std::vector<KeySpec>& Schema();
/// The sections a file may contain (even when they have no keys yet).
const std::vector<std::string>& Sections();

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string key, const std::string& message)
      : std::runtime_error(key + ": " + message), key_(std::move(key)) {}
  [[nodiscard]] const std::string& key() const noexcept { return key_; }

 private:
  std::string key_;
};

class Config {
 public:
  /// Loads `path` (may be empty: defaults + environment only), applies `env`
  /// (name → value; only TICKETD_* entries are looked at) and validates.
  /// An unknown TICKETD_* name is a ConfigError unless it is TICKETD_CONFIG
  /// or has the shape of a platform service variable (see IgnoredEnv).
  /// Unreadable secret files are all named in one ConfigError.
  static Config Load(const std::string& path, const std::map<std::string, std::string>& env);
  /// The process environment as a map.
  static std::map<std::string, std::string> ProcessEnv();

  [[nodiscard]] const std::string& String(const std::string& dotted) const;
  [[nodiscard]] std::int64_t Int(const std::string& dotted) const;
  [[nodiscard]] bool Bool(const std::string& dotted) const;
  [[nodiscard]] double Double(const std::string& dotted) const;
  [[nodiscard]] const std::vector<std::string>& List(const std::string& dotted) const;
  /// Where each value came from: "default", "file", "env", "file:<path>" (secrets).
  [[nodiscard]] const std::string& Source(const std::string& dotted) const;
  /// Human-readable dump with secrets masked (for `check-config`).
  [[nodiscard]] std::string Describe() const;
  /// TICKETD_* variables that were no config key but had the shape of a
  /// Kubernetes/Docker service variable (TICKETD_SERVICE_HOST, TICKETD_PORT,
  /// TICKETD_PORT_8080_TCP_ADDR, ...) and were therefore ignored.
  [[nodiscard]] const std::vector<std::string>& IgnoredEnv() const { return ignored_env_; }

 private:
  const Value& Get(const std::string& dotted) const;
  std::map<std::string, Value> values_;
  std::map<std::string, std::string> sources_;
  std::vector<std::string> ignored_env_;
};

/// The variable naming the config file when no --config is given (the image
/// sets it); not a config key, so the strict env check lets it through.
inline constexpr const char* kConfigPathVariable = "TICKETD_CONFIG";

/// `TICKETD_SERVER_PORT` for ("server", "port").
std::string EnvName(const std::string& section, const std::string& key);

}  // namespace ticketd::config
