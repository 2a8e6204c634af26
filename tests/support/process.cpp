#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <stdexcept>

extern char** environ;

namespace ticketd::test {

namespace {

std::vector<std::string> BuildEnv(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  for (const char* keep : {"PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS", "HOME", "TMPDIR"}) {
    if (const char* v = std::getenv(keep)) out.push_back(std::string(keep) + "=" + v);
  }
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

pid_t Spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env, int out_fd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto env_strings = BuildEnv(env);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("posix_spawn failed for " + args[0]);
  return pid;
}

}  // namespace

TicketdProcess::TicketdProcess(std::vector<std::string> args, std::map<std::string, std::string> env) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> argv;
  argv.reserve(args.size() + 1);
  argv.emplace_back(TICKETD_BINARY);
  for (auto& a : args) argv.push_back(std::move(a));
  pid_ = Spawn(argv, env, fds[1]);
  close(fds[1]);
  reader_ = std::thread([this, fd = fds[0]] { ReadLoop(fd); });
}

TicketdProcess::~TicketdProcess() {
  if (!exited_) {
    kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(10));
  }
  if (reader_.joinable()) reader_.join();
}

void TicketdProcess::ReadLoop(int fd) {
  std::string pending;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::lock_guard lock(mu_);
      lines_.push_back(pending.substr(0, nl));
      pending.erase(0, nl + 1);
      cv_.notify_all();
    }
  }
  close(fd);
  std::lock_guard lock(mu_);
  if (!pending.empty()) lines_.push_back(pending);
  eof_ = true;
  cv_.notify_all();
}

bool TicketdProcess::WaitForLine(const std::string& needle, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::size_t seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (; seen < lines_.size(); ++seen) {
      if (lines_[seen].find(needle) != std::string::npos) return true;
    }
    if (eof_) return false;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return false;
  }
}

std::uint16_t TicketdProcess::WaitListening(std::chrono::milliseconds timeout) {
  if (!WaitForLine("\"msg\":\"listening\"", timeout)) return 0;
  std::lock_guard lock(mu_);
  for (const auto& line : lines_) {
    if (line.find("\"msg\":\"listening\"") == std::string::npos) continue;
    const auto v = boost::json::parse(line);
    return static_cast<std::uint16_t>(v.at("port").to_number<int>());
  }
  return 0;
}

void TicketdProcess::Signal(int sig) { kill(pid_, sig); }

int TicketdProcess::Wait(std::chrono::milliseconds timeout) {
  if (exited_) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

std::vector<std::string> TicketdProcess::Lines() {
  std::lock_guard lock(mu_);
  return lines_;
}

std::map<std::string, std::string> E2eEnv(const std::string& db_url) {
  return {{"TICKETD_SERVER_PORT", "0"},
          {"TICKETD_SERVER_IO_THREADS", "2"},
          {"TICKETD_DATABASE_URL", db_url},
          {"TICKETD_LOG_LEVEL", "info"},
          {"TICKETD_AUTH_JWT_SECRET", "e2e-test-jwt-secret-0123456789abcdef0123"},
          {"TICKETD_AUTH_DATA_KEY", "ZTJlLXRlc3QtZGF0YS1rZXktMzItYnl0ZXMtbG9uZyE="},
          {"TICKETD_AUTH_INDEX_KEY", "ZTJlLXRlc3QtYmxpbmQtaW5kZXgta2V5LTMyLWJ5dGVzLWxvbmch"},
          {"TICKETD_AUTH_REVOCATION_POLL_MS", "200"},
          // Tests of every module hammer endpoints from 127.0.0.1: generous
          // edge limits keep the limiter in the path without refusing them
          // (tests/e2e/edge_e2e_test.cpp sets tight ones).
          {"TICKETD_EDGE_RATE_LIMIT_AUTH_PER_IP", "1000000"},
          {"TICKETD_EDGE_RATE_LIMIT_READ_PER_IP", "1000000"},
          {"TICKETD_EDGE_RATE_LIMIT_QUEUE_STATUS_PER_USER", "1000000"},
          {"TICKETD_EDGE_RATE_LIMIT_BOOKING_PER_USER", "1000000"},
          {"TICKETD_EDGE_RATE_LIMIT_BOOKING_PER_IP", "1000000"},
          {"TICKETD_EDGE_RATE_LIMIT_DEFAULT_PER_USER", "1000000"},
          {"TICKETD_EDGE_RATE_LIMIT_DEFAULT_PER_IP", "1000000"}};
}

std::pair<int, std::string> RunCommand(const std::vector<std::string>& args,
                                       const std::map<std::string, std::string>& env) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = Spawn(args, env, fds[1]);
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

}  // namespace ticketd::test
