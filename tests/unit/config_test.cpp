#include "ticketd/core/config.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace ticketd::config {
namespace {

namespace fs = std::filesystem;
using Env = std::map<std::string, std::string>;

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = fs::temp_directory_path() /
            ("ticketd-config-test-" + std::to_string(stamp) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }

  // Writes `content` to `name` inside the directory and returns its path.
  [[nodiscard]] std::string Write(const std::string& name, const std::string& content) const {
    const auto file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out << content;
    REQUIRE(out.good());
    return file.string();
  }
  [[nodiscard]] std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Runs Load and returns the ConfigError it throws (fails the test if none).
ConfigError LoadError(const std::string& path, const Env& env) {
  try {
    (void)Config::Load(path, env);
  } catch (const ConfigError& error) {
    return error;
  }
  FAIL("expected a ConfigError");
  return ConfigError("", "");
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("config: schema is well-formed") {
  const std::vector<std::string> expected_sections = {"server",  "database",    "kafka",   "auth", "catalog",
                                                      "queue",   "reservation", "payment", "log",  "edge"};
  CHECK(Sections() == expected_sections);

  std::set<std::string> env_names;
  for (const auto& spec : Schema()) {
    CAPTURE(spec.section);
    CAPTURE(spec.key);
    CHECK(std::find(Sections().begin(), Sections().end(), spec.section) != Sections().end());
    CHECK(spec.section.find('_') == std::string::npos);
    CHECK_FALSE(spec.doc.empty());
    CHECK(spec.default_value.index() == static_cast<std::size_t>(spec.type));
    if (spec.secret) CHECK(spec.type == Type::kString);
    if (!spec.choices.empty()) {
      REQUIRE(spec.type == Type::kString);
      const auto& value = std::get<std::string>(spec.default_value);
      CHECK(std::find(spec.choices.begin(), spec.choices.end(), value) != spec.choices.end());
    }
    if (spec.min <= spec.max && spec.type == Type::kInt) {
      const auto value = static_cast<double>(std::get<std::int64_t>(spec.default_value));
      CHECK(value >= spec.min);
      CHECK(value <= spec.max);
    }
    CHECK(env_names.insert(EnvName(spec.section, spec.key)).second);
    if (spec.secret) CHECK(env_names.insert(EnvName(spec.section, spec.key) + "_FILE").second);
  }
}

TEST_CASE("config: defaults load with an empty path") {
  const auto config = Config::Load("", {});
  CHECK(config.String("server.environment") == "development");
  CHECK(config.String("server.host") == "127.0.0.1");
  CHECK(config.Int("server.port") == 8080);
  CHECK(config.Int("server.io_threads") == 0);
  CHECK(config.Int("database.pool_size") == 8);
  CHECK(config.String("database.url") == "postgresql://postgres@127.0.0.1:5432/ticketd");
  CHECK(config.String("database.module_password").empty());
  CHECK(config.Bool("database.migrate_on_start"));
  CHECK(config.String("kafka.brokers") == "embedded");
  CHECK(config.String("log.level") == "info");
  CHECK(config.List("edge.trusted_proxies").empty());
  for (const auto& spec : Schema()) CHECK(config.Source(spec.section + "." + spec.key) == "default");
}

TEST_CASE("config: EnvName") {
  CHECK(EnvName("server", "port") == "TICKETD_SERVER_PORT");
  CHECK(EnvName("database", "pool_size") == "TICKETD_DATABASE_POOL_SIZE");
}

TEST_CASE("config: values from the file") {
  TempDir dir;
  const auto path = dir.Write("ticketd.toml", R"(
[server]
host = "0.0.0.0"
port = 9090
environment = "production"

[database]
migrate_on_start = false
pool_size = 16

[auth]

[log]
level = "debug"

[edge]
trusted_proxies = ["10.0.0.0/8", "192.168.0.0/16"]
)");
  const auto config = Config::Load(path, {});
  CHECK(config.String("server.host") == "0.0.0.0");
  CHECK(config.Int("server.port") == 9090);
  CHECK(config.String("server.environment") == "production");
  CHECK_FALSE(config.Bool("database.migrate_on_start"));
  CHECK(config.Int("database.pool_size") == 16);
  CHECK(config.String("log.level") == "debug");
  CHECK(config.List("edge.trusted_proxies") == std::vector<std::string>{"10.0.0.0/8", "192.168.0.0/16"});
  CHECK(config.Source("server.port") == "file");
  CHECK(config.Source("server.io_threads") == "default");
}

TEST_CASE("config: env overrides the file") {
  TempDir dir;
  const auto path = dir.Write("ticketd.toml", "[server]\nport = 9090\nhost = \"0.0.0.0\"\n");
  const auto config = Config::Load(path, {{"TICKETD_SERVER_PORT", "9191"},
                                          {"TICKETD_LOG_LEVEL", "warn"},
                                          {"PATH", "/usr/bin"},
                                          {"TICKETDX_SERVER_PORT", "1"}});
  CHECK(config.Int("server.port") == 9191);
  CHECK(config.Source("server.port") == "env");
  CHECK(config.String("server.host") == "0.0.0.0");
  CHECK(config.Source("server.host") == "file");
  CHECK(config.String("log.level") == "warn");
  CHECK(config.Source("log.level") == "env");
}

TEST_CASE("config: unknown keys and sections name the key") {
  TempDir dir;
  SUBCASE("unknown key in a section") {
    const auto error = LoadError(dir.Write("a.toml", "[server]\nprot = 8080\n"), {});
    CHECK(error.key() == "server.prot");
    CHECK(Contains(error.what(), "unknown key"));
  }
  SUBCASE("unknown section") {
    const auto error = LoadError(dir.Write("b.toml", "[servre]\nport = 8080\n"), {});
    CHECK(error.key() == "servre");
    CHECK(Contains(error.what(), "unknown section"));
  }
  SUBCASE("top-level key outside any section") {
    const auto error = LoadError(dir.Write("c.toml", "port = 8080\n"), {});
    CHECK(error.key() == "port");
  }
  SUBCASE("nested table inside a section") {
    const auto error = LoadError(dir.Write("d.toml", "[server.tls]\ncert = \"x\"\n"), {});
    CHECK(error.key() == "server.tls");
  }
  SUBCASE("section that is not a table") {
    const auto error = LoadError(dir.Write("e.toml", "server = 1\n"), {});
    CHECK(error.key() == "server");
  }
  SUBCASE("_file for a key that is not a secret") {
    const auto error = LoadError(dir.Write("f.toml", "[server]\nhost_file = \"/etc/hostname\"\n"), {});
    CHECK(error.key() == "server.host_file");
  }
}

TEST_CASE("config: unknown TICKETD_ variable names the variable") {
  auto error = LoadError("", {{"TICKETD_SERVER_PROT", "8080"}});
  CHECK(error.key() == "TICKETD_SERVER_PROT");
  error = LoadError("", {{"TICKETD_SERVER_HOST_FILE", "/etc/hostname"}});
  CHECK(error.key() == "TICKETD_SERVER_HOST_FILE");
}

TEST_CASE("config: platform service variables are ignored, typos are not") {
  // What Kubernetes injects for a Service named ticketd (port 8080, port name
  // http) and one named ticketd-api; Docker links inject the same shapes.
  const Env platform = {
      {"TICKETD_SERVICE_HOST", "10.96.0.12"},
      {"TICKETD_SERVICE_PORT", "8080"},
      {"TICKETD_SERVICE_PORT_HTTP", "8080"},
      {"TICKETD_PORT", "tcp://10.96.0.12:8080"},
      {"TICKETD_PORT_8080_TCP", "tcp://10.96.0.12:8080"},
      {"TICKETD_PORT_8080_TCP_PROTO", "tcp"},
      {"TICKETD_PORT_8080_TCP_PORT", "8080"},
      {"TICKETD_PORT_8080_TCP_ADDR", "10.96.0.12"},
      {"TICKETD_API_SERVICE_HOST", "10.96.0.13"},
      {"TICKETD_API_PORT", "tcp://10.96.0.13:80"},
      {"TICKETD_API_PORT_80_TCP_ADDR", "10.96.0.13"},
      {"TICKETD_SERVER_PORT", "9090"},  // still a key: applied, never ignored
  };
  const auto config = Config::Load("", platform);
  CHECK(config.Int("server.port") == 9090);
  CHECK(config.IgnoredEnv().size() == platform.size() - 1);
  CHECK(Contains(config.Describe(), "# ignored TICKETD_SERVICE_HOST"));

  // Typos keep failing, including ones that end like a service variable.
  CHECK(LoadError("", {{"TICKETD_SERVR_PORT", "9090"}}).key() == "TICKETD_SERVR_PORT");
  CHECK(LoadError("", {{"TICKETD_PORT", "9090"}}).key() == "TICKETD_PORT");
  CHECK(LoadError("", {{"TICKETD_SERVICE_HOSTS", "x"}}).key() == "TICKETD_SERVICE_HOSTS");
  CHECK(LoadError("", {{"TICKETD_PORT_HTTP_TCP", "tcp://x:1"}}).key() == "TICKETD_PORT_HTTP_TCP");
  CHECK(LoadError("", {{"TICKETD_PORT_8080_TCP_HOST", "x"}}).key() == "TICKETD_PORT_8080_TCP_HOST");
  // A wrong value for a real key is still an error, whatever its shape.
  CHECK(LoadError("", {{"TICKETD_SERVER_PORT", "tcp://10.0.0.1:80"}}).key() == "TICKETD_SERVER_PORT");
}

TEST_CASE("config: TICKETD_CONFIG is not a key and not refused") {
  const auto config = Config::Load("", {{"TICKETD_CONFIG", "/etc/ticketd/ticketd.toml"}});
  CHECK(config.IgnoredEnv().empty());
  CHECK(std::string(kConfigPathVariable) == "TICKETD_CONFIG");
}

TEST_CASE("config: every unreadable secret file is named in one error") {
  TempDir dir;
  const auto path = dir.Write("ticketd.toml", "[database]\nurl_file = \"" + dir.Path("a") + "\"\n"
                                              "[auth]\njwt_secret_file = \"" + dir.Path("b") + "\"\n");
  const auto error = LoadError(path, {{"TICKETD_AUTH_INDEX_KEY_FILE", dir.Path("c")}});
  CHECK(Contains(error.what(), "3 secret files cannot be used"));
  CHECK(Contains(error.what(), dir.Path("a")));
  CHECK(Contains(error.what(), dir.Path("b")));
  CHECK(Contains(error.what(), dir.Path("c")));
  CHECK(Contains(error.what(), "TICKETD_AUTH_INDEX_KEY_FILE"));
  // An empty file is a valid (empty) secret, e.g. no previous JWT keys.
  const auto empty = dir.Write("previous", "\n");
  CHECK(Config::Load("", {{"TICKETD_AUTH_JWT_PREVIOUS_KEYS_FILE", empty}}).String("auth.jwt_previous_keys").empty());
}

TEST_CASE("config: wrong type names the key and the expected type") {
  TempDir dir;
  auto error = LoadError(dir.Write("a.toml", "[server]\nport = \"8080\"\n"), {});
  CHECK(error.key() == "server.port");
  CHECK(Contains(error.what(), "integer"));

  error = LoadError(dir.Write("b.toml", "[server]\nport = 8080.0\n"), {});
  CHECK(error.key() == "server.port");
  CHECK(Contains(error.what(), "integer"));

  error = LoadError(dir.Write("c.toml", "[database]\nmigrate_on_start = \"yes\"\n"), {});
  CHECK(error.key() == "database.migrate_on_start");
  CHECK(Contains(error.what(), "boolean"));

  error = LoadError(dir.Write("d.toml", "[edge]\ntrusted_proxies = \"10.0.0.0/8\"\n"), {});
  CHECK(error.key() == "edge.trusted_proxies");
  CHECK(Contains(error.what(), "array of strings"));

  error = LoadError(dir.Write("e.toml", "[edge]\ntrusted_proxies = [\"10.0.0.0/8\", 7]\n"), {});
  CHECK(error.key() == "edge.trusted_proxies");

  error = LoadError(dir.Write("f.toml", "[server]\nhost = 1\n"), {});
  CHECK(error.key() == "server.host");
  CHECK(Contains(error.what(), "string"));

  error = LoadError("", {{"TICKETD_SERVER_PORT", "80x"}});
  CHECK(error.key() == "TICKETD_SERVER_PORT");
  CHECK(Contains(error.what(), "integer"));
  CHECK(Contains(error.what(), "server.port"));
  CHECK(LoadError("", {{"TICKETD_SERVER_PORT", ""}}).key() == "TICKETD_SERVER_PORT");
  CHECK(LoadError("", {{"TICKETD_SERVER_PORT", " 80"}}).key() == "TICKETD_SERVER_PORT");
  CHECK(LoadError("", {{"TICKETD_SERVER_PORT", "99999999999999999999"}}).key() == "TICKETD_SERVER_PORT");
}

TEST_CASE("config: out of range names the key and the range") {
  TempDir dir;
  auto error = LoadError(dir.Write("a.toml", "[server]\nport = 70000\n"), {});
  CHECK(error.key() == "server.port");
  CHECK(Contains(error.what(), "[0, 65535]"));

  error = LoadError(dir.Write("b.toml", "[database]\npool_size = 0\n"), {});
  CHECK(error.key() == "database.pool_size");
  CHECK(Contains(error.what(), "[1, 256]"));

  error = LoadError("", {{"TICKETD_SERVER_PORT", "-1"}});
  CHECK(error.key() == "TICKETD_SERVER_PORT");
  CHECK(Contains(error.what(), "[0, 65535]"));

  CHECK(Config::Load("", {{"TICKETD_SERVER_PORT", "0"}}).Int("server.port") == 0);
  CHECK(Config::Load("", {{"TICKETD_SERVER_PORT", "65535"}}).Int("server.port") == 65535);
}

TEST_CASE("config: value not among the choices names the key and the choices") {
  TempDir dir;
  auto error = LoadError(dir.Write("a.toml", "[log]\nlevel = \"verbose\"\n"), {});
  CHECK(error.key() == "log.level");
  CHECK(Contains(error.what(), "debug, info, warn, error"));

  error = LoadError("", {{"TICKETD_SERVER_ENVIRONMENT", "staging"}});
  CHECK(error.key() == "TICKETD_SERVER_ENVIRONMENT");
  CHECK(Contains(error.what(), "development, production"));
}

TEST_CASE("config: unreadable file or bad TOML names the path") {
  TempDir dir;
  const auto missing = dir.Path("missing.toml");
  CHECK(LoadError(missing, {}).key() == missing);

  const auto broken = dir.Write("broken.toml", "[server]\nport = 8080\nhost = \"unterminated\n");
  const auto error = LoadError(broken, {});
  CHECK(error.key() == broken);
  CHECK(Contains(error.what(), "line 3"));
}

TEST_CASE("config: secrets from files") {
  TempDir dir;
  const auto url_file = dir.Write("url", "postgresql://owner:s3cret@db.internal:5432/ticketd\n\n");
  const auto password_file = dir.Write("password", "  pa ss  \t\n");

  SUBCASE("<key>_file in the config file, trailing whitespace trimmed") {
    const auto path = dir.Write("ticketd.toml", "[database]\nurl_file = \"" + url_file + "\"\n");
    const auto config = Config::Load(path, {});
    CHECK(config.String("database.url") == "postgresql://owner:s3cret@db.internal:5432/ticketd");
    CHECK(config.Source("database.url") == "file:" + url_file);
  }
  SUBCASE("TICKETD_..._FILE in the environment") {
    const auto config = Config::Load("", {{"TICKETD_DATABASE_MODULE_PASSWORD_FILE", password_file}});
    CHECK(config.String("database.module_password") == "  pa ss");
    CHECK(config.Source("database.module_password") == "file:" + password_file);
  }
  SUBCASE("env value beats the file's _file, which is then not read") {
    const auto path = dir.Write("ticketd.toml", "[database]\nurl_file = \"" + dir.Path("absent") + "\"\n");
    const auto config = Config::Load(path, {{"TICKETD_DATABASE_URL", "postgresql://env@h/db"}});
    CHECK(config.String("database.url") == "postgresql://env@h/db");
    CHECK(config.Source("database.url") == "env");
  }
  SUBCASE("env _FILE beats the file's value") {
    const auto path = dir.Write("ticketd.toml", "[database]\nurl = \"postgresql://file@h/db\"\n");
    const auto config = Config::Load(path, {{"TICKETD_DATABASE_URL_FILE", url_file}});
    CHECK(config.String("database.url") == "postgresql://owner:s3cret@db.internal:5432/ticketd");
    CHECK(config.Source("database.url") == "file:" + url_file);
  }
  SUBCASE("unreadable secret file names the key") {
    const auto path = dir.Write("ticketd.toml", "[database]\nurl_file = \"" + dir.Path("absent") + "\"\n");
    const auto error = LoadError(path, {});
    CHECK(error.key() == "database.url_file");
    CHECK(Contains(error.what(), dir.Path("absent")));
    CHECK(LoadError("", {{"TICKETD_DATABASE_URL_FILE", dir.Path("absent")}}).key() ==
          "TICKETD_DATABASE_URL_FILE");
  }
  SUBCASE("_file must be a path string") {
    const auto path = dir.Write("ticketd.toml", "[database]\nurl_file = 3\n");
    CHECK(LoadError(path, {}).key() == "database.url_file");
  }
}

TEST_CASE("config: value and _file at the same level conflict") {
  TempDir dir;
  const auto url_file = dir.Write("url", "postgresql://x@h/db\n");
  const auto path =
      dir.Write("ticketd.toml", "[database]\nurl = \"postgresql://y@h/db\"\nurl_file = \"" + url_file + "\"\n");
  auto error = LoadError(path, {});
  CHECK(error.key() == "database.url");
  CHECK(Contains(error.what(), "url_file"));

  error = LoadError("", {{"TICKETD_DATABASE_URL", "postgresql://y@h/db"}, {"TICKETD_DATABASE_URL_FILE", url_file}});
  CHECK(error.key() == "TICKETD_DATABASE_URL");
  CHECK(Contains(error.what(), "TICKETD_DATABASE_URL_FILE"));
}

TEST_CASE("config: bool env parsing") {
  for (const std::string text : {"true", "TRUE", "1", "yes", "Yes", "on", "ON"}) {
    CAPTURE(text);
    CHECK(Config::Load("", {{"TICKETD_LOG_ACCESS_LOG", text}}).Bool("log.access_log"));
  }
  for (const std::string text : {"false", "False", "0", "no", "NO", "off", "Off"}) {
    CAPTURE(text);
    CHECK_FALSE(Config::Load("", {{"TICKETD_LOG_ACCESS_LOG", text}}).Bool("log.access_log"));
  }
  for (const std::string text : {"", "maybe", "2", "t", " true"}) {
    CAPTURE(text);
    const auto error = LoadError("", {{"TICKETD_LOG_ACCESS_LOG", text}});
    CHECK(error.key() == "TICKETD_LOG_ACCESS_LOG");
    CHECK(Contains(error.what(), "boolean"));
  }
}

TEST_CASE("config: list env parsing") {
  auto list = [](const std::string& text) {
    return Config::Load("", {{"TICKETD_EDGE_TRUSTED_PROXIES", text}}).List("edge.trusted_proxies");
  };
  using List = std::vector<std::string>;
  CHECK(list("10.0.0.0/8") == List{"10.0.0.0/8"});
  CHECK(list(" 10.0.0.0/8 , 192.168.0.0/16 ") == List{"10.0.0.0/8", "192.168.0.0/16"});
  CHECK(list("a,,b,") == List{"a", "b"});
  CHECK(list("").empty());
  CHECK(list("   ").empty());
  CHECK(Config::Load("", {{"TICKETD_EDGE_TRUSTED_PROXIES", ""}}).Source("edge.trusted_proxies") == "env");
}

TEST_CASE("config: string env values are taken as is") {
  const auto config = Config::Load("", {{"TICKETD_KAFKA_BROKERS", " kafka:9092,other:9092 "}});
  CHECK(config.String("kafka.brokers") == " kafka:9092,other:9092 ");
}

TEST_CASE("config: Describe masks secrets") {
  TempDir dir;
  const auto password_file = dir.Write("password", "hunter2\n");
  const auto described =
      Config::Load("", {{"TICKETD_DATABASE_URL", "postgresql://owner:topsecret@h/db"},
                        {"TICKETD_DATABASE_MODULE_PASSWORD_FILE", password_file}})
          .Describe();
  CHECK_FALSE(Contains(described, "topsecret"));
  CHECK_FALSE(Contains(described, "hunter2"));
  CHECK(Contains(described, "database.url = ********  (env)\n"));
  CHECK(Contains(described, "database.module_password = ********  (file:" + password_file + ")\n"));
  CHECK(Contains(described, "server.port = 8080  (default)\n"));
  CHECK(Contains(described, "server.host = \"127.0.0.1\"  (default)\n"));
  CHECK(Contains(described, "edge.trusted_proxies = []  (default)\n"));

  const auto defaults = Config::Load("", {}).Describe();
  CHECK(Contains(defaults, "database.module_password = \"\"  (default)\n"));
  CHECK(Contains(defaults, "database.url = ********  (default)\n"));

  std::size_t lines = 0;
  for (char c : defaults) lines += c == '\n' ? 1 : 0;
  CHECK(lines == Schema().size());
}

TEST_CASE("config: wrong name or type in a getter is a logic_error") {
  const auto config = Config::Load("", {});
  CHECK_THROWS_AS((void)config.Int("server.prot"), std::logic_error);
  CHECK_THROWS_AS((void)config.String("server.port"), std::logic_error);
  CHECK_THROWS_AS((void)config.Int("server.host"), std::logic_error);
  CHECK_THROWS_AS((void)config.Bool("server.port"), std::logic_error);
  CHECK_THROWS_AS((void)config.Double("server.port"), std::logic_error);
  CHECK_THROWS_AS((void)config.List("server.host"), std::logic_error);
  CHECK_THROWS_AS((void)config.Source("nope.nope"), std::logic_error);
  CHECK_THROWS_AS((void)config.String("port"), std::logic_error);
}

TEST_CASE("config: ProcessEnv reads the process environment") {
  REQUIRE(::setenv("TICKETD_CONFIG_TEST_PROBE", "a=b", 1) == 0);
  const auto env = Config::ProcessEnv();
  ::unsetenv("TICKETD_CONFIG_TEST_PROBE");
  const auto found = env.find("TICKETD_CONFIG_TEST_PROBE");
  REQUIRE(found != env.end());
  CHECK(found->second == "a=b");
}

}  // namespace ticketd::config
