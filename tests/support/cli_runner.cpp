// run_cli / run_shell (see cli_runner.h): popen from the repository root, stderr folded into
// stdout; start_* fork + exec a shell in the background for tests that signal a run.
#include "tests/support/cli_runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>

#include "tests/support/paths.h"

namespace ibllm::test {

CliResult run_shell(const std::string& command) {
  std::string cmd = "cd '" + source_dir().string() + "' && export IBLLM_BIN='" +
                    cli_path().string() + "' && { " + command + "\n} 2>&1";
  CliResult r;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string last_line(const std::string& output) {
  const auto end = output.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  const auto nl = output.rfind('\n', end);
  const size_t start = nl == std::string::npos ? 0 : nl + 1;
  return output.substr(start, end - start + 1);
}

CliResult run_cli(const std::string& args) {
  return run_shell("'" + cli_path().string() + "' " + args);
}

int start_shell(const std::string& command, const std::string& log_path) {
  const std::string cmd = "cd '" + source_dir().string() + "' && export IBLLM_BIN='" +
                          cli_path().string() + "' && exec " + command + " > '" + log_path +
                          "' 2>&1";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return static_cast<int>(pid);
}

int start_cli(const std::string& args, const std::string& log_path) {
  return start_shell("'" + cli_path().string() + "' " + args, log_path);
}

int wait_cli(int pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) < 0) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace ibllm::test
