// The config loader (src/core/config.cpp): any TOML file either loads and
// describes itself or is refused with config::ConfigError naming the key;
// nothing else escapes.
#include <unistd.h>

#include <fstream>

#include "fuzz_util.hpp"
#include "ticketd/core/config.hpp"

using namespace ticketd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/ticketd-config-fuzz-" + std::to_string(getpid()) + ".toml";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const auto c = config::Config::Load(path, {{"TICKETD_AUTH_JWT_SECRET", std::string(40, 'k')}});
    (void)c.Describe();
  } catch (const config::ConfigError&) {
  }
  return 0;
}
