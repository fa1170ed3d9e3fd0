// See checkpoint_store.h. Replacing an existing step_<N>/ uses renameat2(RENAME_EXCHANGE), so the
// directory name always points at one complete checkpoint; filesystems without it fall back to
// moving the old one to step_<N>.replaced.tmp first (a crash then leaves the previous checkpoint
// as the newest complete one, never a mixed directory). Deletions also go through a *.tmp name.
#include "src/checkpoint/checkpoint_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "src/io/durable_file.h"
#include "src/core/build_info.h"
#include "src/core/error.h"
#include "src/io/safetensors.h"

namespace ibllm::checkpoint {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kLatestFile = "latest";
constexpr const char* kLockFile = ".lock";

bool is_tmp_name(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Exclusive advisory lock on <checkpoints>/.lock for the duration of a save (released by the
// kernel if the process dies).
class SaveLock {
 public:
  explicit SaveLock(const fs::path& dir) {
    const fs::path p = dir / kLockFile;
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError(p.string() + ": cannot create: " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd_);
      if (err == EWOULDBLOCK) {
        throw CheckpointError(dir.string() + ": another process is saving a checkpoint here",
                              "only one rank (rank 0) may save; two runs must not share run.dir");
      }
      throw IoError(p.string() + ": cannot lock: " + std::strerror(err));
    }
  }
  ~SaveLock() { ::close(fd_); }
  SaveLock(const SaveLock&) = delete;
  SaveLock& operator=(const SaveLock&) = delete;

 private:
  int fd_ = -1;
};

void note(std::vector<std::string>* report, const std::string& line) {
  spdlog::warn("checkpoint: {}", line);
  if (report != nullptr) report->push_back(line);
}

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    throw IoError("cannot rename " + from.string() + " to " + to.string() + ": " +
                  std::strerror(errno));
  }
}

// Atomically puts `fresh` at `target` when `target` already exists; the old contents end up at
// `fresh` (or at `target`.replaced.tmp in the fallback) and are removed.
void replace_dir(const fs::path& fresh, const fs::path& target) {
#if defined(__linux__) && defined(RENAME_EXCHANGE)
  if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fs::remove_all(fresh);
    return;
  }
  if (errno != EINVAL && errno != ENOSYS) {
    throw IoError("cannot exchange " + fresh.string() + " with " + target.string() + ": " +
                  std::strerror(errno));
  }
#endif
  fs::path old = target;
  old += ".replaced.tmp";
  rename_or_throw(target, old);
  rename_or_throw(fresh, target);
  fs::remove_all(old);
}

std::string read_latest_name(const fs::path& dir) {
  std::error_code ec;
  const fs::path p = dir / kLatestFile;
  if (!fs::is_regular_file(p, ec)) return "";
  std::string s = io::read_file(p);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<std::pair<int64_t, fs::path>> list_step_dirs(const fs::path& dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory(ec)) continue;
    if (auto step = parse_step_dir_name(e.path().filename().string()))
      out.emplace_back(*step, e.path());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

std::optional<fs::path> find_latest_impl(const fs::path& dir,
                                         std::vector<std::string>* incomplete) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::nullopt;
  auto add = [&](const fs::path& p, const std::string& why) {
    if (incomplete != nullptr) incomplete->push_back(p.string() + ": " + why);
  };
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(dir))
    if (is_tmp_name(e.path().filename().string())) stale.push_back(e.path());
  std::sort(stale.begin(), stale.end());
  for (const auto& p : stale) add(p, "leftover of an interrupted save (the next save removes it)");

  std::optional<fs::path> chosen;
  for (const auto& [step, path] : list_step_dirs(dir)) {
    Inspection in = inspect_checkpoint(path, Verify::kSizes);
    if (!chosen && in.status == Inspection::Status::kTooNew) {
      throw CheckpointError(path.string() + ": " + in.reason,
                            "use a newer ibllm, or resume from an older checkpoint by its path");
    }
    if (!chosen && in.complete()) in = inspect_checkpoint(path, Verify::kFull);
    if (!in.complete()) {
      add(path, in.reason);
      continue;
    }
    if (!chosen) chosen = path;
  }
  const std::string latest = read_latest_name(dir);
  if (!latest.empty() && !fs::is_directory(dir / latest, ec))
    add(dir / kLatestFile, "points to " + latest + ", which does not exist");
  return chosen;
}

// A checkpoint directory itself, or the newest complete one under a checkpoints/ or run
// directory. `verified` tells whether CRCs were already checked on the way.
fs::path resolve_impl(const fs::path& path, bool* verified, std::vector<std::string>* report) {
  *verified = false;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw CheckpointError(path.string() + ": no such checkpoint, checkpoints or run directory",
                          "check checkpoint.resume (auto, never, or an existing path)");
  }
  const std::string name = path.filename().string();
  if (fs::is_regular_file(path / kMetaFile, ec) || parse_step_dir_name(name) || is_tmp_name(name))
    return path;
  fs::path cps;
  if (fs::is_directory(path / "checkpoints", ec)) {
    cps = path / "checkpoints";
  } else if (fs::is_directory(path, ec) &&
             (!list_step_dirs(path).empty() || fs::exists(path / kLatestFile, ec))) {
    cps = path;
  } else {
    throw CheckpointError(path.string() +
                              ": not a checkpoint directory (no meta.json) and not a "
                              "checkpoints/ or run directory",
                          "point checkpoint.resume at <run_dir>, <run_dir>/checkpoints or "
                          "<run_dir>/checkpoints/step_<N>");
  }
  std::vector<std::string> skipped;
  auto found = find_latest_impl(cps, &skipped);
  for (const auto& r : skipped) spdlog::warn("checkpoint: skipped {}", r);
  if (report != nullptr) report->insert(report->end(), skipped.begin(), skipped.end());
  if (!found) {
    std::string msg = cps.string() + ": no complete checkpoint";
    for (const auto& r : skipped) msg += "\n  " + r;
    throw CheckpointError(msg, "resume from an explicit checkpoint path, or start a new run");
  }
  *verified = true;
  return *found;
}

std::map<std::string, at::Tensor> read_tensors(const fs::path& file) {
  io::SafetensorsFile f(file.string());
  std::map<std::string, at::Tensor> out;
  for (const auto& name : f.names()) out.emplace(name, f.tensor_copy(name));
  return out;
}

// Bytes the files of a checkpoint take (tensor data plus the texts; headers are small).
uint64_t bytes_needed(const CheckpointContents& c, bool save_optimizer) {
  uint64_t n = c.state.dump(1).size() + c.resolved_config.size();
  for (const auto& [name, t] : c.model) n += t.numel() * t.element_size();
  if (save_optimizer)
    for (const auto& [name, t] : c.optimizer) n += t.numel() * t.element_size();
  return n;
}

// Fills `tmp` with every file, meta.json last, and fsyncs the directory.
void write_contents(const fs::path& tmp, int64_t step, const CheckpointContents& c,
                    bool save_optimizer,
                    const std::function<void(const std::string&)>& stage_done) {
  CheckpointMeta meta;
  meta.step = step;
  meta.signature = c.signature;
  meta.created_utc = utc_now();
  meta.ibllm_version = std::string(core::version()) + " (" + core::git_sha() + ")";
  auto record = [&](const char* file) {
    const io::FileDigest d = io::digest_file(tmp / file);
    meta.files.push_back({file, d.bytes, d.crc32c});
    stage_done(file);
  };
  const std::map<std::string, std::string> st_meta = {{"format", "pt"},
                                                      {"ibllm_step", std::to_string(step)}};
  io::write_safetensors((tmp / kModelFile).string(), c.model, st_meta);
  record(kModelFile);
  if (save_optimizer) {
    io::write_safetensors((tmp / kOptimizerFile).string(), c.optimizer, st_meta);
    meta.has_optimizer = true;
    record(kOptimizerFile);
  }
  std::string state_text;
  try {
    state_text = c.state.dump(1) + "\n";
  } catch (const json::exception& e) {
    throw CheckpointError(std::string("trainer state cannot be written as JSON: ") + e.what());
  }
  io::write_file_durably(tmp / kStateFile, state_text);
  record(kStateFile);
  io::write_file_durably(tmp / kConfigFile, c.resolved_config);
  record(kConfigFile);
  io::write_file_durably(tmp / kMetaFile, meta_to_json(meta).dump(1) + "\n");
  stage_done(kMetaFile);
  io::fsync_path(tmp);
}

}  // namespace

CheckpointStore::CheckpointStore(fs::path run_dir, CheckpointConfig cfg)
    : run_dir_(std::move(run_dir)), dir_(run_dir_ / "checkpoints"), cfg_(std::move(cfg)) {}

bool CheckpointStore::due(int64_t step) const {
  return cfg_.every_steps > 0 && step > 0 && step % cfg_.every_steps == 0;
}

std::optional<fs::path> CheckpointStore::find_latest(std::vector<std::string>* incomplete) const {
  return find_latest_impl(dir_, incomplete);
}

fs::path CheckpointStore::save(int64_t step, const CheckpointContents& c,
                               std::vector<std::string>* report) {
  if (step < 0)
    throw CheckpointError("cannot save a checkpoint for negative step " + std::to_string(step));
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    fs::create_directories(dir_);
    io::fsync_path(dir_.parent_path());
  }
  SaveLock lock(dir_);

  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(dir_))
    if (is_tmp_name(e.path().filename().string())) stale.push_back(e.path());
  std::sort(stale.begin(), stale.end());
  for (const auto& p : stale) {
    note(report, p.string() + ": leftover of an interrupted save, removed");
    fs::remove_all(p);
  }

  const std::string name = step_dir_name(step);
  const fs::path tmp = dir_ / (name + ".tmp");
  const fs::path final_dir = dir_ / name;
  // A file that cannot be written (disk full, quota, size limit, permissions): nothing of the
  // attempt stays behind, and the error says what the checkpoint needs.
  auto write_failed = [&](const std::string& what) {
    std::error_code ignored;  // the error being propagated matters more than a failed cleanup
    fs::remove_all(tmp, ignored);
    const auto space = fs::space(dir_, ec);
    const auto previous = find_latest_impl(dir_, nullptr);
    return CheckpointWriteError(
        fmt::format("{}: the step {} checkpoint could not be written: {} (it needs about {} bytes; "
                    "{} bytes are available there); its partial files were removed, {}",
                    tmp.string(), step, what, bytes_needed(c, cfg_.save_optimizer),
                    ec ? std::string("?") : std::to_string(space.available),
                    previous ? previous->string() + " and `latest` are untouched"
                             : std::string("no earlier checkpoint exists")),
        "free disk space or raise the quota of " + dir_.string() +
            "; checkpoint.on_write_error: continue keeps training and retries at the next interval");
  };
  try {
    fs::create_directory(tmp);
    stage_done("begin");
    write_contents(tmp, step, c, cfg_.save_optimizer,
                   [this](const std::string& st) { stage_done(st); });
  } catch (const IoError& e) {
    if (e.os_error() == 0) {  // the contents, not the disk
      std::error_code ignored;
      fs::remove_all(tmp, ignored);
      throw;
    }
    throw write_failed(e.what());
  } catch (const fs::filesystem_error& e) {
    throw write_failed(e.what());
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw;
  }

  if (fs::exists(final_dir, ec)) {
    replace_dir(tmp, final_dir);
  } else {
    rename_or_throw(tmp, final_dir);
  }
  io::fsync_path(dir_);
  stage_done("renamed");

  io::replace_file_atomically(dir_ / kLatestFile, name + "\n");
  stage_done("latest");

  for (const auto& [s, p] : list_step_dirs(dir_)) {
    if (s > step) {
      note(report, p.string() + " has a higher step than the checkpoint just saved (" + name +
                       "); resume: auto will pick it, not " + name);
    }
  }
  prune(step);
  return final_dir;
}

void CheckpointStore::prune(int64_t keep_step) {
  if (cfg_.keep_last <= 0) return;
  const std::string latest = read_latest_name(dir_);
  int64_t kept_complete = 0;
  bool removed = false;
  for (const auto& [step, path] : list_step_dirs(dir_)) {
    const bool complete = inspect_checkpoint(path, Verify::kSizes).complete();
    const bool protect = step == keep_step || path.filename().string() == latest;
    if (protect || kept_complete < cfg_.keep_last) {
      if (complete) ++kept_complete;
      continue;
    }
    fs::path doomed = path;
    doomed += ".deleting.tmp";
    rename_or_throw(path, doomed);
    stage_done("pruning");
    fs::remove_all(doomed);
    removed = true;
  }
  if (removed) io::fsync_path(dir_);
}

std::optional<fs::path> find_latest_checkpoint(const fs::path& checkpoints_dir,
                                               std::vector<std::string>* incomplete) {
  return find_latest_impl(checkpoints_dir, incomplete);
}

fs::path resolve_checkpoint_dir(const fs::path& path, std::vector<std::string>* report) {
  bool verified = false;
  const fs::path dir = resolve_impl(path, &verified, report);
  if (!verified) read_verified_meta(dir, Verify::kFull);
  return dir;
}

CheckpointContents load_checkpoint(const fs::path& path, bool load_optimizer, Verify verify) {
  bool verified = false;
  const fs::path dir = resolve_impl(path, &verified, nullptr);
  const CheckpointMeta meta = read_verified_meta(dir, verified ? Verify::kSizes : verify);
  CheckpointContents c;
  c.dir = dir;
  c.step = meta.step;
  c.has_optimizer = meta.has_optimizer;
  c.signature = meta.signature;
  c.model = read_tensors(dir / kModelFile);
  if (load_optimizer && meta.has_optimizer) c.optimizer = read_tensors(dir / kOptimizerFile);
  try {
    c.state = json::parse(io::read_file(dir / kStateFile));
  } catch (const json::exception& e) {
    throw CheckpointError((dir / kStateFile).string() + ": not valid JSON: " + e.what());
  }
  c.resolved_config = io::read_file(dir / kConfigFile);
  return c;
}

}  // namespace ibllm::checkpoint
