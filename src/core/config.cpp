#include "ticketd/core/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace ticketd::config {

namespace {

constexpr std::string_view kEnvPrefix = "TICKETD_";
constexpr std::string_view kFileSuffix = "_file";
constexpr std::string_view kEnvFileSuffix = "_FILE";
constexpr std::string_view kMask = "********";
constexpr std::string_view kConfigPathEnv = "TICKETD_CONFIG";

std::string Dotted(const KeySpec& spec) { return spec.section + "." + spec.key; }

const KeySpec* FindSpec(std::string_view section, std::string_view key) {
  for (const auto& spec : Schema()) {
    if (spec.section == section && spec.key == key) return &spec;
  }
  return nullptr;
}

bool IsSection(std::string_view name) {
  const auto& sections = Sections();
  return std::find(sections.begin(), sections.end(), name) != sections.end();
}

std::string JoinSections() {
  std::string out;
  for (const auto& section : Sections()) {
    if (!out.empty()) out += ", ";
    out += section;
  }
  return out;
}

std::string ExpectedType(Type type) {
  switch (type) {
    case Type::kString:
      return "a string";
    case Type::kInt:
      return "an integer";
    case Type::kBool:
      return "a boolean";
    case Type::kDouble:
      return "a number";
    case Type::kStringList:
      return "an array of strings";
  }
  return "?";
}

std::string TomlTypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string Line(const toml::node& node) {
  return fmt::format("line {}", node.source().begin.line);
}

std::string FormatNumber(double value, Type type) {
  if (type == Type::kInt) return fmt::format("{}", static_cast<std::int64_t>(value));
  return fmt::format("{}", value);
}

std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string FormatValue(const Value& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return Quote(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          std::string out = "[";
          for (std::size_t i = 0; i < v.size(); ++i) {
            if (i > 0) out += ", ";
            out += Quote(v[i]);
          }
          return out + "]";
        } else {
          return fmt::format("{}", v);
        }
      },
      value);
}

// " (server.port)" when the operator named the setting otherwise (env).
std::string KeyNote(const KeySpec& spec, const std::string& where) {
  const std::string dotted = Dotted(spec);
  return where == dotted ? std::string() : " (" + dotted + ")";
}

// Range and choice checks shared by file and env values; `where` names the
// setting as the operator wrote it (`server.port` or `TICKETD_SERVER_PORT`).
void Validate(const KeySpec& spec, const Value& value, const std::string& where) {
  const bool bounded = spec.min <= spec.max;
  if (bounded && (spec.type == Type::kInt || spec.type == Type::kDouble)) {
    const double number = spec.type == Type::kInt ? static_cast<double>(std::get<std::int64_t>(value))
                                                  : std::get<double>(value);
    if (number < spec.min || number > spec.max) {
      throw ConfigError(where, fmt::format("must be in [{}, {}], got {}{}", FormatNumber(spec.min, spec.type),
                                           FormatNumber(spec.max, spec.type), FormatValue(value),
                                           KeyNote(spec, where)));
    }
  }
  if (spec.type == Type::kString && !spec.choices.empty()) {
    const auto& text = std::get<std::string>(value);
    if (std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) {
      std::string choices;
      for (const auto& choice : spec.choices) {
        if (!choices.empty()) choices += ", ";
        choices += choice;
      }
      throw ConfigError(where,
                        fmt::format("must be one of: {}; got {}{}", choices, Quote(text), KeyNote(spec, where)));
    }
  }
}

Value FromToml(const KeySpec& spec, const toml::node& node, const std::string& where) {
  auto wrong_type = [&] {
    return ConfigError(where, fmt::format("expected {}, got {} ({})", ExpectedType(spec.type), TomlTypeName(node),
                                          Line(node)));
  };
  switch (spec.type) {
    case Type::kString:
      if (const auto* text = node.as_string()) return text->get();
      throw wrong_type();
    case Type::kInt:
      if (const auto* number = node.as_integer()) return number->get();
      throw wrong_type();
    case Type::kBool:
      if (const auto* flag = node.as_boolean()) return flag->get();
      throw wrong_type();
    case Type::kDouble: {
      double number = 0;
      if (const auto* integer = node.as_integer()) {
        number = static_cast<double>(integer->get());
      } else if (const auto* floating = node.as_floating_point()) {
        number = floating->get();
      } else {
        throw wrong_type();
      }
      if (!std::isfinite(number)) throw ConfigError(where, fmt::format("expected a finite number ({})", Line(node)));
      return number;
    }
    case Type::kStringList: {
      const auto* array = node.as_array();
      if (array == nullptr) throw wrong_type();
      std::vector<std::string> items;
      for (const auto& element : *array) {
        const auto* text = element.as_string();
        if (text == nullptr) {
          throw ConfigError(where, fmt::format("expected an array of strings, found {} in it ({})",
                                               TomlTypeName(element), Line(element)));
        }
        items.push_back(text->get());
      }
      return items;
    }
  }
  throw wrong_type();
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Value FromEnv(const KeySpec& spec, const std::string& text, const std::string& where) {
  auto wrong = [&](std::string_view expected) {
    return ConfigError(where, fmt::format("expected {}, got {}{}", expected, Quote(text), KeyNote(spec, where)));
  };
  switch (spec.type) {
    case Type::kString:
      return text;
    case Type::kInt: {
      std::int64_t number = 0;
      const char* end = text.data() + text.size();
      auto [ptr, ec] = std::from_chars(text.data(), end, number);
      if (text.empty() || ec != std::errc{} || ptr != end) throw wrong("a decimal integer");
      return number;
    }
    case Type::kBool: {
      const std::string lower = Lower(text);
      if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
      if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
      throw wrong("a boolean (true/false, 1/0, yes/no, on/off)");
    }
    case Type::kDouble: {
      double number = 0;
      const char* end = text.data() + text.size();
      auto [ptr, ec] = std::from_chars(text.data(), end, number);
      if (text.empty() || ec != std::errc{} || ptr != end || !std::isfinite(number)) throw wrong("a finite number");
      return number;
    }
    case Type::kStringList: {
      std::vector<std::string> items;
      std::string_view rest = text;
      while (!Trim(rest).empty()) {
        const auto comma = rest.find(',');
        const auto item = Trim(rest.substr(0, comma));
        if (!item.empty()) items.emplace_back(item);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
      return items;
    }
  }
  throw wrong(ExpectedType(spec.type));
}

std::string ReadSecretFile(const std::string& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(where, fmt::format("cannot read secret file {}: {}", Quote(path), std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw ConfigError(where, fmt::format("cannot read secret file {}", Quote(path)));
  std::string text = std::move(content).str();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

// One setting as given by a level (file or env) before secret files are read:
// the winning level's `_file` is read only once the override order is settled,
// so an env override spares reading a file-level secret path that is absent.
struct Setting {
  std::optional<Value> value;
  std::string secret_path;  // set instead of value for `<key>_file` / `..._FILE`
  std::string source;       // "file" or "env"
  std::string where;        // how the operator named it, for errors
};

toml::table ParseFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, fmt::format("cannot read config file: {}", std::strerror(errno)));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw ConfigError(path, "cannot read config file");
  try {
    return toml::parse(std::move(content).str(), path);
  } catch (const toml::parse_error& error) {
    throw ConfigError(path, fmt::format("line {}, column {}: {}", error.source().begin.line,
                                        error.source().begin.column, error.description()));
  }
}

void CollectFile(const toml::table& root, std::map<std::string, Setting>& settings) {
  for (const auto& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    if (!IsSection(section)) {
      const auto* what = section_node.is_table() ? "unknown section" : "unknown key outside any section";
      throw ConfigError(section, fmt::format("{} (sections are: {}; {})", what, JoinSections(), Line(section_node)));
    }
    const auto* table = section_node.as_table();
    if (table == nullptr) {
      throw ConfigError(section, fmt::format("expected a table [{}], got {} ({})", section,
                                             TomlTypeName(section_node), Line(section_node)));
    }
    for (const auto& [key_name, node] : *table) {
      const std::string key(key_name.str());
      const std::string dotted = section + "." + key;
      if (const auto* spec = FindSpec(section, key)) {
        if (spec->secret && table->contains(key + std::string(kFileSuffix))) {
          throw ConfigError(dotted, fmt::format("set either {} or {}{}, not both", key, key, kFileSuffix));
        }
        Value value = FromToml(*spec, node, dotted);
        Validate(*spec, value, dotted);
        settings[Dotted(*spec)] = Setting{std::move(value), "", "file", dotted};
        continue;
      }
      if (key.ends_with(kFileSuffix)) {
        const auto* spec = FindSpec(section, std::string_view(key).substr(0, key.size() - kFileSuffix.size()));
        if (spec != nullptr && spec->secret) {
          const auto* path = node.as_string();
          if (path == nullptr) {
            throw ConfigError(dotted, fmt::format("expected a string (a file path), got {} ({})",
                                                  TomlTypeName(node), Line(node)));
          }
          settings[Dotted(*spec)] = Setting{std::nullopt, path->get(), "file", dotted};
          continue;
        }
      }
      throw ConfigError(dotted, fmt::format("unknown key ({})", Line(node)));
    }
  }
}

bool AllDigits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsPortProtocol(std::string_view text) { return text == "TCP" || text == "UDP" || text == "SCTP"; }

// The variables Kubernetes (and Docker's legacy links) inject for a Service or
// link named `ticketd` or `ticketd-<x>`: <NAME>_SERVICE_HOST,
// <NAME>_SERVICE_PORT[_<PORT NAME>], <NAME>_PORT=<proto>://host:port and
// <NAME>_PORT_<n>_<TCP|UDP|SCTP>[_PROTO|_PORT|_ADDR]. Only names that are no
// config key get here, so TICKETD_SERVER_PORT stays a key; a `_PORT` name
// counts only with a URL value, so a typo like TICKETD_SERVR_PORT=9090 still
// stops the process.
bool IsPlatformVariable(std::string_view name, std::string_view value) {
  std::vector<std::string_view> parts;
  for (std::string_view rest = name;;) {
    const auto underscore = rest.find('_');
    parts.push_back(rest.substr(0, underscore));
    if (underscore == std::string_view::npos) break;
    rest.remove_prefix(underscore + 1);
  }
  // parts[0] is TICKETD; find the first SERVICE or PORT after it.
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const auto tail = std::span(parts).subspan(i);
    if (tail[0] == "SERVICE" && tail.size() >= 2 && (tail[1] == "HOST" || tail[1] == "PORT")) {
      return tail[1] == "PORT" || tail.size() == 2;
    }
    if (tail[0] == "PORT") {
      if (tail.size() == 1) return value.find("://") != std::string_view::npos;
      if (tail.size() >= 3 && AllDigits(tail[1]) && IsPortProtocol(tail[2])) {
        return tail.size() == 3 || (tail.size() == 4 && (tail[3] == "PROTO" || tail[3] == "PORT" || tail[3] == "ADDR"));
      }
    }
  }
  return false;
}

void CollectEnv(const std::map<std::string, std::string>& env, std::map<std::string, Setting>& settings,
                std::vector<std::string>& ignored) {
  std::map<std::string, std::pair<const KeySpec*, bool>> names;  // name -> (spec, is _FILE)
  for (const auto& spec : Schema()) {
    const std::string name = EnvName(spec.section, spec.key);
    names[name] = {&spec, false};
    if (spec.secret) names[name + std::string(kEnvFileSuffix)] = {&spec, true};
  }
  for (const auto& [name, text] : env) {
    if (!name.starts_with(kEnvPrefix) || name == kConfigPathEnv) continue;
    const auto found = names.find(name);
    if (found == names.end()) {
      if (IsPlatformVariable(name, text)) {
        ignored.push_back(name);
        continue;
      }
      throw ConfigError(name, "unknown environment variable: no config key has this name "
                              "(expected TICKETD_<SECTION>_<KEY>)");
    }
    const auto& [spec, is_file] = found->second;
    if (is_file) {
      const std::string value_name = EnvName(spec->section, spec->key);
      if (env.contains(value_name)) {
        throw ConfigError(value_name, fmt::format("set either {} or {}, not both", value_name, name));
      }
      settings[Dotted(*spec)] = Setting{std::nullopt, text, "env", name};
    } else {
      Value value = FromEnv(*spec, text, name);
      Validate(*spec, value, name);
      settings[Dotted(*spec)] = Setting{std::move(value), "", "env", name};
    }
  }
}

}  // namespace

std::string EnvName(const std::string& section, const std::string& key) {
  return std::string(kEnvPrefix) + Upper(section) + "_" + Upper(key);
}

Config Config::Load(const std::string& path, const std::map<std::string, std::string>& env) {
  Config config;
  for (const auto& spec : Schema()) {
    config.values_[Dotted(spec)] = spec.default_value;
    config.sources_[Dotted(spec)] = "default";
  }

  std::map<std::string, Setting> settings;
  if (!path.empty()) CollectFile(ParseFile(path), settings);
  CollectEnv(env, settings, config.ignored_env_);

  // Every secret file is read before failing, so an operator sees all the
  // missing or unreadable ones at once, not one per start.
  std::vector<ConfigError> secret_errors;
  for (auto& [dotted, setting] : settings) {
    if (setting.value) {
      config.values_[dotted] = std::move(*setting.value);
      config.sources_[dotted] = setting.source;
      continue;
    }
    const auto dot = dotted.find('.');
    const auto* spec = FindSpec(std::string_view(dotted).substr(0, dot), std::string_view(dotted).substr(dot + 1));
    try {
      Value value = ReadSecretFile(setting.secret_path, setting.where);
      Validate(*spec, value, setting.where);
      config.values_[dotted] = std::move(value);
      config.sources_[dotted] = "file:" + setting.secret_path;
    } catch (const ConfigError& error) {
      secret_errors.push_back(error);
    }
  }
  if (secret_errors.size() == 1) throw secret_errors.front();
  if (!secret_errors.empty()) {
    std::string message = fmt::format("{} secret files cannot be used:", secret_errors.size());
    for (const auto& error : secret_errors) message += "\n  " + std::string(error.what());
    throw ConfigError(secret_errors.front().key(), message);
  }
  return config;
}

std::map<std::string, std::string> Config::ProcessEnv() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

const Value& Config::Get(const std::string& dotted) const {
  const auto found = values_.find(dotted);
  if (found == values_.end()) throw std::logic_error("config: no key named '" + dotted + "'");
  return found->second;
}

const std::string& Config::String(const std::string& dotted) const {
  const auto* value = std::get_if<std::string>(&Get(dotted));
  if (value == nullptr) throw std::logic_error("config: '" + dotted + "' is not a string key");
  return *value;
}

std::int64_t Config::Int(const std::string& dotted) const {
  const auto* value = std::get_if<std::int64_t>(&Get(dotted));
  if (value == nullptr) throw std::logic_error("config: '" + dotted + "' is not an int key");
  return *value;
}

bool Config::Bool(const std::string& dotted) const {
  const auto* value = std::get_if<bool>(&Get(dotted));
  if (value == nullptr) throw std::logic_error("config: '" + dotted + "' is not a bool key");
  return *value;
}

double Config::Double(const std::string& dotted) const {
  const auto* value = std::get_if<double>(&Get(dotted));
  if (value == nullptr) throw std::logic_error("config: '" + dotted + "' is not a double key");
  return *value;
}

const std::vector<std::string>& Config::List(const std::string& dotted) const {
  const auto* value = std::get_if<std::vector<std::string>>(&Get(dotted));
  if (value == nullptr) throw std::logic_error("config: '" + dotted + "' is not a list key");
  return *value;
}

const std::string& Config::Source(const std::string& dotted) const {
  const auto found = sources_.find(dotted);
  if (found == sources_.end()) throw std::logic_error("config: no key named '" + dotted + "'");
  return found->second;
}

std::string Config::Describe() const {
  std::string out;
  for (const auto& spec : Schema()) {
    const std::string dotted = Dotted(spec);
    const Value& value = Get(dotted);
    std::string shown = FormatValue(value);
    if (spec.secret && !std::get<std::string>(value).empty()) shown = kMask;
    out += fmt::format("{} = {}  ({})\n", dotted, shown, Source(dotted));
  }
  for (const auto& name : ignored_env_) {
    out += fmt::format("# ignored {}: a Kubernetes/Docker service variable, no config key\n", name);
  }
  return out;
}

}  // namespace ticketd::config
