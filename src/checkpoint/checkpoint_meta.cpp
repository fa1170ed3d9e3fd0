// See checkpoint_meta.h. CRCs are stored as 8-digit hex strings so the JSON reads the same way
// `crc32c` tools print them.
#include "src/checkpoint/checkpoint_meta.h"

#include <cstdio>
#include <system_error>

#include "src/io/durable_file.h"
#include "src/core/error.h"

namespace ibllm::checkpoint {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string crc_hex(uint32_t crc) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

[[noreturn]] void bad_meta(const std::string& origin, const std::string& what) {
  throw CheckpointError(origin + ": " + what,
                        "the checkpoint's meta.json is damaged; resume from another checkpoint");
}

const json& need(const json& j, const char* key, const std::string& origin) {
  if (!j.is_object() || !j.contains(key))
    bad_meta(origin, std::string("missing field '") + key + "'");
  return j.at(key);
}

}  // namespace

std::string step_dir_name(int64_t step) { return "step_" + std::to_string(step); }

std::optional<int64_t> parse_step_dir_name(const std::string& name) {
  const std::string prefix = "step_";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  if (name.size() - prefix.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

json meta_to_json(const CheckpointMeta& m) {
  json files = json::array();
  for (const auto& f : m.files)
    files.push_back({{"name", f.name}, {"bytes", f.bytes}, {"crc32c", crc_hex(f.crc32c)}});
  return {{"format", "ibllm-checkpoint"},
          {"format_version", m.format_version},
          {"step", m.step},
          {"has_optimizer", m.has_optimizer},
          {"created_utc", m.created_utc},
          {"ibllm_version", m.ibllm_version},
          {"files", files},
          {"signature", m.signature}};
}

CheckpointMeta meta_from_json(const json& j, const std::string& origin) {
  CheckpointMeta m;
  try {
    m.format_version = need(j, "format_version", origin).get<int>();
    m.step = need(j, "step", origin).get<int64_t>();
    m.has_optimizer = need(j, "has_optimizer", origin).get<bool>();
    m.signature = need(j, "signature", origin);
    if (j.contains("created_utc")) m.created_utc = j.at("created_utc").get<std::string>();
    if (j.contains("ibllm_version")) m.ibllm_version = j.at("ibllm_version").get<std::string>();
    for (const auto& f : need(j, "files", origin)) {
      FileRecord r;
      r.name = need(f, "name", origin).get<std::string>();
      r.bytes = need(f, "bytes", origin).get<uint64_t>();
      const std::string crc = need(f, "crc32c", origin).get<std::string>();
      if (crc.size() != 8 || crc.find_first_not_of("0123456789abcdef") != std::string::npos)
        bad_meta(origin, "file '" + r.name + "' has a malformed crc32c '" + crc + "'");
      r.crc32c = static_cast<uint32_t>(std::stoul(crc, nullptr, 16));
      if (r.name.empty() || r.name.find('/') != std::string::npos || r.name == kMetaFile)
        bad_meta(origin, "invalid file name '" + r.name + "' in the file list");
      m.files.push_back(r);
    }
  } catch (const json::exception& e) {
    bad_meta(origin, std::string("wrong field type: ") + e.what());
  }
  return m;
}

Inspection inspect_checkpoint(const fs::path& dir, Verify level) {
  Inspection out;
  const fs::path meta_path = dir / kMetaFile;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    out.reason = "not a directory";
    return out;
  }
  if (!fs::is_regular_file(meta_path, ec)) {
    out.reason = "no meta.json (the save did not finish)";
    return out;
  }
  CheckpointMeta m;
  try {
    const json j = json::parse(io::read_file(meta_path));
    const int version = need(j, "format_version", meta_path.string()).get<int>();
    if (version > kFormatVersion) {
      out.status = Inspection::Status::kTooNew;
      out.reason = "format_version " + std::to_string(version) +
                   " is newer than this ibllm supports (" + std::to_string(kFormatVersion) + ")";
      return out;
    }
    if (version < 1) {
      out.reason = "unknown format_version " + std::to_string(version);
      return out;
    }
    m = meta_from_json(j, meta_path.string());
  } catch (const json::exception& e) {
    out.reason = std::string("meta.json is not valid JSON (") + e.what() + ")";
    return out;
  } catch (const Error& e) {
    out.reason = e.what();
    return out;
  }
  const auto named_step = parse_step_dir_name(dir.filename().string());
  if (named_step && *named_step != m.step) {
    out.reason = "meta.json says step " + std::to_string(m.step) + " but the directory is " +
                 dir.filename().string();
    return out;
  }
  std::vector<const char*> required = {kModelFile, kStateFile, kConfigFile};
  if (m.has_optimizer) required.push_back(kOptimizerFile);
  for (const char* req : required) {
    bool listed = false;
    for (const auto& f : m.files) listed = listed || f.name == req;
    if (!listed) {
      out.reason = std::string("meta.json does not list ") + req;
      return out;
    }
  }
  for (const auto& f : m.files) {
    const fs::path p = dir / f.name;
    if (!fs::is_regular_file(p, ec)) {
      out.reason = f.name + " is missing";
      return out;
    }
    const uint64_t size = fs::file_size(p, ec);
    if (ec || size != f.bytes) {
      out.reason = f.name + " has " + std::to_string(ec ? 0 : size) + " bytes, meta.json says " +
                   std::to_string(f.bytes) + " (truncated or overwritten)";
      return out;
    }
  }
  if (level == Verify::kFull) {
    for (const auto& f : m.files) {
      io::FileDigest d;
      try {
        d = io::digest_file(dir / f.name);
      } catch (const Error& e) {
        out.reason = e.what();
        return out;
      }
      if (d.bytes != f.bytes || d.crc32c != f.crc32c) {
        out.reason = f.name + " is corrupt: crc32c " + crc_hex(d.crc32c) + ", meta.json says " +
                     crc_hex(f.crc32c);
        return out;
      }
    }
  }
  out.status = Inspection::Status::kComplete;
  out.meta = std::move(m);
  return out;
}

CheckpointMeta read_verified_meta(const fs::path& dir, Verify level) {
  Inspection in = inspect_checkpoint(dir, level);
  if (in.status == Inspection::Status::kTooNew) {
    throw CheckpointError(dir.string() + ": " + in.reason,
                          "use a newer ibllm to read it, or resume from an older checkpoint");
  }
  if (!in.complete()) {
    throw CheckpointError(
        dir.string() + ": not a complete checkpoint: " + in.reason,
        "resume from another checkpoint (checkpoint.resume: auto picks the newest "
        "complete one)");
  }
  return *in.meta;
}

}  // namespace ibllm::checkpoint
