// A one-line progress bar for interactive runs. It draws only when the stream is a terminal
// (isatty); in logs, CI and pipes it prints nothing, so log files hold the per-step lines only.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace ibllm::core {

class ProgressBar {
 public:
  // `force_tty` is for tests; by default the decision is isatty(fileno(stream)).
  ProgressBar(int64_t total, std::FILE* stream = stdout, int force_tty = -1);
  ~ProgressBar();
  void update(int64_t done, const std::string& suffix = "");
  void finish();
  bool enabled() const { return enabled_; }
  // The text update() would draw (without the leading carriage return); used by tests.
  std::string render(int64_t done, const std::string& suffix) const;

 private:
  int64_t total_;
  std::FILE* stream_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ibllm::core
