// load_state_dict: rewrite checkpoint keys, compare with the module's parameters and buffers,
// report everything, then copy under NoGradGuard. Mirrors torch.nn.Module.load_state_dict's
// strict semantics, except that shape errors are reported together with the key lists.
#include "src/io/state_dict.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <set>
#include <sstream>

#include "src/core/error.h"

namespace ibllm::io {
namespace {

std::string describe(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes() << " " << c10::toString(t.scalar_type());
  return os.str();
}

bool any_glob(const std::vector<std::string>& patterns, const std::string& key) {
  for (const auto& p : patterns) {
    if (glob_match(p, key)) return true;
  }
  return false;
}

void list(std::ostringstream& os, const char* title, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  os << "\n  " << title << " (" << keys.size() << "):";
  for (const auto& k : keys) os << "\n    " << k;
}

}  // namespace

bool glob_match(const std::string& pattern, const std::string& text) {
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string rewrite_key(const std::string& key, const StateDictOptions& o) {
  std::string k = key;
  if (!o.strip_prefix.empty() && k.rfind(o.strip_prefix, 0) == 0) k = k.substr(o.strip_prefix.size());
  for (const auto& r : o.renames) {
    if (k.rfind(r.from, 0) == 0) {
      k = r.to + k.substr(r.from.size());
      break;
    }
  }
  return o.add_prefix + k;
}

bool LoadReport::ok(bool strict) const {
  if (!shape_mismatch.empty()) return false;
  return !strict || (missing.empty() && unexpected.empty());
}

std::string LoadReport::summary() const {
  std::ostringstream os;
  os << loaded.size() << " loaded, " << missing.size() << " missing, " << unexpected.size()
     << " unexpected, " << shape_mismatch.size() << " shape mismatches, " << dtype_mismatch.size()
     << " dtype differences, " << ignored.size() << " ignored";
  list(os, "missing (in the model, not in the checkpoint)", missing);
  list(os, "unexpected (in the checkpoint, not in the model)", unexpected);
  if (!shape_mismatch.empty()) {
    os << "\n  shape mismatches (" << shape_mismatch.size() << "):";
    for (const auto& m : shape_mismatch) os << "\n    " << m.key << ": model " << m.expected << ", checkpoint " << m.got;
  }
  if (!dtype_mismatch.empty()) {
    os << "\n  dtype differences (" << dtype_mismatch.size() << "):";
    for (const auto& m : dtype_mismatch) os << "\n    " << m.key << ": model " << m.expected << ", checkpoint " << m.got;
  }
  return os.str();
}

std::map<std::string, at::Tensor> module_state(torch::nn::Module& module) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.emplace(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.emplace(b.key(), b.value());
  return out;
}

LoadReport check_state_dict(torch::nn::Module& module,
                            const std::map<std::string, at::Tensor>& tensors,
                            const StateDictOptions& options) {
  LoadReport r;
  const auto target = module_state(module);
  std::map<std::string, std::string> source_of;  // rewritten key -> original checkpoint key
  std::set<std::string> seen;
  for (const auto& [orig, value] : tensors) {
    const std::string key = rewrite_key(orig, options);
    if (auto it = source_of.find(key); it != source_of.end()) {
      throw CheckpointError("checkpoint keys '" + it->second + "' and '" + orig +
                                "' both map to '" + key + "' after the prefix rules",
                            "adjust strip_prefix / renames so keys stay distinct");
    }
    source_of[key] = orig;
    auto t = target.find(key);
    if (t == target.end()) {
      if (any_glob(options.ignore_unexpected, key)) {
        r.ignored.push_back(key);
      } else {
        r.unexpected.push_back(key);
      }
      continue;
    }
    seen.insert(key);
    const at::Tensor& want = t->second;
    if (!value.defined() || value.sizes() != want.sizes()) {
      r.shape_mismatch.push_back({key, describe(want), value.defined() ? describe(value) : "undefined"});
      continue;
    }
    if (value.scalar_type() != want.scalar_type()) {
      r.dtype_mismatch.push_back({key, describe(want), describe(value)});
      if (!options.convert_dtype) continue;
    }
    r.loaded.push_back(key);
  }
  for (const auto& [key, t] : target) {
    if (seen.count(key)) continue;
    if (any_glob(options.ignore_missing, key)) {
      r.ignored.push_back(key);
    } else {
      r.missing.push_back(key);
    }
  }
  return r;
}

LoadReport load_state_dict(torch::nn::Module& module,
                           const std::map<std::string, at::Tensor>& tensors,
                           const StateDictOptions& options) {
  LoadReport r = check_state_dict(module, tensors, options);
  const bool dtype_error = !options.convert_dtype && !r.dtype_mismatch.empty();
  if (!r.ok(options.strict) || dtype_error) {
    throw CheckpointError(std::string(options.strict ? "strict" : "non-strict") +
                              " state-dict load of " + module.name() + " failed; nothing was loaded: " +
                              r.summary(),
                          r.shape_mismatch.empty() && !dtype_error
                              ? "use prefix rules (strip_prefix/renames/add_prefix) or ignore globs if the "
                                "names differ only by a prefix, or load non-strict"
                              : "the checkpoint was made for a different model configuration");
  }
  std::map<std::string, std::string> rewritten;
  for (const auto& [orig, v] : tensors) rewritten[rewrite_key(orig, options)] = orig;
  auto target = module_state(module);
  at::NoGradGuard no_grad;
  for (const auto& key : r.loaded) {
    at::Tensor& dst = target.at(key);
    dst.copy_(tensors.at(rewritten.at(key)));  // casts dtype and crosses devices in one step
  }
  return r;
}

std::map<std::string, at::Tensor> to_device(const std::map<std::string, at::Tensor>& tensors,
                                            at::Device device,
                                            c10::optional<at::ScalarType> dtype) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [k, v] : tensors) {
    out.emplace(k, v.to(device, dtype.value_or(v.scalar_type()), /*non_blocking=*/false, /*copy=*/false));
  }
  return out;
}

}  // namespace ibllm::io
