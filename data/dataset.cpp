// Dataset loading: per-kind row conversion into Records, path resolution, feature-cache checks,
// and the weighted index (integer part = whole repeats, fraction = a seeded subset of rows).
#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "data/json_records.h"
#include "data/prompt_template.h"
#include "data/tsv_reader.h"
#include "src/core/error.h"
#include "src/core/modality.h"

namespace ibllm::data {


namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct BadRow {
  std::string reason;
};

// Row context: where paths resolve and how texts are limited.
struct RowContext {
  std::string root;
  int64_t max_text_bytes;
  int64_t* clipped;
};

std::string resolve(const RowContext& c, const std::string& p) {
  if (p.rfind("http://", 0) == 0 || p.rfind("https://", 0) == 0)
    throw BadRow{"remote URL \"" + p + "\": download the images and list local paths"};
  fs::path path(p);
  if (path.is_absolute() || c.root.empty()) return path.lexically_normal().string();
  return (fs::path(c.root) / path).lexically_normal().string();
}

// Clips to max bytes at a UTF-8 character boundary.
std::string clip(const RowContext& c, std::string s) {
  if (static_cast<int64_t>(s.size()) <= c.max_text_bytes) return s;
  size_t n = static_cast<size_t>(c.max_text_bytes);
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  ++*c.clipped;
  return s;
}

// Caption cell: a plain caption or a JSON list of captions (one chosen per epoch).
std::vector<std::string> caption_list(const RowContext& c, const std::string& cell) {
  std::vector<std::string> out;
  if (!cell.empty() && cell.front() == '[') {
    json j = json::parse(cell, nullptr, /*allow_exceptions=*/false);
    if (j.is_array()) {
      for (const auto& e : j) {
        if (!e.is_string()) throw BadRow{"caption list holds a non-string element"};
        if (!e.get<std::string>().empty()) out.push_back(clip(c, e.get<std::string>()));
      }
      return out;
    }
  }
  if (!cell.empty()) out.push_back(clip(c, cell));
  return out;
}

std::string get_string(const json& o, const std::string& key, bool required) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) {
    if (required) throw BadRow{"missing key \"" + key + "\""};
    return "";
  }
  if (!it->is_string()) throw BadRow{"\"" + key + "\" must be a string"};
  return it->get<std::string>();
}

void json_modalities(const RowContext& c, const json& o, Record& r) {
  for (const auto& k : core::row_modality_names()) {
    std::string v = get_string(o, k, false);
    if (!v.empty()) r.modalities[k] = resolve(c, v);
  }
}

void json_image(const RowContext& c, const json& o, Record& r, const char* key = "image") {
  r.image_key = get_string(o, key, false);
  if (!r.image_key.empty()) r.image = resolve(c, r.image_key);
}

Record llava_record(const RowContext& c, const json& o, LlavaTurns turns) {
  if (!o.is_object()) throw BadRow{"entry is not a JSON object"};
  Record r;
  json_image(c, o, r);
  json_modalities(c, o, r);
  auto conv = o.find("conversations");
  if (conv == o.end() || !conv->is_array()) throw BadRow{"missing \"conversations\" list"};
  if (conv->size() < 2) throw BadRow{"\"conversations\" needs at least one human/gpt pair"};
  const size_t pairs = turns == LlavaTurns::kFirst ? 1 : conv->size() / 2;
  for (size_t k = 0; k < pairs; ++k) {
    const json& q = (*conv)[2 * k];
    const json& a = (*conv)[2 * k + 1];
    if (!q.is_object() || !a.is_object()) throw BadRow{"conversation turns must be objects"};
    if (get_string(q, "from", true) != "human" || get_string(a, "from", true) != "gpt")
      throw BadRow{"conversation turn " + std::to_string(k) + " is not a human/gpt pair"};
    // Reference: the question is used verbatim (it keeps the literal <image> placeholder).
    Turn t{clip(c, get_string(q, "value", true)), "", {}};
    std::string ans = clip(c, get_string(a, "value", true));
    if (!ans.empty()) t.answers.push_back(std::move(ans));
    r.turns.push_back(std::move(t));
  }
  return r;
}

Record alpaca_record(const RowContext& c, const json& o) {
  if (!o.is_object()) throw BadRow{"entry is not a JSON object"};
  Record r;
  json_image(c, o, r);
  json_modalities(c, o, r);
  Turn t{clip(c, get_string(o, "instruction", true)), clip(c, get_string(o, "input", false)), {}};
  std::string ans = clip(c, get_string(o, "output", true));
  if (!ans.empty()) t.answers.push_back(std::move(ans));
  r.turns.push_back(std::move(t));
  return r;
}

Record caption_json_record(const RowContext& c, const json& o) {
  Record r;
  json_image(c, o, r, o.contains("url") ? "url" : "image");
  if (r.image.empty()) throw BadRow{"caption row without \"image\"/\"url\""};
  json_modalities(c, o, r);
  Turn t{kCaptionInstruction, "", {}};
  const json& cap = o.at("caption");
  if (cap.is_string()) {
    t.answers = caption_list(c, cap.get<std::string>());
  } else if (cap.is_array()) {
    t.answers = caption_list(c, cap.dump());
  } else {
    throw BadRow{"\"caption\" must be a string or a list of strings"};
  }
  r.turns.push_back(std::move(t));
  return r;
}

Record jsonl_record(const RowContext& c, const json& o, LlavaTurns turns) {
  if (!o.is_object()) throw BadRow{"line is not a JSON object"};
  if (o.contains("conversations")) return llava_record(c, o, turns);
  if (o.contains("instruction")) return alpaca_record(c, o);
  if (o.contains("caption")) return caption_json_record(c, o);
  throw BadRow{
      "cannot tell the row type: expected \"conversations\" (LLaVA), \"instruction\" "
      "(Alpaca) or \"caption\" (image-caption)"};
}

bool has_answer(const Record& r) {
  for (const auto& t : r.turns)
    if (t.answers.empty()) return false;
  return !r.turns.empty();
}

}  // namespace

Dataset::Dataset(const DataConfig& config, uint64_t seed) : config_(config) {
  if (config_.sources.empty())
    throw DataError("no data sources configured", "list files under data.sources");
  caches_.resize(config_.sources.size());
  std::vector<std::pair<int64_t, int64_t>> ranges;  // [begin, end) in records_ per source
  for (size_t s = 0; s < config_.sources.size(); ++s) {
    const int64_t begin = static_cast<int64_t>(records_.size());
    load_source(static_cast<int32_t>(s));
    ranges.emplace_back(begin, static_cast<int64_t>(records_.size()));
  }
  int with_features = 0;
  for (const auto& c : caches_) with_features += c ? 1 : 0;
  if (with_features != 0 && with_features != static_cast<int>(caches_.size()))
    throw DataError("some data sources use a feature cache and some decode images",
                    "give every source a features: file, or none");
  uses_features_ = with_features > 0;
  if (uses_features_)
    for (const auto& c : caches_)
      if (c->dim() != caches_[0]->dim())
        throw DataError("feature caches " + caches_[0]->path() + " and " + c->path() +
                        " have different embedding sizes");

  for (size_t s = 0; s < ranges.size(); ++s) {
    const auto [b, e] = ranges[s];
    const int64_t n = e - b;
    if (n == 0) continue;
    const double w = config_.sources[s].weight;
    const int64_t count = static_cast<int64_t>(std::llround(w * static_cast<double>(n)));
    if (count == 0)
      spdlog::warn("data: source {} ({} rows) has weight {}, which rounds to no samples per epoch",
                   config_.sources[s].path, n, w);
    for (int64_t k = 0; k < count / n; ++k)
      for (int64_t i = b; i < e; ++i) index_.push_back(i);
    const int64_t rest = count % n;
    if (rest > 0) {  // a fixed, seeded subset of the source (the same every epoch)
      std::vector<int64_t> rows(n);
      for (int64_t i = 0; i < n; ++i) rows[i] = b + i;
      std::mt19937_64 rng(seed * 1000003ULL + s);
      std::shuffle(rows.begin(), rows.end(), rng);
      rows.resize(rest);
      std::sort(rows.begin(), rows.end());
      index_.insert(index_.end(), rows.begin(), rows.end());
    }
  }
  stats_.rows = static_cast<int64_t>(records_.size());
  if (index_.empty()) {
    std::string detail;
    for (const auto& p : stats_.first_problems) detail += "\n  " + p;
    throw DataError("the dataset is empty after reading " + std::to_string(config_.sources.size()) +
                        " source(s) (" + std::to_string(stats_.malformed) + " malformed, " +
                        std::to_string(stats_.empty_answers) + " with empty answers)" + detail,
                    "check the files listed under data.sources");
  }
  if (stats_.malformed + stats_.empty_answers > 0)
    spdlog::warn("data: skipped {} malformed row(s) and {} row(s) with an empty answer",
                 stats_.malformed, stats_.empty_answers);
  if (stats_.clipped_texts > 0)
    spdlog::warn("data: {} text(s) longer than max_text_bytes={} were clipped",
                 stats_.clipped_texts, config_.max_text_bytes);
}

const Record& Dataset::record(int64_t i) const {
  if (i < 0 || i >= size())
    throw DataError("dataset index " + std::to_string(i) + " outside [0, " +
                    std::to_string(size()) + ")");
  return records_[index_[i]];
}

std::string Dataset::where(const Record& r) const {
  return config_.sources.at(r.source).path + ":" + std::to_string(r.line);
}

int64_t Dataset::feature_dim() const { return uses_features_ ? caches_[0]->dim() : 0; }

void Dataset::add_problem(const std::string& path, int64_t line, const std::string& why) {
  if (stats_.first_problems.size() < 10)
    stats_.first_problems.push_back(path + ":" + std::to_string(line) + ": " + why);
}

void Dataset::load_source(int32_t s) {
  const SourceConfig& src = config_.sources[s];
  if (!fs::is_regular_file(src.path))
    throw DataError(
        "data file " + src.path + " does not exist or is not a file",
        "check data.sources[" + std::to_string(s) + "].path (relative to the working directory)");
  RowContext ctx{
      src.image_root.empty() ? fs::path(src.path).parent_path().string() : src.image_root,
      config_.max_text_bytes, &stats_.clipped_texts};
  if (!src.features.empty()) caches_[s] = std::make_shared<FeatureCache>(src.features);
  const FeatureCache* cache = caches_[s].get();
  const bool strict = config_.on_malformed == MalformedPolicy::kError;

  auto malformed = [&](int64_t line, const std::string& why) {
    if (strict)
      throw DataError(src.path + ":" + std::to_string(line) + ": " + why,
                      "fix the row, or set data.on_malformed: skip to skip and count such rows");
    ++stats_.malformed;
    add_problem(src.path, line, why);
  };
  auto accept = [&](Record r, int64_t line) {
    r.source = s;
    r.line = line;
    if (!has_answer(r)) {
      ++stats_.empty_answers;
      add_problem(src.path, line, "empty answer/caption");
      return;
    }
    if (cache) {
      const bool needs_zero = r.image_key.empty() && config_.text_only == TextOnlyMode::kReference;
      if (!r.image_key.empty() && !cache->contains(r.image_key))
        return malformed(
            line, "image \"" + r.image_key + "\" is not in the feature cache " + cache->path());
      if (needs_zero && !cache->contains(""))
        throw DataError("feature cache " + cache->path() +
                            " has no zero-image row (key \"\") for "
                            "the text-only row at " +
                            src.path + ":" + std::to_string(line),
                        "add it when extracting features, or set data.text_only: no_visual");
    }
    records_.push_back(std::move(r));
  };

  if (src.kind == SourceKind::kCaptionTsv) {
    TsvTable t = read_tsv(src.path);
    int img = t.column("url");
    if (img < 0) img = t.column("image");
    const int cap = t.column("caption");
    if (img < 0 || cap < 0) {
      std::string cols;
      for (const auto& h : t.header) cols += (cols.empty() ? "" : ", ") + h;
      throw DataError(src.path +
                          ":1: the header must name a \"url\" (or \"image\") column and a "
                          "\"caption\" column; found: " +
                          cols,
                      "the first row of a caption TSV is the tab-separated header");
    }
    for (const auto& row : t.rows) {
      if (!row.error.empty()) {
        malformed(row.line, row.error);
        continue;
      }
      if (row.fields.size() != t.header.size()) {
        malformed(row.line, std::to_string(row.fields.size()) + " fields but the header has " +
                                std::to_string(t.header.size()));
        continue;
      }
      try {
        Record r;
        r.image_key = row.fields[img];
        if (r.image_key.empty()) throw BadRow{"empty image path"};
        r.image = resolve(ctx, r.image_key);
        for (const auto& k : core::row_modality_names()) {
          const int col = t.column(k);
          if (col >= 0 && !row.fields[col].empty()) r.modalities[k] = resolve(ctx, row.fields[col]);
        }
        r.turns.push_back(Turn{kCaptionInstruction, "", caption_list(ctx, row.fields[cap])});
        accept(std::move(r), row.line);
      } catch (const BadRow& b) {
        malformed(row.line, b.reason);
      }
    }
    return;
  }

  JsonEntries entries =
      src.kind == SourceKind::kJsonl ? read_json_lines(src.path) : read_json_array(src.path);
  for (const auto& e : entries.entries) {
    if (!e.error.empty()) {
      malformed(e.line, e.error);
      continue;
    }
    try {
      Record r = src.kind == SourceKind::kLlava ? llava_record(ctx, e.value, config_.llava_turns)
                 : src.kind == SourceKind::kAlpaca
                     ? alpaca_record(ctx, e.value)
                     : jsonl_record(ctx, e.value, config_.llava_turns);
      accept(std::move(r), e.line);
    } catch (const BadRow& b) {
      malformed(e.line, b.reason);
    } catch (const json::exception& x) {
      malformed(e.line, x.what());
    }
  }
}

}  // namespace ibllm::data
