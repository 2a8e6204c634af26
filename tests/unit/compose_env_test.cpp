// The deployment files (docker/compose.yaml, docker/Dockerfile, the example
// configs) name config keys by hand; these tests keep them in step with the
// schema so a renamed or misspelt key fails here, not at a container's start.

#include "ticketd/core/config.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace ticketd::config {
namespace {

namespace fs = std::filesystem;
using Env = std::map<std::string, std::string>;

const std::string kSourceDir = TICKETD_SOURCE_DIR;
const std::string kComposePath = kSourceDir + "/docker/compose.yaml";
const std::string kDockerfilePath = kSourceDir + "/docker/Dockerfile";
const std::string kDevConfigPath = kSourceDir + "/config/ticketd.dev.toml";
const std::string kProdConfigPath = kSourceDir + "/config/ticketd.prod.example.toml";

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::ostringstream content;
  content << in.rdbuf();
  return std::move(content).str();
}

bool IsNameChar(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

// Length of the TICKETD_[A-Z0-9_]+ name starting at `at`, 0 when none does.
std::size_t NameLengthAt(std::string_view text, std::size_t at) {
  constexpr std::string_view kPrefix = "TICKETD_";
  if (text.substr(at, kPrefix.size()) != kPrefix) return 0;
  std::size_t end = at + kPrefix.size();
  while (end < text.size() && IsNameChar(text[end])) ++end;
  return end > at + kPrefix.size() ? end - at : 0;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

// Every TICKETD_[A-Z0-9_]+ name mentioned anywhere in `text` (values, comments,
// both `KEY: value` and `- KEY=value` forms), except CMake options
// (`-DTICKETD_...`). Hand-rolled: GCC 12's <regex> trips -Wmaybe-uninitialized.
std::vector<std::string> EnvNamesIn(std::string_view text) {
  std::vector<std::string> names;
  for (auto at = text.find("TICKETD_"); at != std::string_view::npos; at = text.find("TICKETD_", at + 1)) {
    const auto length = NameLengthAt(text, at);
    if (length == 0) continue;
    const bool cmake_option = at >= 2 && text.substr(at - 2, 2) == "-D";
    const bool inside_word = at >= 1 && (IsNameChar(text[at - 1]) || (text[at - 1] >= 'a' && text[at - 1] <= 'z'));
    if (!cmake_option && !inside_word) names.emplace_back(text.substr(at, length));
  }
  return names;
}

// The TICKETD_* assignments in a compose file, one per line as `KEY: value` or
// `- KEY=value`, surrounding quotes removed.
Env EnvAssignmentsIn(const std::string& text) {
  Env env;
  std::istringstream lines(text);
  for (std::string line_text; std::getline(lines, line_text);) {
    std::string_view line = Trim(line_text);
    if (line.starts_with("- ")) line = Trim(line.substr(2));
    const auto length = NameLengthAt(line, 0);
    if (length == 0) continue;
    const auto name = std::string(line.substr(0, length));
    line = Trim(line.substr(length));
    if (line.empty() || (line.front() != ':' && line.front() != '=')) continue;
    std::string_view value = Trim(line.substr(1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    env[name] = std::string(value);
  }
  return env;
}

std::set<std::string> KnownEnvNames() {
  std::set<std::string> names;
  for (const auto& spec : Schema()) {
    names.insert(EnvName(spec.section, spec.key));
    if (spec.secret) names.insert(EnvName(spec.section, spec.key) + "_FILE");
  }
  return names;
}

void CheckAllKnown(const std::string& path, const std::vector<std::string>& names) {
  const auto known = KnownEnvNames();
  for (const auto& name : names) {
    CHECK_MESSAGE(known.contains(name), path << " names " << name << ", which is no config key");
  }
}

// Secret files standing in for /run/secrets/* while loading the prod example.
class SecretFiles {
 public:
  SecretFiles() {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    dir_ = fs::temp_directory_path() /
           ("ticketd-compose-env-test-" + std::to_string(stamp) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  SecretFiles(const SecretFiles&) = delete;
  SecretFiles& operator=(const SecretFiles&) = delete;
  ~SecretFiles() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  [[nodiscard]] std::string Write(const std::string& name, const std::string& content) const {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

 private:
  fs::path dir_;
};

}  // namespace

TEST_CASE("compose env: every TICKETD_ variable in docker/compose.yaml is a config key") {
  const auto names = EnvNamesIn(ReadText(kComposePath));
  REQUIRE(names.size() >= 5);
  CheckAllKnown(kComposePath, names);
}

TEST_CASE("compose env: every TICKETD_ name in the Dockerfile and the prod example is a config key") {
  CheckAllKnown(kDockerfilePath, EnvNamesIn(ReadText(kDockerfilePath)));
  CheckAllKnown(kProdConfigPath, EnvNamesIn(ReadText(kProdConfigPath)));
}

TEST_CASE("compose env: the prod example documents every key's env variable") {
  const auto text = ReadText(kProdConfigPath);
  for (const auto& spec : Schema()) {
    const auto name = EnvName(spec.section, spec.key);
    CHECK_MESSAGE(text.find(name) != std::string::npos, kProdConfigPath << " does not document " << name);
  }
}

TEST_CASE("compose env: the dev config loads") {
  const auto config = Config::Load(kDevConfigPath, {});
  CHECK(config.String("server.environment") == "development");
  CHECK(config.String("server.host") == "127.0.0.1");
  CHECK(config.Int("server.port") == 8080);
  CHECK(config.String("kafka.brokers") == "embedded");
  CHECK(config.Bool("database.migrate_on_start"));
  CHECK(config.Source("database.url") == "file");
}

TEST_CASE("compose env: the prod example loads when its secret files exist") {
  SecretFiles secrets;
  const auto url_file = secrets.Write("ticketd_database_url", "postgresql://owner:pw@db.internal:5432/ticketd\n");
  const auto password_file = secrets.Write("ticketd_module_password", "module-pw\n");
  const auto config = Config::Load(
      kProdConfigPath,
      {{"TICKETD_DATABASE_URL_FILE", url_file},
       {"TICKETD_DATABASE_MODULE_PASSWORD_FILE", password_file},
       {"TICKETD_AUTH_JWT_SECRET_FILE", secrets.Write("jwt", "prod-example-jwt-secret-0123456789abcdef01\n")},
       {"TICKETD_AUTH_JWT_PREVIOUS_KEYS_FILE", secrets.Write("jwt_prev", "\n")},
       {"TICKETD_AUTH_DATA_KEY_FILE", secrets.Write("data", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")},
       {"TICKETD_AUTH_INDEX_KEY_FILE", secrets.Write("index", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")},
       {"TICKETD_AUTH_RECAPTCHA_SECRET_FILE", secrets.Write("recaptcha", "recaptcha-secret\n")},
       {"TICKETD_AUTH_PORTONE_API_SECRET_FILE", secrets.Write("portone", "portone-secret\n")},
       {"TICKETD_PAYMENT_PORTONE_API_SECRET_FILE", secrets.Write("pay_portone", "portone-payment-secret\n")},
       {"TICKETD_PAYMENT_WEBHOOK_SECRET_FILE", secrets.Write("webhook", "whsec_cHJvZC1leGFtcGxlLXdlYmhvb2stc2VjcmV0\n")}});
  CHECK(config.String("payment.gateway") == "portone");
  CHECK(config.String("auth.captcha") == "recaptcha");
  CHECK(config.String("auth.jwt_secret").size() >= 32);
  CHECK(config.String("server.environment") == "production");
  CHECK(config.String("server.host") == "0.0.0.0");
  CHECK(config.Int("server.port") == 8080);
  CHECK_FALSE(config.Bool("database.migrate_on_start"));
  CHECK(config.String("database.url") == "postgresql://owner:pw@db.internal:5432/ticketd");
  CHECK(config.String("database.module_password") == "module-pw");
  CHECK_FALSE(config.List("edge.trusted_proxies").empty());
  CHECK(config.String("kafka.brokers") != "embedded");

  // Without the overrides it reads its own secret paths under /run/secrets.
  if (!fs::exists("/run/secrets/ticketd_database_url")) {
    try {
      (void)Config::Load(kProdConfigPath, {});
      FAIL("expected a ConfigError for the missing secret file");
    } catch (const ConfigError& error) {
      CHECK(error.key().ends_with("_file"));  // one of the production secret files
    }
  }
}

TEST_CASE("compose env: the image's config loads with the compose environment") {
  const auto env = EnvAssignmentsIn(ReadText(kComposePath));
  REQUIRE(env.size() >= 5);
  const auto config = Config::Load(kProdConfigPath, env);
  CHECK(config.String("server.environment") == "development");
  CHECK(config.String("server.host") == "0.0.0.0");
  CHECK(config.String("database.url") == "postgresql://postgres:postgres@postgres:5432/ticketd");
  CHECK(config.Source("database.url") == "env");
  CHECK(config.Source("database.module_password") == "env");
  CHECK(config.String("kafka.brokers") == "kafka:9092");
  CHECK_FALSE(config.Bool("database.migrate_on_start"));
}

}  // namespace ticketd::config
