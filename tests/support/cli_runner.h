// Runs the real `ibllm` binary from the repository root (as users do; config paths are relative to
// the working directory) and captures its exit code and combined stdout + stderr.
#pragma once

#include <string>

namespace ibllm::test {

struct CliResult {
  int code = -1;  // exit status; -1 if the process did not exit normally
  std::string output;
};

// `args` is appended to the command line as is (quote paths yourself).
CliResult run_cli(const std::string& args);

// The last non-empty line of a command's output (where the commands print their JSON summary).
std::string last_line(const std::string& output);

// Starts the binary in the background (stdout + stderr to `log_path`) and returns its pid; for
// tests that signal or kill a run mid-way.
int start_cli(const std::string& args, const std::string& log_path);
// Any shell command run from the repository root (stdout + stderr captured); IBLLM_BIN is set to
// the built binary, so `launch/local.sh 2 train …` runs it.
CliResult run_shell(const std::string& command);
// The same in the background (output to `log_path`); returns the pid of the shell (exec'd).
int start_shell(const std::string& command, const std::string& log_path);
// Waits for a started process: its exit code, or 128 + signal when a signal ended it.
int wait_cli(int pid);

}  // namespace ibllm::test
