// See resume.h.
#include "src/checkpoint/resume.h"

#include <spdlog/spdlog.h>

#include "src/checkpoint/checkpoint_meta.h"
#include "src/checkpoint/checkpoint_store.h"
#include "src/core/error.h"

namespace ibllm::checkpoint {

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> step_dirs(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory(ec) && parse_step_dir_name(e.path().filename().string()))
      out.push_back(e.path());
  return out;
}

}  // namespace

std::optional<fs::path> resolve_resume(const CheckpointConfig& cfg, const fs::path& run_dir,
                                       std::vector<std::string>* report) {
  const fs::path cps = run_dir / "checkpoints";
  if (cfg.resume.mode == ResumeFrom::Mode::kNever) {
    const auto existing = step_dirs(cps);
    if (!existing.empty()) {
      throw CheckpointError(
          cps.string() + " already holds " + std::to_string(existing.size()) +
              " checkpoint(s) (e.g. " + existing.front().filename().string() +
              ") and checkpoint.resume is never",
          "use a new run.dir, delete the old checkpoints, or set checkpoint.resume: auto");
    }
    return std::nullopt;
  }
  if (cfg.resume.mode == ResumeFrom::Mode::kAuto) {
    std::vector<std::string> found;
    auto latest = find_latest_checkpoint(cps, &found);
    for (const auto& line : found) spdlog::warn("checkpoint: skipped {}", line);
    if (report != nullptr) report->insert(report->end(), found.begin(), found.end());
    if (latest) {
      spdlog::info("checkpoint: resuming from {}", latest->string());
      return latest;
    }
    if (!step_dirs(cps).empty()) {
      std::string msg = cps.string() +
                        " has checkpoints but none is complete; refusing to start "
                        "from scratch:";
      for (const auto& line : found) msg += "\n  " + line;
      throw CheckpointError(msg,
                            "resume from an explicit path, or move the broken checkpoints away to "
                            "start over");
    }
    return std::nullopt;
  }
  const fs::path dir = resolve_checkpoint_dir(cfg.resume.path, report);
  spdlog::info("checkpoint: resuming from {}", dir.string());
  return dir;
}

}  // namespace ibllm::checkpoint
