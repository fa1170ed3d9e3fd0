// ProgressBar (see progress_bar.h).
#include "src/core/progress_bar.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

namespace ibllm::core {

ProgressBar::ProgressBar(int64_t total, std::FILE* stream, int force_tty)
    : total_(std::max<int64_t>(total, 1)),
      stream_(stream),
      enabled_(force_tty >= 0 ? force_tty == 1 : ::isatty(::fileno(stream)) == 1),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() { finish(); }

std::string ProgressBar::render(int64_t done, const std::string& suffix) const {
  constexpr int kWidth = 30;
  double frac = std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0);
  int filled = static_cast<int>(frac * kWidth);
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double eta = done > 0 ? elapsed * (static_cast<double>(total_ - done) / done) : 0.0;
  std::string bar(filled, '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  return fmt::format("[{}] {}/{} {:3.0f}% eta {:.0f}s {}", bar, done, total_, frac * 100, eta, suffix);
}

void ProgressBar::update(int64_t done, const std::string& suffix) {
  if (!enabled_ || finished_) return;
  std::fprintf(stream_, "\r%s\x1b[K", render(done, suffix).c_str());
  std::fflush(stream_);
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  std::fputc('\n', stream_);
  std::fflush(stream_);
}

}  // namespace ibllm::core
