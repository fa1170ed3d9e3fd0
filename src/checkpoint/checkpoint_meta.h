// meta.json: what makes a checkpoint directory self-describing and verifiable. It records the
// format version, the step, the model signature and every other file with its byte size and
// CRC-32C, so a truncated or corrupted file is detected before anything is loaded. It is written
// last inside the temporary directory; a directory without a valid one is never resumed from.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ibllm::checkpoint {

constexpr int kFormatVersion = 1;

// File names inside a checkpoint directory.
inline constexpr const char* kMetaFile = "meta.json";
inline constexpr const char* kModelFile = "model.safetensors";
inline constexpr const char* kOptimizerFile = "optimizer.safetensors";
inline constexpr const char* kStateFile = "state.json";
inline constexpr const char* kConfigFile = "config.yaml";

struct FileRecord {
  std::string name;
  uint64_t bytes = 0;
  uint32_t crc32c = 0;
};

struct CheckpointMeta {
  int format_version = kFormatVersion;
  int64_t step = 0;
  bool has_optimizer = false;
  std::vector<FileRecord> files;
  nlohmann::json signature = nlohmann::json::object();
  std::string created_utc;    // ISO 8601, informational
  std::string ibllm_version;  // "<version> (<git sha>)", informational
};

nlohmann::json meta_to_json(const CheckpointMeta& m);
// Throws CheckpointError (naming `origin`) for malformed JSON fields; does not check the version.
CheckpointMeta meta_from_json(const nlohmann::json& j, const std::string& origin);

// Result of looking at one checkpoint directory.
struct Inspection {
  enum class Status { kComplete, kIncomplete, kTooNew };
  Status status = Status::kIncomplete;
  std::string reason;  // empty when complete
  std::optional<CheckpointMeta> meta;
  bool complete() const { return status == Status::kComplete; }
};

// kSizes: meta.json readable, version supported, step matches the directory name, every required
// and listed file present with its recorded size. kFull additionally recomputes every CRC-32C.
enum class Verify { kSizes, kFull };
Inspection inspect_checkpoint(const std::filesystem::path& dir, Verify level);

// Throws CheckpointError with the reason unless the directory is a complete checkpoint.
CheckpointMeta read_verified_meta(const std::filesystem::path& dir, Verify level = Verify::kFull);

// "step_<N>" <-> N; parse returns nullopt for any other name (including "step_<N>.tmp").
std::string step_dir_name(int64_t step);
std::optional<int64_t> parse_step_dir_name(const std::string& name);

}  // namespace ibllm::checkpoint
