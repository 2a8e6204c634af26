#pragma once
// Runs the real ticketd binary for e2e tests: config from a temp TOML file
// plus environment, port 0, stdout captured line by line (the JSON log), the
// bound port read from the "listening" line.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ticketd::test {

class TicketdProcess {
 public:
  /// Starts `ticketd <args…>` with the given TICKETD_* environment (others
  /// from this process are not passed on except PATH and sanitizer options).
  TicketdProcess(std::vector<std::string> args, std::map<std::string, std::string> env);
  ~TicketdProcess();
  TicketdProcess(const TicketdProcess&) = delete;
  TicketdProcess& operator=(const TicketdProcess&) = delete;

  /// Waits for the "listening" log line; returns the port (0 on timeout or exit).
  std::uint16_t WaitListening(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// Waits for a log line containing `needle`.
  bool WaitForLine(const std::string& needle, std::chrono::milliseconds timeout);
  void Signal(int sig);
  /// Waits for exit; returns the exit code, or -1 on timeout, 128+sig when killed.
  int Wait(std::chrono::milliseconds timeout);
  [[nodiscard]] std::vector<std::string> Lines();
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  void ReadLoop(int fd);
  pid_t pid_ = -1;
  int exit_code_ = -1;
  bool exited_ = false;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

/// The environment e2e tests start ticketd with: port 0, the given database,
/// and development-only keys for auth.
std::map<std::string, std::string> E2eEnv(const std::string& db_url);

/// Runs a command to completion; returns {exit code, stdout+stderr}.
std::pair<int, std::string> RunCommand(const std::vector<std::string>& args,
                                       const std::map<std::string, std::string>& env);

}  // namespace ticketd::test
